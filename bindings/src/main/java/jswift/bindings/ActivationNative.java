package jswift.bindings;

import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.Platform;
import org.bytedeco.javacpp.annotation.Properties;

/** Activation functions: SwiGLU and the pointwise activations ({@code jsw_swiglu_*}, {@code jsw_activation_*} in jswift.h). */
@Properties(inherit = CoreNative.class, value = @Platform(library = "jnijswift"))
public final class ActivationNative {
  static {
    CoreNative.load();
    Loader.load();
  }

  private ActivationNative() {}

  public static native int jsw_swiglu_fwd(
      int device, int dtype, @Cast("const void*") long gate, @Cast("const void*") long up, long n,
      @Cast("void*") long out);

  public static native int jsw_swiglu_bwd(
      int device, int dtype, @Cast("const void*") long dout, @Cast("const void*") long gate,
      @Cast("const void*") long up, long n, @Cast("void*") long dgate, @Cast("void*") long dup);

  public static native int jsw_activation_fwd(
      int device, int dtype, int kind, @Cast("const void*") long x, long n, @Cast("void*") long y);

  public static native int jsw_activation_bwd(
      int device, int dtype, int kind, @Cast("const void*") long x, @Cast("const void*") long dy, long n,
      @Cast("void*") long dx);
}
