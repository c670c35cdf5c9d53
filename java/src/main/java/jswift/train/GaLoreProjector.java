package jswift.train;

import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Kernels;
import jswift.tensor.Tensor;

/**
 * GaLore's "std" projector for one m x n weight (galore-torch's GaLoreProjector): it projects onto the smaller
 * side. A tall or square weight (m >= n) uses the top-r right singular vectors of its gradient, P = Vh[:r] [r, n],
 * so the low-rank gradient is R = G P^T [m, r] and an update N comes back as N P; a wide one uses the left ones,
 * P = U[:, :r] [m, r], R = P^T G [r, n], back as P N.
 *
 * <p>P lives on the gradient's device and both projections are native GEMMs ({@link Kernels#matmul}). When r is
 * well below min(m, n) P is refreshed by a randomized SVD on that device ({@link GaLoreSvd}); otherwise by LAPACK's
 * full SVD (sgesdd, {@link Kernels#svd}) on the host: on CUDA the gradient is then copied to the host for it, one
 * m x n copy every {@code update_proj_gap} steps, a small cost next to the SVD itself.
 */
final class GaLoreProjector implements AutoCloseable {
  private final long m, n;
  private final int rank;
  private final boolean right;
  private final Tensor projector;

  GaLoreProjector(long m, long n, GaLoreConfig config, Device device) {
    this.m = m;
    this.n = n;
    this.rank = config.effectiveRank(m, n);
    this.right = m >= n;
    this.projector = Tensor.zeros(DType.F32, device, config.projectorShape(m, n));
  }

  /** P, [r, n] or [m, r] (checkpointed with the moments: a resumed run must not re-derive it mid-interval). */
  Tensor matrix() {
    return projector;
  }

  /** P from the SVD of the current gradient (f32 [m, n], any device). */
  void refresh(Tensor grad) {
    if (GaLoreSvd.randomized(m, n, rank)) {   // r well below min(m, n): see GaLoreSvd for the rule
      GaLoreSvd.refreshRandomized(grad, right, projector);
      return;
    }
    long k = Math.min(m, n);
    Tensor host = grad.device().isCpu() ? grad : grad.to(Device.CPU);
    try (Tensor u = Tensor.allocate(DType.F32, Device.CPU, m, k); Tensor s = Tensor.allocate(DType.F32, Device.CPU, k);
        Tensor vt = Tensor.allocate(DType.F32, Device.CPU, k, n)) {
      Kernels.svd(host, u, s, vt);
      if (right) {
        projector.copyFrom(vt.narrow(0, rank));   // the first r rows of Vh, contiguous
      } else {
        float[] all = u.toFloatArray(), p = new float[Math.toIntExact(m * rank)];
        for (long i = 0; i < m; i++) System.arraycopy(all, (int) (i * k), p, (int) (i * rank), rank);
        projector.copyFrom(p);
      }
    } finally {
      if (host != grad) host.close();
    }
  }

  /** low = G P^T (right) or P^T G (left). */
  void project(Tensor grad, Tensor low) {
    if (right) Kernels.matmul(grad, false, projector, true, low, 1f, 0f);
    else Kernels.matmul(projector, true, grad, false, low, 1f, 0f);
  }

  /** target += alpha * (N P) (right) or alpha * (P N) (left): the low-rank update, projected back. */
  void projectBackInto(Tensor low, float alpha, Tensor target) {
    if (right) Kernels.matmul(low, false, projector, false, target, alpha, 1f);
    else Kernels.matmul(projector, false, low, false, target, alpha, 1f);
  }

  @Override
  public void close() {
    projector.close();
  }
}
