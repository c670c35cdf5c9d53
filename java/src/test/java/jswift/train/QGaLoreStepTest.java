package jswift.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import jswift.nn.Parameter;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Tensor;
import jswift.testing.Assert;
import jswift.testing.Rand;
import jswift.testing.Torch;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.StringViewOptional;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;

/**
 * Q-GaLore steps of {@link AdamW} (q_galore_projector.py + GaLore's AdamW step): the INT4 projector against a
 * reference written here (torch's SVD, quantized to INT4 by an independent Java transcription of Q-GaLore's
 * _quantize, then GaLore's Adam in the low-rank shape in fp64 libtorch), and the lazy subspace update's gap against
 * gradients whose subspace is stable or not.
 */
class QGaLoreStepTest {
  private static final float LR = 5e-2f, B1 = 0.9f, B2 = 0.999f, EPS = 1e-4f, WD = 0.2f, SCALE = 0.25f;

  private static QGaLoreConfig lazyOnly(int queue, float threshold, int gamma) {
    return new QGaLoreConfig(false, 4, 256, threshold, gamma, queue, false, 0);
  }

  /**
   * Tolerances: the reference's P is torch's fp64 singular vectors (signs aligned to jswift's) quantized with the
   * same fp32 formulas, so it equals jswift's dequantized P to fp32 rounding (1e-6) unless some x / scale fell
   * within ~1e-6 of a rounding tie (then one code would differ by a whole step, ~0.1, and fail); W then follows as
   * in GaLoreStepTest (2e-5 absolute + 1e-5 relative after 5 steps). Quantized P is no longer orthonormal, so a
   * GaLore step with the fp32 P is off by ~1e-3 and fails here.
   */
  @Test
  void stepsWithInt4ProjectorsMatchTheReference() {
    int rank = 3, gap = 2, steps = 5, group = 8;   // refreshes at steps 1, 3, 5; P of 21 / 15 values, groups of 8
    long[][] shapes = {{12, 7}, {5, 11}};
    GaLoreConfig config = new GaLoreConfig(rank, gap, SCALE, List.of(), false);
    QGaLoreConfig q = new QGaLoreConfig(true, 4, group, 0.4f, 2, 5, false, 0);
    Parameter[] p = new Parameter[shapes.length];
    org.bytedeco.pytorch.Tensor[] w = new org.bytedeco.pytorch.Tensor[shapes.length],
        m = new org.bytedeco.pytorch.Tensor[shapes.length], v = new org.bytedeco.pytorch.Tensor[shapes.length],
        proj = new org.bytedeco.pytorch.Tensor[shapes.length];
    float[][] lastP = new float[shapes.length][];
    for (int i = 0; i < shapes.length; i++) {
      float[] init = Rand.normal(shapes[i][0] * shapes[i][1], 7 + i);
      p[i] = new Parameter("model.layers.0.mlp.w" + i + ".weight", Tensor.fromFloats(init, DType.F32, Device.CPU, shapes[i]));
      p[i].setTrainable(true);
      w[i] = Torch.tensor(init, shapes[i]);
    }
    try (AdamW opt = new AdamW(List.of(p), B1, B2, EPS, WD, 0, config, List.of(p), q)) {
      // INT4 storage: two codes a byte, a scale and a zero per group of 8, and no fp32 P
      var state = opt.stateTensors(p[0]);
      assertEquals(DType.U8, state.get("galore_projector_codes").dtype());
      assertEquals(11, state.get("galore_projector_codes").numel(), "ceil(21 / 2) bytes");
      assertEquals(3, state.get("galore_projector_scales").numel());
      assertTrue(!state.containsKey("galore_projector"), "no fp32 projector is kept");
      for (int s = 1; s <= steps; s++) {
        float[][] g = new float[shapes.length][];
        for (int i = 0; i < shapes.length; i++) {
          g[i] = Rand.normal(shapes[i][0] * shapes[i][1], 1000L * s + i, 0.5f);
          p[i].grad().copyFrom(g[i]);
        }
        opt.step(LR);
        for (int i = 0; i < shapes.length; i++) {
          boolean right = shapes[i][0] >= shapes[i][1];
          var grad = Torch.tensor(g[i], shapes[i]);
          QGaLoreProjector qp = (QGaLoreProjector) opt.projector(p[i]);
          float[] jp = qp.dequantized();
          long rows = right ? rank : shapes[i][0], cols = right ? shapes[i][1] : rank;
          if ((s - 1) % gap == 0) {
            float[] t = alignedSvd(grad, right, rank, jp, rows, cols);
            float[] tq = int4(t, group);
            // The two SVDs (OpenBLAS's LAPACK, torch's) agree to ~1e-6, and a group's scale (max - min) / 15 carries
            // that difference into every dequantized value: 2e-5 allows it, while one code off by one moves a value
            // by a whole scale step (~0.03 for these unit vectors).
            assertArrayEquals(tq, jp, 2e-5f, "jswift's P: torch's top-" + rank + " vectors, INT4 in groups of " + group);
            proj[i] = Torch.tensor(tq, rows, cols);
            if (s == 1) {
              m[i] = torch.zeros_like(right ? grad.matmul(proj[i].t()) : proj[i].t().matmul(grad));
              v[i] = torch.zeros_like(m[i]);
            }
          } else {
            assertArrayEquals(lastP[i], jp, 0f, "P is kept between refreshes");
          }
          lastP[i] = jp;
          var r = right ? grad.matmul(proj[i].t()) : proj[i].t().matmul(grad);
          m[i] = m[i].mul(new Scalar((double) B1)).add(r.mul(new Scalar(1.0 - B1)));
          v[i] = v[i].mul(new Scalar((double) B2)).add(r.mul(r).mul(new Scalar(1.0 - B2)));
          double stepSize = LR * Math.sqrt(1 - Math.pow(B2, s)) / (1 - Math.pow(B1, s));
          var n = m[i].div(v[i].sqrt().add(new Scalar((double) EPS)));
          var back = right ? n.matmul(proj[i]) : proj[i].matmul(n);
          w[i] = w[i].sub(back.mul(new Scalar(stepSize * SCALE)));
          w[i] = w[i].sub(w[i].mul(new Scalar((double) LR * WD)));
          Assert.close("W" + i + " after step " + s, p[i].master().toFloatArray(), Torch.floats(w[i]), 2e-5, 1e-5);
        }
      }
      assertEquals(3, ((QGaLoreProjector) opt.projector(p[0])).refreshes());
      assertEquals(gap, ((QGaLoreProjector) opt.projector(p[0])).gap(), "2 cosines never fill a queue of 5");
    } finally {
      for (Parameter x : p) x.close();
    }
  }

  /** torch's top-r vectors (Vh[:r] or U[:, :r]) as fp32, each with the sign of jswift's (dequantized) vector. */
  private static float[] alignedSvd(org.bytedeco.pytorch.Tensor grad, boolean right, int r, float[] jswift, long rows,
      long cols) {
    var usv = torch.linalg_svd(grad, false, new StringViewOptional());
    float[] t = Torch.floats(right ? usv.get2().narrow(0, 0, r) : usv.get0().narrow(1, 0, r));
    java.lang.ref.Reference.reachabilityFence(usv);  // get0 / get2 point into the tuple: see Torch.qrQ
    long len = right ? cols : rows;
    for (int j = 0; j < r; j++) {
      double dot = 0;
      for (long x = 0; x < len; x++) dot += t[idx(right, j, x, cols)] * jswift[idx(right, j, x, cols)];
      if (dot < 0) for (long x = 0; x < len; x++) t[idx(right, j, x, cols)] *= -1;
    }
    return t;
  }

  private static int idx(boolean right, int j, long x, long cols) {
    return (int) (right ? j * cols + x : x * cols + j);
  }

  /** Q-GaLore's _quantize + dequantize (4 bits, asymmetric min-max per group), transcribed in fp32 Java. */
  static float[] int4(float[] x, int group) {
    float[] out = new float[x.length];
    for (int lo = 0; lo < x.length; lo += group) {
      int hi = Math.min(x.length, lo + group);
      float mn = Float.POSITIVE_INFINITY, mx = Float.NEGATIVE_INFINITY;
      for (int i = lo; i < hi; i++) {
        mn = Math.min(mn, x[i]);
        mx = Math.max(mx, x[i]);
      }
      float scale = Math.max(mx - mn, 1e-5f) / 15f;
      float zero = Math.min(15f, Math.max(0f, (float) Math.rint(-mn / scale)));
      for (int i = lo; i < hi; i++) {
        float code = Math.min(15f, Math.max(0f, (float) Math.rint(x[i] / scale) + zero));
        out[i] = (code - zero) * scale;
      }
    }
    return out;
  }

  /**
   * A stable subspace (the same rank-2 gradient plus 1e-3 noise): every cosine is ~1, so with gap 1, a queue of 2 and
   * gamma 2 the refreshes come at steps 1, 2, 3 (the queue is full after the third: gap 2), 5 (gap 4), 9 (gap 8)
   * and 17 (gap 16), exactly Q-GaLore's (step - 1) % gap rule.
   */
  @Test
  void aStableSubspaceDoublesTheGapWhenTheQueueSaysSo() {
    int[] refreshesAfter = new int[18];
    int[] gapAfter = new int[18];
    float[] base = lowRank(16, 8, 3, 0);
    try (Parameter p = param(16, 8); AdamW opt = new AdamW(List.of(p), B1, B2, EPS, 0, 0,
        new GaLoreConfig(2, 1, 1f, List.of(), false), List.of(p), lazyOnly(2, 0.4f, 2))) {
      QGaLoreProjector qp = (QGaLoreProjector) opt.projector(p);
      for (int s = 1; s <= 17; s++) {
        float[] noise = Rand.normal(16 * 8, 500 + s, 1e-3f);
        float[] g = base.clone();
        for (int i = 0; i < g.length; i++) g[i] += noise[i];
        p.grad().copyFrom(g);
        opt.step(1e-3f);
        refreshesAfter[s] = qp.refreshes();
        gapAfter[s] = qp.gap();
        for (float c : qp.queue()) assertTrue(c > 0.99f, "step " + s + ": cosine " + c + " of a stable subspace");
      }
    }
    int[] wantRefreshes = {0, 1, 2, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5, 6};
    int[] wantGap = {0, 1, 1, 2, 2, 4, 4, 4, 4, 8, 8, 8, 8, 8, 8, 8, 8, 16};
    assertArrayEquals(wantRefreshes, refreshesAfter, "SVDs taken after each step");
    assertArrayEquals(wantGap, gapAfter, "the gap after each step");
  }

  /**
   * A subspace that moves: the dominant right singular vector alternates between two orthogonal directions, so
   * every cosine is ~0 and the gap never grows (gap 1: an SVD at every step); and when the queue holds one stable
   * and one moving cosine (mean ~0.5 vs threshold 0.6) it does not grow either.
   */
  @Test
  void aMovingSubspaceKeepsTheGap() {
    try (Parameter p = param(16, 8); AdamW opt = new AdamW(List.of(p), B1, B2, EPS, 0, 0,
        new GaLoreConfig(1, 1, 1f, List.of(), false), List.of(p), lazyOnly(2, 0.6f, 2))) {
      QGaLoreProjector qp = (QGaLoreProjector) opt.projector(p);
      for (int s = 1; s <= 8; s++) {
        // steps 1-2 same direction (cosine ~1), then alternating directions (cosines ~0)
        int dir = s <= 2 ? 0 : s % 2;
        float[] g = lowRank(16, 8, 1, dir);
        float[] noise = Rand.normal(16 * 8, 900 + s, 1e-3f);
        for (int i = 0; i < g.length; i++) g[i] += noise[i];
        p.grad().copyFrom(g);
        opt.step(1e-3f);
        assertEquals(s, qp.refreshes(), "an SVD at every step");
        assertEquals(1, qp.gap(), "step " + s + ": queue " + java.util.Arrays.toString(qp.queue()));
      }
      float[] queue = qp.queue();
      for (float c : queue) assertTrue(Math.abs(c) < 0.05f, "moving subspace: cosine " + c);
    }
  }

  private static Parameter param(long m, long n) {
    Parameter p = new Parameter("model.layers.0.mlp.up_proj.weight",
        Tensor.fromFloats(Rand.normal(m * n, 3), DType.F32, Device.CPU, m, n));
    p.setTrainable(true);
    return p;
  }

  /**
   * A gradient sum_k s_k u_k e_{k + dir}^T with s = 5, 2, 1...: its right singular vectors are the basis vectors
   * e_dir, e_{dir+1}, ... (u_k orthonormal from a fixed QR), so the first one is e_dir.
   */
  private static float[] lowRank(int m, int n, int r, int dir) {
    var u = Torch.qrQ(Torch.tensor(Rand.normal((long) m * r, 11), m, r));
    float[] uf = Torch.floats(u);
    float[] g = new float[m * n];
    for (int k = 0; k < r; k++) {
      double s = k == 0 ? 5 : 2.0 / k;
      for (int i = 0; i < m; i++) g[i * n + (k + dir) % n] += (float) (s * uf[i * r + k]);
    }
    return g;
  }

  @Test
  void int4ProjectorStateIsSmallerThanFp32() {
    GaLoreConfig config = new GaLoreConfig(32, 50, 1f, List.of(), false);
    try (Parameter a = param(256, 128); Parameter b = param(256, 128);
        AdamW plain = new AdamW(List.of(a), B1, B2, EPS, 0, 0, config, List.of(a));
        AdamW quant = new AdamW(List.of(b), B1, B2, EPS, 0, 0, config, List.of(b),
            new QGaLoreConfig(true, 4, 256, 0.4f, 2, 5, false, 0))) {
      long moments = 2L * 4 * 256 * 32, fp32P = 4L * 32 * 128;
      assertEquals(moments + fp32P, plain.stateBytes());
      // 4096 codes in 2048 bytes, 16 groups x (scale + zero), and the lazy state (3 + 5 + 128 floats)
      assertEquals(moments + 2048 + 16 * 8 + 4 * (3 + 5 + 128), quant.stateBytes());
    }
  }

  @Test
  void badSettingsNameTheirFlag() {
    assertTrue(assertThrows(IllegalArgumentException.class, () -> new QGaLoreConfig(true, 3, 256, 0.4f, 2, 5, false, 0))
        .getMessage().contains("--galore_proj_bits"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> new QGaLoreConfig(true, 4, 0, 0.4f, 2, 5, false, 0))
        .getMessage().contains("--galore_proj_group_size"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> new QGaLoreConfig(true, 4, 256, 0.4f, 2, 0, false, 0))
        .getMessage().contains("--galore_queue_size"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> new QGaLoreConfig(true, 4, 256, 2f, 2, 5, false, 0))
        .getMessage().contains("--galore_cos_threshold"));
  }
}
