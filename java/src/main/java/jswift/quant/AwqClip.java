package jswift.quant;

import java.util.List;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Kernels;
import jswift.tensor.Tensor;

/**
 * AWQ's weight clipping search (AutoAWQ's {@code _compute_best_clip} / {@code apply_clip}), run after the scales
 * are folded: for every output row and quant group, the clip range [-m, m] with m = max|w| * (1 - i / 20),
 * i = 0 .. 9 (down to 0.55x), that minimises the mean over the sampled calibration tokens of the squared group
 * partial output error (x_g . (Q(clip(w_g)) - w_g))^2. i = 0 is no clip, so the clip never raises that error.
 * The group partial outputs of every row come from one batched GEMM per grid point: [groups, tokens, size] x
 * [groups, out, size]^T.
 */
final class AwqClip {
  static final int GRID = 20, STEPS = 10, SAMPLE_TOKENS = 512;

  private AwqClip() {}

  /** The calibration tokens the clip search uses, [n, in]: every step-th, step = max(1, tokens / 512), as AutoAWQ. */
  static float[] sample(List<Tensor> inputs, long in, int[] rows) {
    long tokens = 0;
    for (Tensor x : inputs) tokens += x.size(0);
    long step = Math.max(1, tokens / SAMPLE_TOKENS), n = (tokens + step - 1) / step;
    float[] out = new float[(int) (n * in)];
    long t = 0;
    int at = 0;
    for (Tensor x : inputs) {
      float[] v = x.toFloatArray();
      for (long r = 0; r < x.size(0); r++, t++)
        if (t % step == 0) System.arraycopy(v, (int) (r * in), out, (at++) * (int) in, (int) in);
    }
    rows[0] = at;
    return out;
  }

  /** Clips {@code w} [out, in] in place to the best range of each (row, group) for the sampled inputs x [n, in]. */
  static void clip(float[] w, long out, long in, long groupSize, float[] x, int n) {
    int groups = (int) (in / groupSize), gs = (int) groupSize;
    float[] orgMax = new float[(int) out * groups], bestMax = new float[orgMax.length], bestErr = new float[orgMax.length];
    for (int c = 0; c < out; c++)
      for (int g = 0; g < groups; g++) {
        float m = 0;
        for (int k = g * gs; k < (g + 1) * gs; k++) m = Math.max(m, Math.abs(w[(int) (c * in + k)]));
        orgMax[c * groups + g] = m;
      }
    java.util.Arrays.fill(bestErr, Float.POSITIVE_INFINITY);
    float[] xg = new float[groups * n * gs];
    for (int t = 0; t < n; t++)
      for (int g = 0; g < groups; g++) System.arraycopy(x, (int) (t * in + g * gs), xg, (g * n + t) * gs, gs);
    try (Tensor xt = Tensor.fromFloats(xg, DType.F32, Device.CPU, groups, n, gs);
        Tensor dt = Tensor.allocate(DType.F32, Device.CPU, groups, out, gs);
        Tensor et = Tensor.allocate(DType.F32, Device.CPU, groups, n, out)) {
      float[] clamped = new float[w.length], d = new float[w.length];
      for (int i = 0; i < STEPS; i++) {
        float shrink = 1f - i / (float) GRID;
        for (int c = 0; c < out; c++)
          for (int g = 0; g < groups; g++) {
            float m = orgMax[c * groups + g] * shrink;
            for (int k = g * gs; k < (g + 1) * gs; k++) {
              int idx = (int) (c * in + k);
              clamped[idx] = Math.max(-m, Math.min(m, w[idx]));
            }
          }
        float[] q = AwqQuantizer.pseudoQuantize(clamped, out, in, groupSize);
        for (int c = 0; c < out; c++)
          for (int g = 0; g < groups; g++)
            for (int k = 0; k < gs; k++) {
              int idx = (int) (c * in + g * gs + k);
              d[(int) ((g * out + c) * gs + k)] = q[idx] - w[idx];
            }
        dt.copyFrom(d);
        Kernels.matmul(xt, false, dt, true, et, 1f, 0f);
        float[] e = et.toFloatArray();
        for (int g = 0; g < groups; g++)
          for (int c = 0; c < out; c++) {
            double sq = 0;
            for (int t = 0; t < n; t++) {
              double v = e[(int) (((long) g * n + t) * out + c)];
              sq += v * v;
            }
            float err = (float) (sq / n);
            if (err < bestErr[c * groups + g]) {
              bestErr[c * groups + g] = err;
              bestMax[c * groups + g] = orgMax[c * groups + g] * shrink;
            }
          }
      }
    }
    for (int c = 0; c < out; c++)
      for (int g = 0; g < groups; g++) {
        float m = bestMax[c * groups + g];
        for (int k = g * gs; k < (g + 1) * gs; k++) {
          int idx = (int) (c * in + k);
          w[idx] = Math.max(-m, Math.min(m, w[idx]));
        }
      }
  }
}
