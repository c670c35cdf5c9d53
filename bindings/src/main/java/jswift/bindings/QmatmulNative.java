package jswift.bindings;

import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.Platform;
import org.bytedeco.javacpp.annotation.Properties;

/**
 * Products with packed low-bit weights that never materialise the dense weight: the dequant-to-tile GEMM for
 * NF4, GPTQ and AWQ ({@code jsw_nf4_matmul}, {@code jsw_gptq_matmul}, {@code jsw_awq_matmul}) and the GPTQ dequant-GEMV for decode
 * ({@code jsw_gptq_gemv}); the contract is the "quantized matmul family" block of jswift.h.
 */
@Properties(inherit = CoreNative.class, value = @Platform(library = "jnijswift"))
public final class QmatmulNative {
  static {
    CoreNative.load();
    Loader.load();
  }

  private QmatmulNative() {}

  public static native int jsw_nf4_matmul(
      int device, int dtype, @Cast("const void*") long x, long rows, int trans, @Cast("const uint8_t*") long packed,
      @Cast("const float*") long absmax, @Cast("const uint8_t*") long absmaxQ, @Cast("const float*") long nestedAbsmax,
      @Cast("const float*") long code256, float offset, long outFeatures, long inFeatures, long blocksize, float beta,
      @Cast("void*") long y);

  public static native int jsw_gptq_matmul(
      int device, int dtype, @Cast("const void*") long x, long rows, int trans, @Cast("const int32_t*") long qweight,
      @Cast("const int32_t*") long qzeros, @Cast("const uint16_t*") long scales, @Cast("const int32_t*") long gIdx,
      long outFeatures, long inFeatures, int bits, long groups, float beta, @Cast("void*") long y);

  public static native int jsw_awq_matmul(
      int device, int dtype, @Cast("const void*") long x, long rows, int trans, @Cast("const int32_t*") long qweight,
      @Cast("const int32_t*") long qzeros, @Cast("const uint16_t*") long scales, long outFeatures, long inFeatures,
      long groupSize, float beta, @Cast("void*") long y);

  public static native int jsw_gptq_gemv(
      int device, int dtype, @Cast("const void*") long x, long rows, @Cast("const int32_t*") long qweight,
      @Cast("const int32_t*") long qzeros, @Cast("const uint16_t*") long scales, @Cast("const int32_t*") long gIdx,
      long outFeatures, long inFeatures, int bits, long groups, @Cast("const void*") long bias, @Cast("void*") long y);
}
