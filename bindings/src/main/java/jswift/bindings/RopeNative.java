package jswift.bindings;

import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.Platform;
import org.bytedeco.javacpp.annotation.Properties;

/** RoPE frequencies and rotation ({@code jsw_rope_*} in jswift.h). */
@Properties(inherit = CoreNative.class, value = @Platform(library = "jnijswift"))
public final class RopeNative {
  static {
    CoreNative.load();
    Loader.load();
  }

  private RopeNative() {}

  /** Host-side: fills {@code invFreq} (head_dim / 2 values, a Java array). */
  public static native int jsw_rope_inv_freq(
      long headDim, float theta, int scalingType, float factor, float lowFreqFactor, float highFreqFactor,
      long originalMaxPosition, @Cast("float*") float[] invFreq);

  public static native int jsw_rope_fwd(
      int device, int dtype, @Cast("const void*") long x, @Cast("const int32_t*") long positions,
      @Cast("const float*") long invFreq, long tokens, long heads, long headDim, float attentionScaling,
      @Cast("void*") long y);

  public static native int jsw_rope_bwd(
      int device, int dtype, @Cast("const void*") long dy, @Cast("const int32_t*") long positions,
      @Cast("const float*") long invFreq, long tokens, long heads, long headDim, float attentionScaling,
      @Cast("void*") long dx);
}
