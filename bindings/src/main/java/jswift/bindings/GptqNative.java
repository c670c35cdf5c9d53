package jswift.bindings;

import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.Platform;
import org.bytedeco.javacpp.annotation.Properties;

/**
 * GPTQ in the AutoGPTQ / GPTQModel "gptq" v1 layout: dequantization, Hessian accumulation and the quantizer
 * ({@code jsw_gptq_*} in jswift.h).
 */
@Properties(inherit = CoreNative.class, value = @Platform(library = "jnijswift"))
public final class GptqNative {
  static {
    CoreNative.load();
    Loader.load();
  }

  private GptqNative() {}

  public static native int jsw_gptq_dequantize(
      int device, int dtype, @Cast("const int32_t*") long qweight, @Cast("const int32_t*") long qzeros,
      @Cast("const uint16_t*") long scales, @Cast("const int32_t*") long gIdx, long in, long out, int bits,
      long groups, @Cast("void*") long w);

  public static native int jsw_gptq_hessian_add(
      int device, @Cast("const float*") long x, long rows, long in, @Cast("float*") long h, long seen);

  public static native int jsw_gptq_quantize(
      int device, @Cast("float*") long w, @Cast("float*") long h, long out, long in, int bits, long groupSize,
      int sym, int descAct, float percdamp, long block, @Cast("int32_t*") long codes, @Cast("float*") long scales,
      @Cast("int32_t*") long zeros, @Cast("int32_t*") long gIdx, @Cast("double*") double[] loss);
}
