package jswift.bindings;

import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.Platform;
import org.bytedeco.javacpp.annotation.Properties;

/**
 * AWQ in AutoAWQ's "GEMM" layout: dequantization of one packed linear and the fused dequant-GEMV for decode-shaped
 * inputs ({@code jsw_awq_*} in jswift.h).
 */
@Properties(inherit = CoreNative.class, value = @Platform(library = "jnijswift"))
public final class AwqNative {
  static {
    CoreNative.load();
    Loader.load();
  }

  private AwqNative() {}

  public static native int jsw_awq_dequantize(
      int device, int dtype, @Cast("const int32_t*") long qweight, @Cast("const int32_t*") long qzeros,
      @Cast("const uint16_t*") long scales, long in, long out, long groupSize, @Cast("void*") long w);

  public static native int jsw_awq_gemv(
      int device, int dtype, @Cast("const void*") long x, long rows, long in, @Cast("const int32_t*") long qweight,
      @Cast("const int32_t*") long qzeros, @Cast("const uint16_t*") long scales, long out, long groupSize,
      @Cast("const void*") long bias, @Cast("void*") long y);
}
