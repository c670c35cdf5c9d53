package jswift.train;

import jswift.tensor.DType;
import jswift.tensor.Kernels;
import jswift.tensor.Tensor;

/**
 * Which SVD refreshes a GaLore projector. galore-torch takes a full {@code torch.linalg.svd} of the gradient and
 * keeps its top r vectors; for the ranks GaLore uses (r = 128 on weights 896+ wide) most of that work is thrown
 * away. When r is well below min(m, n) a randomized SVD ({@link Kernels#randomizedSvd}) gets the same top-r
 * subspace from a few GEMMs of width r + {@value #OVERSAMPLE}, on the gradient's own device (no host copy on CUDA).
 *
 * <p>The rule (ms-swift and galore-torch have no flag for this): randomized when the sketch width k = r + {@value
 * #OVERSAMPLE} is at most a quarter of min(m, n) and at most {@value #MAX_SKETCH}; otherwise the exact LAPACK SVD,
 * as before. Below a 4x ratio the GEMM passes stop being much cheaper than the full SVD, and above 256 the k x k
 * core (solved on the host) starts to dominate. Small weights therefore keep the exact path. The system property
 * {@code jswift.galore.svd} = {@code auto} (default) | {@code exact} | {@code randomized} overrides the rule.
 *
 * <p>{@value #POWER_ITERS} power iterations, as scikit-learn's randomized_svd picks for r >= 10% of min(m, n): a
 * gradient's spectrum decays slowly, and each iteration shrinks the error by (sigma_{k+1} / sigma_r)^2. The sketch
 * seed is fixed per weight shape: the sketch only has to be independent of the gradient, not fresh at every
 * refresh, and a fixed seed keeps a resumed run bit-identical without checkpointing a generator.
 */
final class GaLoreSvd {
  static final int OVERSAMPLE = 10;
  static final int POWER_ITERS = 4;
  static final int MAX_SKETCH = 256;
  static final String PROPERTY = "jswift.galore.svd";

  private GaLoreSvd() {}

  /** True when the projector of an m x n weight with rank r is refreshed by the randomized SVD. */
  static boolean randomized(long m, long n, int rank) {
    String mode = System.getProperty(PROPERTY, "auto");
    switch (mode) {
      case "exact":
        return false;
      case "randomized":
        return true;
      case "auto":
        long k = (long) rank + OVERSAMPLE;
        return k <= MAX_SKETCH && 4 * k <= Math.min(m, n);
      default:
        throw new IllegalArgumentException(
            "-D" + PROPERTY + " must be auto, exact or randomized, got '" + mode + "'");
    }
  }

  /**
   * projector = the top-r right singular vectors of grad (Vh[:r], [r, n]) when right, else the left ones (U[:, :r],
   * [m, r]), by the randomized SVD on grad's device.
   */
  static void refreshRandomized(Tensor grad, boolean right, Tensor projector) {
    long m = grad.size(0), n = grad.size(1);
    int rank = Math.toIntExact(right ? projector.size(0) : projector.size(1));
    long seed = 0x9E3779B97F4A7C15L ^ (m * 1_000_003L + n);   // fixed per shape (see the class comment)
    // The projector itself receives the factor it keeps; the other one is scratch.
    try (Tensor other = Tensor.allocate(DType.F32, grad.device(), right ? new long[] {m, rank} : new long[] {rank, n});
        Tensor s = Tensor.allocate(DType.F32, grad.device(), rank)) {
      Tensor u = right ? other : projector, vt = right ? projector : other;
      Kernels.randomizedSvd(grad, u, s, vt, OVERSAMPLE, POWER_ITERS, seed);
    }
  }
}
