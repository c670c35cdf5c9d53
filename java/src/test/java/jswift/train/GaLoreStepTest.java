package jswift.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
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
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * GaLore steps of {@link AdamW} (built with a {@link GaLoreConfig}) against an explicit fp64 libtorch reference written here from
 * galore-torch's GaLoreAdamW + GaLoreProjector ("std"): at steps 1, 1 + T, ... P = the top-r right (tall weight)
 * or left (wide weight) singular vectors of the clipped gradient (torch.linalg.svd); R = G P^T or P^T G; Adam
 * moments in R's shape; W -= lr sqrt(1 - b2^t) / (1 - b1^t) * scale * back(m / (sqrt(v) + eps)); W -= lr wd W.
 *
 * <p>Singular vectors have an arbitrary sign, and the moments carry over a refresh unrotated, so the reference takes
 * torch's vectors with jswift's signs (checking, on the way, that they are the same vectors to 1e-4). Tolerance on
 * the weights: 2e-5 absolute + 1e-5 relative after 5 steps. jswift runs in fp32 (SVD, GEMMs, moments): ~1e-6
 * relative errors, moved into W by steps of lr * scale * |P N| ~ 1e-2, so ~1e-8 absolute drift, plus fp32's 6e-8
 * rounding of W itself; a wrong side, transpose or bias correction, eps inside the bias correction (torch's
 * placement) or the decay before the step (torch's order) is off by >= 1e-4 (eps 1e-4 and lr wd 1e-2 make both
 * differences visible).
 */
class GaLoreStepTest {
  private static final float LR = 5e-2f, B1 = 0.9f, B2 = 0.999f, EPS = 1e-4f, WD = 0.2f, SCALE = 0.25f;

  @ParameterizedTest(name = "max_grad_norm={0}")
  @CsvSource({"0", "1.0"})
  void stepsMatchTheReferenceThroughARefresh(float maxGradNorm) {
    int rank = 3, gap = 2, steps = 5;   // refreshes at steps 1, 3 and 5
    long[][] shapes = {{12, 7}, {5, 11}};   // tall: right projection [12, 3] moments; wide: left, [3, 11]
    GaLoreConfig config = new GaLoreConfig(rank, gap, SCALE, List.of(), false);
    Parameter[] p = new Parameter[shapes.length];
    org.bytedeco.pytorch.Tensor[] w = new org.bytedeco.pytorch.Tensor[shapes.length],
        m = new org.bytedeco.pytorch.Tensor[shapes.length], v = new org.bytedeco.pytorch.Tensor[shapes.length],
        proj = new org.bytedeco.pytorch.Tensor[shapes.length];
    for (int i = 0; i < shapes.length; i++) {
      float[] init = Rand.normal(shapes[i][0] * shapes[i][1], 7 + i);
      p[i] = new Parameter("model.layers.0.mlp.w" + i + ".weight", Tensor.fromFloats(init, DType.F32, Device.CPU, shapes[i]));
      p[i].setTrainable(true);
      w[i] = Torch.tensor(init, shapes[i]);
    }
    try (AdamW opt = new AdamW(List.of(p), B1, B2, EPS, WD, maxGradNorm, config, List.of(p))) {
      assertArrayEquals(new long[] {12, 3}, opt.stateTensors(p[0]).get("exp_avg").shape());
      assertArrayEquals(new long[] {3, 7}, opt.stateTensors(p[0]).get("galore_projector").shape());
      assertArrayEquals(new long[] {3, 11}, opt.stateTensors(p[1]).get("exp_avg_sq").shape());
      assertArrayEquals(new long[] {5, 3}, opt.stateTensors(p[1]).get("galore_projector").shape());
      for (int s = 1; s <= steps; s++) {
        float[][] g = new float[shapes.length][];
        double sumsq = 0;
        for (int i = 0; i < shapes.length; i++) {
          g[i] = Rand.normal(shapes[i][0] * shapes[i][1], 1000L * s + i, 0.5f);
          p[i].grad().copyFrom(g[i]);
          for (float x : g[i]) sumsq += (double) x * x;
        }
        // torch's clip_grad_norm_ coefficient over both gradients
        double clip = maxGradNorm > 0 ? Math.min(1.0, maxGradNorm / (Math.sqrt(sumsq) + 1e-6)) : 1.0;
        opt.step(LR);
        for (int i = 0; i < shapes.length; i++) {
          boolean right = shapes[i][0] >= shapes[i][1];
          var grad = Torch.tensor(g[i], shapes[i]).mul(new Scalar(clip));
          float[] jp = opt.stateTensors(p[i]).get("galore_projector").toFloatArray();
          if ((s - 1) % gap == 0) {
            proj[i] = alignedProjector(grad, right, rank, jp, shapes[i]);
            if (s == 1) {
              m[i] = torch.zeros_like(right ? grad.matmul(proj[i].t()) : proj[i].t().matmul(grad));
              v[i] = torch.zeros_like(m[i]);
            }
          } else {
            assertArrayEquals(Torch.floats(proj[i]), jp, 1e-4f, "P is kept between refreshes");
          }
          var r = right ? grad.matmul(proj[i].t()) : proj[i].t().matmul(grad);
          m[i] = m[i].mul(new Scalar((double) B1)).add(r.mul(new Scalar(1.0 - B1)));
          v[i] = v[i].mul(new Scalar((double) B2)).add(r.mul(r).mul(new Scalar(1.0 - B2)));
          double stepSize = LR * Math.sqrt(1 - Math.pow(B2, s)) / (1 - Math.pow(B1, s));
          var n = m[i].div(v[i].sqrt().add(new Scalar((double) EPS)));
          var back = right ? n.matmul(proj[i]) : proj[i].matmul(n);
          w[i] = w[i].sub(back.mul(new Scalar(stepSize * SCALE)));
          w[i] = w[i].sub(w[i].mul(new Scalar((double) LR * WD)));
          Assert.close("W" + i + " after step " + s, p[i].master().toFloatArray(), Torch.floats(w[i]), 2e-5, 1e-5);
          Assert.relNorm("exp_avg of W" + i + " after step " + s,
              opt.stateTensors(p[i]).get("exp_avg").toFloatArray(), Torch.floats(m[i]), 1e-4);
        }
      }
    } finally {
      for (Parameter q : p) q.close();
    }
  }

  /**
   * torch's top-r vectors of G as a projector (Vh[:r] or U[:, :r]), each with the sign jswift chose; asserts they
   * are jswift's vectors (1e-4 absolute: fp32 LAPACK on well-separated spectra of these sizes is ~1e-6 accurate).
   */
  private static org.bytedeco.pytorch.Tensor alignedProjector(org.bytedeco.pytorch.Tensor grad, boolean right, int r,
      float[] jswift, long[] shape) {
    var usv = torch.linalg_svd(grad, false, new StringViewOptional());
    float[] t = Torch.floats(right ? usv.get2().narrow(0, 0, r) : usv.get0().narrow(1, 0, r));
    java.lang.ref.Reference.reachabilityFence(usv);  // get0 / get2 point into the tuple: see Torch.qrQ
    long rows = right ? r : shape[0], cols = right ? shape[1] : r;
    for (int j = 0; j < r; j++) {
      double dot = 0;
      for (long x = 0; x < (right ? cols : rows); x++) dot += t[idx(right, j, x, cols)] * jswift[idx(right, j, x, cols)];
      if (dot < 0) for (long x = 0; x < (right ? cols : rows); x++) t[idx(right, j, x, cols)] *= -1;
    }
    assertArrayEquals(t, jswift, 1e-4f, "jswift's projector: torch's top-" + r + " singular vectors");
    return Torch.tensor(t, rows, cols);
  }

  /** Element x of singular vector j: row j of Vh[:r], or column j of U[:, :r]. */
  private static int idx(boolean right, int j, long x, long cols) {
    return (int) (right ? j * cols + x : x * cols + j);
  }

  @ParameterizedTest(name = "{0}x{1} rank {2}")
  @CsvSource({"64, 40, 8", "30, 70, 5", "9, 9, 9", "17, 3, 128"})
  void projectorSpansTorchsTopSingularSubspace(int rows, int cols, int rank) {
    // Compared as the orthogonal projection onto the subspace (P^T P or P P^T), which no sign choice changes.
    GaLoreConfig config = new GaLoreConfig(rank, 50, 1f, List.of(), false);
    int r = config.effectiveRank(rows, cols);
    float[] g = Rand.normal((long) rows * cols, rows * 31L + cols);
    try (Tensor grad = Tensor.fromFloats(g, DType.F32, Device.CPU, rows, cols);
        GaLoreProjector proj = new GaLoreProjector(rows, cols, config, Device.CPU)) {
      proj.refresh(grad);
      boolean right = rows >= cols;
      var p = Torch.tensor(proj.matrix().toFloatArray(), right ? r : rows, right ? cols : r);
      var usv = torch.linalg_svd(Torch.tensor(g, rows, cols), false, new StringViewOptional());
      var t = right ? usv.get2().narrow(0, 0, r) : usv.get0().narrow(1, 0, r);
      java.lang.ref.Reference.reachabilityFence(usv);  // get0 / get2 point into the tuple: see Torch.qrQ
      var got = right ? p.t().matmul(p) : p.matmul(p.t());
      var want = right ? t.t().matmul(t) : t.matmul(t.t());
      Assert.relNorm("projection onto the top-" + r + " subspace", Torch.floats(got), Torch.floats(want), 1e-4);
      // and P has orthonormal rows / columns
      var gram = right ? p.matmul(p.t()) : p.t().matmul(p);
      Assert.close("P's Gram matrix", Torch.floats(gram), Torch.floats(torch.eye(r)), 1e-5, 0);
    }
  }

  @Test
  void targetsTheDecoderLinearWeightsByDefault() {
    GaLoreConfig all = new GaLoreConfig(128, 50, 1f, null, false);
    GaLoreConfig some = new GaLoreConfig(128, 50, 1f, List.of("q_proj", "mlp"), true);
    Parameter q = new Parameter("model.layers.0.self_attn.q_proj.weight", Tensor.zeros(DType.F32, Device.CPU, 4, 4));
    Parameter down = new Parameter("model.layers.1.mlp.down_proj.weight", Tensor.zeros(DType.F32, Device.CPU, 4, 6));
    Parameter norm = new Parameter("model.layers.0.input_layernorm.weight", Tensor.zeros(DType.F32, Device.CPU, 4));
    Parameter embed = new Parameter("model.embed_tokens.weight", Tensor.zeros(DType.F32, Device.CPU, 10, 4));
    try (q; down; norm; embed) {
      assertEquals(List.of(q, down), all.select(List.of(q, down, norm, embed)), "2-D weights of the layers");
      assertEquals(List.of(q, down, embed), some.select(List.of(q, down, norm, embed)));
      assertFalse(some.targets(norm), "never a 1-D weight");
      assertTrue(all.targets(q));
    }
    // std shapes: the smaller side is projected; the rank never exceeds it
    assertArrayEquals(new long[] {896, 128}, all.lowRankShape(896, 896));
    assertArrayEquals(new long[] {128, 4864}, all.lowRankShape(896, 4864));
    assertArrayEquals(new long[] {4864, 128}, all.lowRankShape(4864, 896));
    assertArrayEquals(new long[] {17, 3}, all.lowRankShape(17, 3));
    assertEquals(4L * (2 * 4864 * 128 + 128 * 896), all.stateBytes(4864, 896));
  }

  @Test
  void badSettingsNameTheirFlag() {
    assertTrue(assertThrows(IllegalArgumentException.class, () -> new GaLoreConfig(0, 50, 1f, null, false))
        .getMessage().contains("--galore_rank"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> new GaLoreConfig(8, 0, 1f, null, false))
        .getMessage().contains("--galore_update_proj_gap"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> new GaLoreConfig(8, 50, Float.NaN, null, false))
        .getMessage().contains("--galore_scale"));
    Parameter norm = new Parameter("model.norm.weight", Tensor.zeros(DType.F32, Device.CPU, 4));
    norm.setTrainable(true);
    try (norm) {
      assertTrue(assertThrows(IllegalArgumentException.class, () -> new AdamW(List.of(norm), B1, B2, EPS, WD, 0,
          new GaLoreConfig(8, 50, 1f, null, false), List.of(norm))).getMessage().contains("model.norm.weight"));
    }
  }
}
