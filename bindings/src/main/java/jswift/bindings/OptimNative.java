package jswift.bindings;

import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.Platform;
import org.bytedeco.javacpp.annotation.Properties;

/**
 * Gradient norm, clipping coefficient and fused AdamW ({@code jsw_sumsq}, {@code jsw_clip_coef},
 * {@code jsw_adamw_step} in jswift.h).
 */
@Properties(inherit = CoreNative.class, value = @Platform(library = "jnijswift"))
public final class OptimNative {
  static {
    CoreNative.load();
    Loader.load();
  }

  private OptimNative() {}

  public static native int jsw_sumsq(
      int device, int dtype, @Cast("const void*") long x, long n, @Cast("float*") long acc);

  public static native int jsw_clip_coef(
      int device, @Cast("const float*") long sumsq, float maxNorm, @Cast("float*") long norm,
      @Cast("float*") long coef);

  public static native int jsw_adamw_step(
      int device, @Cast("float*") long param, @Cast("const float*") long grad, @Cast("float*") long m,
      @Cast("float*") long v, long n, float lr, float beta1, float beta2, float eps, float weightDecay, long step,
      @Cast("const float*") long gradScale, int copyDtype, @Cast("void*") long paramCopy);
}
