package jswift.bindings;

import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.Platform;
import org.bytedeco.javacpp.annotation.Properties;

/** Activation functions: SwiGLU forward/backward ({@code jsw_swiglu_*} in jswift.h). */
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
}
