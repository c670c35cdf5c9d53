package jswift.bindings;

import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.Platform;
import org.bytedeco.javacpp.annotation.Properties;

/** NF4 quantization in the bitsandbytes layout, with double quantization ({@code jsw_nf4_*} in jswift.h). */
@Properties(inherit = CoreNative.class, value = @Platform(library = "jnijswift"))
public final class Nf4Native {
  static {
    CoreNative.load();
    Loader.load();
  }

  private Nf4Native() {}

  public static native int jsw_nf4_codebook(@Cast("float*") float[] code16);

  public static native int jsw_dynamic_map_signed(@Cast("float*") float[] code256);

  public static native int jsw_nf4_quantize(
      int device, int dtype, @Cast("const void*") long x, long n, long blocksize, @Cast("uint8_t*") long packed,
      @Cast("float*") long absmax);

  public static native int jsw_nf4_dequantize(
      int device, int dtype, @Cast("const uint8_t*") long packed, @Cast("const float*") long absmax, long n,
      long blocksize, @Cast("void*") long out);

  public static native int jsw_quantize_absmax_8bit(
      int device, @Cast("const float*") long absmax, long n, @Cast("uint8_t*") long q,
      @Cast("float*") long nestedAbsmax, @Cast("float*") long offset);

  public static native int jsw_nf4_dequantize_dq(
      int device, int dtype, @Cast("const uint8_t*") long packed, @Cast("const uint8_t*") long absmaxQ,
      @Cast("const float*") long nestedAbsmax, @Cast("const float*") long code256, float offset, long n,
      long blocksize, @Cast("void*") long out);

  // ---- NF4 GEMV (decode-shaped inputs) ----
  public static native int jsw_nf4_gemv(
      int device, int dtype, @Cast("const void*") long x, long rows, long in, @Cast("const uint8_t*") long packed,
      @Cast("const float*") long absmax, @Cast("const uint8_t*") long absmaxQ, @Cast("const float*") long nestedAbsmax,
      @Cast("const float*") long code256, float offset, long outFeatures, long blocksize,
      @Cast("const void*") long bias, @Cast("void*") long y);
}
