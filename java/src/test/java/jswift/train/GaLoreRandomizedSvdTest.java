package jswift.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.function.Supplier;
import jswift.nn.Parameter;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Tensor;
import jswift.testing.Rand;
import jswift.testing.Torch;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * GaLore's randomized projector refresh ({@link GaLoreSvd}) against the exact one it replaces for large weights.
 * The gradients have a smoothly decaying spectrum sigma_i = 0.9^i (no built-in gap, as real gradients), so the
 * randomized SVD's error is set by its own parameters: sketch k = r + 10 and 4 power iterations give
 * (sigma_{k+1} / sigma_r)^9 = 0.9^90 ~ 1e-4 as the bound's leading factor (Halko et al. cor. 10.10), times a
 * modest constant; the exact subspace of an fp32 matrix is itself only defined to ~1e-6 / gap (gap 0.1 relative).
 */
class GaLoreRandomizedSvdTest {
  @Test
  void theAutomaticRuleKeepsSmallOrHighRankWeightsExact() {
    assertTrue(GaLoreSvd.randomized(896, 4864, 128), "Qwen2.5-0.5B MLP weight at rank 128");
    assertTrue(GaLoreSvd.randomized(200, 96, 8), "k = 18 <= 96 / 4");
    assertFalse(GaLoreSvd.randomized(64, 40, 8), "k = 18 > 40 / 4: exact (GaLoreStepTest's shapes stay exact)");
    assertFalse(GaLoreSvd.randomized(32, 64, 4), "tiny model weights: exact");
    assertFalse(GaLoreSvd.randomized(4096, 4096, 1024), "k = 1034 > 256: the host core would dominate");
    runWithMode("randomized", () -> assertTrue(GaLoreSvd.randomized(12, 7, 3)));
    runWithMode("exact", () -> assertFalse(GaLoreSvd.randomized(896, 4864, 128)));
    runWithMode("fast", () -> assertThrows(IllegalArgumentException.class, () -> GaLoreSvd.randomized(9, 9, 1)));
  }

  @ParameterizedTest(name = "{0}x{1} rank {2}")
  @CsvSource({"200, 96, 8", "96, 250, 12", "181, 181, 1"})
  void randomizedProjectorSpansTheExactSubspace(int m, int n, int rank) {
    assertTrue(GaLoreSvd.randomized(m, n, rank), "the shape must take the randomized path");
    float[] g = decayingSpectrum(m, n, 0.9, 11L * m + n);
    GaLoreConfig config = new GaLoreConfig(rank, 50, 1f, List.of(), false);
    try (Tensor grad = Tensor.fromFloats(g, DType.F32, Device.CPU, m, n)) {
      float[] exact = withMode("exact", () -> refreshed(config, grad));
      float[] fast = refreshed(config, grad);
      boolean right = m >= n;
      long rows = right ? rank : m, cols = right ? n : rank;
      // ||sin Theta||_F between the two spans, as ||B - A A^T B||_F on the vectors as columns.
      var a = Torch.tensor(exact, rows, cols);
      var b = Torch.tensor(fast, rows, cols);
      if (right) {
        a = a.t();
        b = b.t();
      }
      double sinTheta = b.sub(a.matmul(a.t().matmul(b))).norm().item_double();
      // measured 4e-6 .. 4e-5 for these shapes: 1e-3 keeps a 25x margin; a missed direction costs ~1
      assertTrue(sinTheta < 1e-3, "randomized vs exact projector: ||sin Theta||_F = " + sinTheta);
      // and it is an orthonormal basis, as the exact one
      double ortho = b.t().matmul(b).sub(torch.eye(rank, new org.bytedeco.pytorch.TensorOptions(torch.ScalarType.Double)))
          .abs().max().item_double();
      assertTrue(ortho < 1e-5, "randomized projector not orthonormal: " + ortho);
    }
  }

  @Test
  void galoreTrainsTheSameWithTheRandomizedProjector() {
    // f(W) = 0.5 ||W - W*||^2 (gradient W - W*, W* with the decaying spectrum), 24 GaLore steps refreshing the
    // projector every 8. After the first refresh, the steps have shrunk G's top directions into the tail, so G's
    // r-th and (r+1)-th singular values nearly tie and its top-r subspace is not well defined: the exact and the
    // randomized SVD may then pick different, equally good, subspaces. So the checks are what GaLore needs: at every
    // refresh the randomized projector keeps at least 99.9% of the gradient energy the best rank-r projector keeps
    // (sum of the top r sigma_i^2, from torch's svdvals; measured 99.994%), and both runs lower the loss alike (within 10%; measured
    // ~3% apart, while a projector onto the wrong side or the bottom subspace would not lower it at all).
    int m = 160, n = 88, rank = 8, steps = 24;
    float[] target = decayingSpectrum(m, n, 0.9, 5);
    double[] exact = withMode("exact", () -> train(target, m, n, rank, steps));
    double[] fast = train(target, m, n, rank, steps);
    double initial = 0;
    for (float t : target) initial += 0.5 * t * t;
    assertTrue(exact[0] > 1 - 1e-5, "the exact projector keeps the optimal energy: " + exact[0]);
    assertTrue(fast[0] > 1 - 1e-3, "randomized projector keeps " + fast[0] + " of the optimal gradient energy");
    assertTrue(fast[1] < 0.6 * initial && exact[1] < 0.6 * initial,
        "loss " + initial + " -> " + fast[1] + " (randomized), " + exact[1] + " (exact)");
    assertTrue(Math.abs(fast[1] - exact[1]) < 0.1 * exact[1], "loss randomized " + fast[1] + " vs exact " + exact[1]);
  }

  /**
   * {worst fraction of the optimal rank-r gradient energy the projector kept over the refreshes, final loss}.
   */
  private static double[] train(float[] target, int m, int n, int rank, int steps) {
    int gap = 8;
    GaLoreConfig config = new GaLoreConfig(rank, gap, 1f, List.of(), false);
    Parameter p = new Parameter("model.layers.0.mlp.up_proj.weight", Tensor.zeros(DType.F32, Device.CPU, m, n));
    p.setTrainable(true);
    double worst = Double.POSITIVE_INFINITY;
    try (AdamW opt = new AdamW(List.of(p), 0.9f, 0.999f, 1e-8f, 0f, 0f, config, List.of(p))) {
      float[] grad = new float[m * n];
      for (int s = 0; s < steps; s++) {
        float[] w = p.master().toFloatArray();
        for (int i = 0; i < grad.length; i++) grad[i] = w[i] - target[i];
        p.grad().copyFrom(grad);
        opt.step(0.02f);
        if (s % gap == 0) {   // this step refreshed P (tall weight: P = Vh[:r], [r, n])
          var g = Torch.tensor(grad, m, n);
          var proj = Torch.tensor(opt.stateTensors(p).get("galore_projector").toFloatArray(), rank, n);
          double kept = g.matmul(proj.t()).pow(new org.bytedeco.pytorch.Scalar(2.0)).sum().item_double();
          double best = torch.linalg_svdvals(g).narrow(0, 0, rank).pow(new org.bytedeco.pytorch.Scalar(2.0)).sum()
              .item_double();
          worst = Math.min(worst, kept / best);
        }
      }
      float[] w = p.master().toFloatArray();
      double loss = 0;
      for (int i = 0; i < m * n; i++) loss += 0.5 * (w[i] - target[i]) * (w[i] - target[i]);
      return new double[] {worst, loss};
    } finally {
      p.close();
    }
  }

  @Test
  void aRandomizedRefreshIsAPureFunctionOfTheGradient() {
    // What a bit-identical resume needs (GaLoreTrainingTest checks the checkpoint side on the exact path): the
    // projector the resumed run computes at its next refresh equals the straight run's. The sketch seed is fixed
    // per shape, so a fresh projector, and one that has refreshed from other gradients before, agree bit for bit.
    int m = 120, n = 64, rank = 6;
    GaLoreConfig config = new GaLoreConfig(rank, 50, 1f, List.of(), false);
    assertTrue(GaLoreSvd.randomized(m, n, rank));
    try (Tensor g1 = Tensor.fromFloats(Rand.normal((long) m * n, 1), DType.F32, Device.CPU, m, n);
        Tensor g2 = Tensor.fromFloats(Rand.normal((long) m * n, 2), DType.F32, Device.CPU, m, n);
        GaLoreProjector used = new GaLoreProjector(m, n, config, Device.CPU)) {
      used.refresh(g1);
      float[] before = used.matrix().toFloatArray();
      used.refresh(g2);
      used.refresh(g1);
      assertArrayEquals(before, used.matrix().toFloatArray(), "the same gradient, after another refresh");
      assertArrayEquals(before, refreshed(config, g1), "the same gradient, a fresh projector (a resumed run)");
    }
  }

  private static float[] refreshed(GaLoreConfig config, Tensor grad) {
    try (GaLoreProjector proj = new GaLoreProjector(grad.size(0), grad.size(1), config, Device.CPU)) {
      proj.refresh(grad);
      return proj.matrix().toFloatArray();
    }
  }

  /** U0 diag(base^i) V0^T with random orthonormal U0, V0 (libtorch QR, fp64), rounded to fp32. */
  private static float[] decayingSpectrum(int m, int n, double base, long seed) {
    int k = Math.min(m, n);
    var u0 = Torch.qrQ(Torch.tensor(Rand.normal((long) m * k, seed), m, k));
    var v0 = Torch.qrQ(Torch.tensor(Rand.normal((long) n * k, seed + 1), n, k));
    float[] s = new float[k];
    for (int i = 0; i < k; i++) s[i] = (float) Math.pow(base, i);
    return Torch.floats(u0.mul(Torch.tensor(s, 1, k)).matmul(v0.t()));
  }

  private static void runWithMode(String mode, Runnable body) {
    withMode(mode, () -> {
      body.run();
      return null;
    });
  }

  private static <T> T withMode(String mode, Supplier<T> body) {
    String before = System.getProperty(GaLoreSvd.PROPERTY);
    System.setProperty(GaLoreSvd.PROPERTY, mode);
    try {
      return body.get();
    } finally {
      if (before == null) System.clearProperty(GaLoreSvd.PROPERTY);
      else System.setProperty(GaLoreSvd.PROPERTY, before);
    }
  }
}
