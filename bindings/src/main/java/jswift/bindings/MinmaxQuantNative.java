package jswift.bindings;

import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.Platform;
import org.bytedeco.javacpp.annotation.Properties;

/**
 * Q-GaLore's asymmetric min-max group quantization, INT4 or INT8, with optional counter-based stochastic rounding
 * ({@code jsw_minmax_*} in jswift.h).
 */
@Properties(inherit = CoreNative.class, value = @Platform(library = "jnijswift"))
public final class MinmaxQuantNative {
  static {
    CoreNative.load();
    Loader.load();
  }

  private MinmaxQuantNative() {}

  public static native int jsw_minmax_quantize(
      int device, int dtype, @Cast("const void*") long x, long n, long groupSize, int bits, int stochastic,
      @Cast("uint64_t") long seed, @Cast("uint8_t*") long codes, @Cast("float*") long scales,
      @Cast("float*") long zeros);

  public static native int jsw_minmax_dequantize(
      int device, int dtype, @Cast("const uint8_t*") long codes, @Cast("const float*") long scales,
      @Cast("const float*") long zeros, long n, long groupSize, int bits, @Cast("void*") long out);
}
