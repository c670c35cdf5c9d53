package jswift.bindings;

import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.Platform;
import org.bytedeco.javacpp.annotation.Properties;

/** RMSNorm forward/backward ({@code jsw_rmsnorm_*} in jswift.h). */
@Properties(inherit = CoreNative.class, value = @Platform(library = "jnijswift"))
public final class NormNative {
  static {
    CoreNative.load();
    Loader.load();
  }

  private NormNative() {}

  public static native int jsw_rmsnorm_fwd(
      int device, int dtype, @Cast("const void*") long x, @Cast("const void*") long weight, float eps, long rows,
      long dim, @Cast("void*") long y, @Cast("float*") long rstd);

  public static native int jsw_rmsnorm_bwd(
      int device, int dtype, @Cast("const void*") long dy, @Cast("const void*") long x,
      @Cast("const void*") long weight, @Cast("const float*") long rstd, long rows, long dim,
      @Cast("void*") long dx, @Cast("float*") long dweight);
}
