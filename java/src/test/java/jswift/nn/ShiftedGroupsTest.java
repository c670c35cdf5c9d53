package jswift.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import jswift.tensor.Arena;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Kernels;
import jswift.tensor.Tensor;
import jswift.testing.Rand;
import org.junit.jupiter.api.Test;

/**
 * LongLoRA's shifted sparse attention: the groups of a batch (each sequence and each padding stretch cut into
 * groups from its start; the shifted half's first group half as long), and the grouped flash attention's output
 * and gradients against a float64 reference that masks each head by its own rule.
 */
class ShiftedGroupsTest {
  @Test
  void groupsStartAtEachSequenceAndTheShiftedHalfIsOffsetByHalfAGroup() {
    ShiftedGroups.Plan one = ShiftedGroups.plan(10, 10, null, null, 4);
    // heads' first half: [0,4) [4,8) [8,10); second half (rows 10..19): [0,2) [2,6) [6,10)
    assertArrayEquals(new int[] {0, 4, 8, 10, 12, 16, 20}, one.cu());
    assertEquals(4, one.longest());
    assertArrayEquals(new int[] {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19},
        one.toGrouped());

    // two padded rows of 6, the second with 2 padding tokens: runs [0,6) [6,10) [10,12), groups of 2
    int[] mask = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0};
    ShiftedGroups.Plan padded = ShiftedGroups.plan(12, 6, mask, null, 2);
    assertArrayEquals(new int[] {0, 2, 4, 6, 8, 10, 12, 13, 15, 17, 18, 19, 21, 22, 23, 24}, padded.cu());

    // packed sequences [0,3) [3,8), groups of 3: the second sequence's groups start at its own first token
    ShiftedGroups.Plan packed = ShiftedGroups.plan(8, 5, null, new int[] {0, 3, 8}, 3);
    assertArrayEquals(new int[] {0, 3, 6, 8, 9, 11, 12, 15, 16}, packed.cu());

    // a group of 1: both halves attend to themselves alone
    assertArrayEquals(new int[] {0, 1, 2, 3, 4}, ShiftedGroups.plan(2, 2, null, null, 1).cu());
  }

  @Test
  void groupedAttentionMatchesTheMaskedReferenceWithItsGradients() {
    // two padded rows of 9 (the second with 3 padding tokens at its end), 4 query heads over 2 kv heads
    int rows = 2, seqLen = 9, n = rows * seqLen, heads = 4, kvHeads = 2, dim = 8, group = 4;
    int[] mask = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0};
    float[] q = Rand.normal((long) n * heads * dim, 1), k = Rand.normal((long) n * kvHeads * dim, 2),
        v = Rand.normal((long) n * kvHeads * dim, 3), g = Rand.normal((long) n * heads * dim, 4);
    float scale = (float) (1 / Math.sqrt(dim));
    try (Arena a = new Arena()) {
      ShiftedGroups groups = ShiftedGroups.create(a, Device.CPU, n, seqLen, mask, null, group);
      Tensor qs = groups.group(a, tensor(a, q, n, heads, dim)), ks = groups.group(a, tensor(a, k, n, kvHeads, dim)),
          vs = groups.group(a, tensor(a, v, n, kvHeads, dim));
      Tensor out = a.allocate(DType.F32, Device.CPU, qs.shape()), lse = a.allocate(DType.F32, Device.CPU, 2L * n, 2);
      Kernels.attentionForward(qs, ks, vs, groups.longest(), groups.cuSeqlens(), null, true, 0, scale, out, lse);
      Reference ref = new Reference(rows, seqLen, mask, heads, kvHeads, dim, group, scale);
      jswift.testing.Assert.close("out", groups.ungroup(a, out).toFloatArray(), toFloats(ref.forward(doubles(q), doubles(k), doubles(v))), 1e-5,
          1e-5);

      Tensor dq = a.allocate(DType.F32, Device.CPU, qs.shape()), dk = a.allocate(DType.F32, Device.CPU, ks.shape()),
          dv = a.allocate(DType.F32, Device.CPU, vs.shape());
      Kernels.attentionBackward(qs, ks, vs, out, groups.group(a, tensor(a, g, n, heads, dim)), lse, groups.longest(),
          groups.cuSeqlens(), null, true, 0, scale, dq, dk, dv);
      float[] gq = groups.ungroup(a, dq).toFloatArray(), gk = groups.ungroup(a, dk).toFloatArray(),
          gv = groups.ungroup(a, dv).toFloatArray();
      // directional derivative of L = sum(out * g) along random directions, by central differences in float64
      for (int trial = 0; trial < 3; trial++) {
        float[] dirQ = Rand.normal(q.length, 10 + trial), dirK = Rand.normal(k.length, 20 + trial),
            dirV = Rand.normal(v.length, 30 + trial);
        double analytic = dot(gq, dirQ) + dot(gk, dirK) + dot(gv, dirV), eps = 1e-4;
        double numeric = (ref.loss(q, k, v, g, dirQ, dirK, dirV, eps) - ref.loss(q, k, v, g, dirQ, dirK, dirV, -eps))
            / (2 * eps);
        assertEquals(numeric, analytic, 1e-4 * Math.abs(numeric) + 1e-4, "trial " + trial);
      }
    }
  }

  /** Attention where each head sees only the keys of its own group, written out head by head in float64. */
  private record Reference(int rows, int seqLen, int[] mask, int heads, int kvHeads, int dim, int group,
      float scale) {
    /** The group of token t for a head of the first (shifted = false) or second half. */
    private long groupOf(int t, boolean shifted) {
      int row = t / seqLen, start = row * seqLen;
      for (int i = t; i > row * seqLen; i--)
        if (mask[i] != mask[i - 1]) {
          start = i;
          break;
        }
      int p = t - start, half = group / 2;
      long inRun = !shifted || half == 0 ? p / group : p < half ? 0 : 1 + (p - half) / group;
      return (long) start * 1_000_000 + inRun;  // the run's start and the group within it
    }

    double[] forward(double[] q, double[] k, double[] v) {
      int n = rows * seqLen;
      double[] out = new double[n * heads * dim];
      for (int t = 0; t < n; t++)
        for (int h = 0; h < heads; h++) {
          boolean shifted = h >= heads / 2;
          int kvh = h / (heads / kvHeads);
          double max = Double.NEGATIVE_INFINITY;
          double[] s = new double[n];
          for (int j = 0; j <= t; j++) {
            s[j] = Double.NEGATIVE_INFINITY;
            if (groupOf(j, shifted) != groupOf(t, shifted)) continue;
            double dotp = 0;
            for (int d = 0; d < dim; d++) dotp += q[(t * heads + h) * dim + d] * k[(j * kvHeads + kvh) * dim + d];
            s[j] = dotp * scale;
            max = Math.max(max, s[j]);
          }
          double sum = 0;
          for (int j = 0; j <= t; j++) sum += s[j] == Double.NEGATIVE_INFINITY ? 0 : Math.exp(s[j] - max);
          for (int j = 0; j <= t; j++) {
            if (s[j] == Double.NEGATIVE_INFINITY) continue;
            double p = Math.exp(s[j] - max) / sum;
            for (int d = 0; d < dim; d++) out[(t * heads + h) * dim + d] += p * v[(j * kvHeads + kvh) * dim + d];
          }
        }
      return out;
    }

    /** sum(out * g) with q, k, v moved by eps times the directions. */
    double loss(float[] q, float[] k, float[] v, float[] g, float[] dq, float[] dk, float[] dv, double eps) {
      double[] out = forward(moved(q, dq, eps), moved(k, dk, eps), moved(v, dv, eps));
      double l = 0;
      for (int i = 0; i < out.length; i++) l += out[i] * g[i];
      return l;
    }
  }

  /** x + eps * dir in float64 (a float sum would round the small step away). */
  private static double[] moved(float[] x, float[] dir, double eps) {
    double[] out = new double[x.length];
    for (int i = 0; i < x.length; i++) out[i] = x[i] + eps * dir[i];
    return out;
  }

  private static double[] doubles(float[] x) {
    return moved(x, new float[x.length], 0);
  }

  private static double dot(float[] a, float[] b) {
    double s = 0;
    for (int i = 0; i < a.length; i++) s += (double) a[i] * b[i];
    return s;
  }

  private static float[] toFloats(double[] d) {
    float[] f = new float[d.length];
    for (int i = 0; i < d.length; i++) f[i] = (float) d[i];
    return f;
  }

  private static Tensor tensor(Arena a, float[] data, long... shape) {
    Tensor t = a.allocate(DType.F32, Device.CPU, shape);
    t.copyFrom(data);
    return t;
  }
}
