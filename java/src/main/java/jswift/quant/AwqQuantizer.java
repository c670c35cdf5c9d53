package jswift.quant;

import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Tensor;

/**
 * AutoAWQ's asymmetric ("zero_point") 4-bit group quantizer ({@code pseudo_quantize_tensor}) on a host [out, in]
 * fp32 weight, groups of {@code groupSize} consecutive inputs per output row: scale = max(max - min, 1e-5) / 15,
 * zero = clamp(-round(min / scale), 0, 15), q = clamp(round(w / scale) + zero, 0, 15), value = (q - zero) *
 * scale, rounding half to even as torch.round. One deviation keeps the checkpoint exact: the scale is rounded to
 * the f16 the checkpoint stores before the zero and the codes are computed from it (AutoAWQ computes both in f16
 * arithmetic), so {@code values} are exactly what jsw_awq_dequantize gives for the packed result.
 */
public final class AwqQuantizer {
  private AwqQuantizer() {}

  /** codes [out, in], scales [groups, out] (f16 values), zeros [groups, out], values [out, in]. */
  public record Result(int[] codes, float[] scales, int[] zeros, float[] values) {}

  public static Result quantize(float[] w, long out, long in, long groupSize) {
    if (w.length != out * in)
      throw new IllegalArgumentException("AWQ quantizer: w has " + w.length + " values, not out * in = " + out * in);
    long gs = AwqLayout.groupSize((int) groupSize, in), groups = in / gs;
    float[] raw = new float[(int) (groups * out)];
    for (int c = 0; c < out; c++)
      for (int g = 0; g < groups; g++) {
        float max = Float.NEGATIVE_INFINITY, min = Float.POSITIVE_INFINITY;
        for (long k = g * gs; k < (g + 1) * gs; k++) {
          float v = w[(int) (c * in + k)];
          if (Float.isNaN(v))
            throw new IllegalArgumentException("AWQ quantizer: weight [" + c + ", " + k + "] is NaN");
          max = Math.max(max, v);
          min = Math.min(min, v);
        }
        raw[(int) (g * out + c)] = Math.max(max - min, 1e-5f) / 15f;
      }
    float[] scales = roundF16(raw);
    int[] codes = new int[w.length], zeros = new int[raw.length];
    float[] values = new float[w.length];
    for (int c = 0; c < out; c++)
      for (int g = 0; g < groups; g++) {
        float s = scales[(int) (g * out + c)], min = Float.POSITIVE_INFINITY;
        for (long k = g * gs; k < (g + 1) * gs; k++) min = Math.min(min, w[(int) (c * in + k)]);
        int z = clamp(-Math.rint(min / s));
        zeros[(int) (g * out + c)] = z;
        for (long k = g * gs; k < (g + 1) * gs; k++) {
          int i = (int) (c * in + k);
          int q = clamp(Math.rint(w[i] / s) + z);
          codes[i] = q;
          values[i] = s * (float) (q - z);
        }
      }
    return new Result(codes, scales, zeros, values);
  }

  /** Only the dequantized values (the pseudo-quantization of AWQ's scale and clip searches). */
  public static float[] pseudoQuantize(float[] w, long out, long in, long groupSize) {
    return quantize(w, out, in, groupSize).values();
  }

  /** In double, so a huge w / scale (a flat group far from 0) saturates instead of overflowing an int. */
  private static int clamp(double q) {
    return (int) Math.max(0, Math.min(15, q));
  }

  /** fp32 values rounded to the nearest f16 (even on ties), as fp32. */
  static float[] roundF16(float[] v) {
    try (Tensor t = Tensor.fromFloats(v, DType.F16, Device.CPU, v.length)) {
      return t.toFloatArray();
    }
  }
}
