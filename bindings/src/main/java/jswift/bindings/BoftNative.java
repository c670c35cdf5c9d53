package jswift.bindings;

import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.Platform;
import org.bytedeco.javacpp.annotation.Properties;

/**
 * BOFT's kernels: the Cayley transform of small blocks and its backward, and one butterfly factor over rows with
 * its gradient ({@code jsw_boft_cayley}, {@code jsw_butterfly_rotate} etc. in jswift.h).
 */
@Properties(inherit = CoreNative.class, value = @Platform(library = "jnijswift"))
public final class BoftNative {
  static {
    CoreNative.load();
    Loader.load();
  }

  private BoftNative() {}

  public static native int jsw_boft_cayley(
      int device, @Cast("const float*") long a, long blocks, long h, @Cast("const int32_t*") long identity,
      @Cast("float*") long q);

  public static native int jsw_boft_cayley_backward(
      int device, @Cast("const float*") long q, @Cast("const float*") long dq, long blocks, long h,
      @Cast("const int32_t*") long identity, @Cast("float*") long da);

  public static native int jsw_butterfly_rotate(
      int device, int dtype, @Cast("const void*") long x, long rows, long n, @Cast("const int32_t*") long permInv,
      @Cast("const float*") long q, long h, int transpose, @Cast("void*") long y);

  public static native int jsw_butterfly_rotate_grad(
      int device, int dtype, @Cast("const void*") long x, @Cast("const void*") long dy, long rows, long n,
      @Cast("const int32_t*") long permInv, long h, @Cast("float*") long dq);
}
