package jswift.bindings;

import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.Platform;
import org.bytedeco.javacpp.annotation.Properties;

/**
 * The DoRA helpers: row norms, diagonal scaling, product column sums, dropout ({@code jsw_row_norm} etc. in
 * jswift.h).
 */
@Properties(inherit = CoreNative.class, value = @Platform(library = "jnijswift"))
public final class DoraNative {
  static {
    CoreNative.load();
    Loader.load();
  }

  private DoraNative() {}

  public static native int jsw_row_norm(
      int device, int dtype, @Cast("const void*") long x, long rows, long cols, @Cast("float*") long norm,
      @Cast("float*") long invNorm);

  public static native int jsw_scale_rows_cols(
      int device, int dtype, @Cast("const void*") long x, long rows, long cols, @Cast("const float*") long rowScale,
      @Cast("const float*") long colScale, @Cast("void*") long y);

  public static native int jsw_sum_rows_mul(
      int device, int dtype, @Cast("const void*") long a, @Cast("const void*") long b, long rows, long cols,
      @Cast("float*") long dv);

  public static native int jsw_dropout(
      int device, int dtype, @Cast("const void*") long x, long n, float p, @Cast("uint64_t") long seed,
      @Cast("void*") long y);

  public static native int jsw_set_dropout_step(int device, long step);

  public static native int jsw_add_uniform_noise(
      int device, int dtype, @Cast("void*") long x, long n, float magnitude, @Cast("uint64_t") long seed);
}
