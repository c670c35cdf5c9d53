package jswift.bench;

import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Kernels;
import jswift.tensor.Tensor;
import org.bytedeco.pytorch.StringViewOptional;
import org.bytedeco.pytorch.global.torch;

/**
 * The SVD behind one GaLore projector refresh of a Qwen2.5-0.5B MLP weight's gradient (896 x 4864, rank 128):
 * jswift's randomized SVD (what GaLore now uses for it, {@code GaLoreSvd}'s settings: oversample 10, 4 power
 * iterations) against jswift's full LAPACK SVD (the path before) and libtorch's full fp32 torch.linalg.svd (what
 * galore-torch calls), measured in the same run. The matrix has a gradient-like power-law spectrum sigma_i =
 * 1 / (1 + i / 10) on random orthonormal bases; the report also gives the share of the optimal rank-128 energy
 * (sum of the top 128 sigma_i^2) that the randomized projector keeps. Best of 4 (randomized) and of 2 (full)
 * runs, the first of each warming up.
 *
 * <pre>java -cp benchmarks/target/jswift-benchmarks.jar jswift.bench.GaLoreSvdTiming</pre>
 */
public final class GaLoreSvdTiming {
  private static final int M = 896, N = 4864, R = 128;

  private GaLoreSvdTiming() {}

  public static void main(String[] args) {
    TorchPeer.randn(0, 1);   // loads libtorch first (TorchPeer's static block also sets both libraries' threads)
    double[] sigma = new double[M];
    for (int i = 0; i < M; i++) sigma[i] = 1.0 / (1.0 + i / 10.0);
    float[] g = gradientLike(sigma);
    try (Tensor a = Tensor.fromFloats(g, DType.F32, Device.CPU, M, N);
        Tensor u = Tensor.allocate(DType.F32, Device.CPU, M, R); Tensor s = Tensor.allocate(DType.F32, Device.CPU, R);
        Tensor vt = Tensor.allocate(DType.F32, Device.CPU, R, N);
        Tensor fu = Tensor.allocate(DType.F32, Device.CPU, M, M); Tensor fs = Tensor.allocate(DType.F32, Device.CPU, M);
        Tensor fvt = Tensor.allocate(DType.F32, Device.CPU, M, N);
        Tensor kept = Tensor.allocate(DType.F32, Device.CPU, R, N)) {
      double rsvd = best(4, () -> Kernels.randomizedSvd(a, u, s, vt, 10, 4, 1));
      Kernels.matmul(u, true, a, false, kept, 1f, 0f);   // U_r^T G: the low-rank gradient GaLore keeps
      double energy = 0, optimal = 0;
      for (float x : kept.toFloatArray()) energy += (double) x * x;
      for (int i = 0; i < R; i++) optimal += sigma[i] * sigma[i];
      double full = best(2, () -> Kernels.svd(a, fu, fs, fvt));
      var t = org.bytedeco.pytorch.Tensor.create(g, M, N);
      double torchFull = best(2, () -> torch.linalg_svd(t, false, new StringViewOptional()));
      System.out.printf("| %d x %d, r = %d | %.3f s | %.3f s | %.3f s | %.1fx / %.1fx | %.5f |%n", M, N, R, rsvd,
          full, torchFull, full / rsvd, torchFull / rsvd, energy / optimal);
    }
  }

  /** U diag(sigma) V^T with U [M, M], V [N, M] the Q factors of Gaussian matrices (jswift's LAPACK QR). */
  private static float[] gradientLike(double[] sigma) {
    try (Tensor gu = Tensor.fromFloats(BenchData.normal((long) M * M, 1), DType.F32, Device.CPU, M, M);
        Tensor gv = Tensor.fromFloats(BenchData.normal((long) N * M, 2), DType.F32, Device.CPU, N, M);
        Tensor qu = Tensor.allocate(DType.F32, Device.CPU, M, M); Tensor ru = Tensor.allocate(DType.F32, Device.CPU, M, M);
        Tensor qv = Tensor.allocate(DType.F32, Device.CPU, N, M); Tensor rv = Tensor.allocate(DType.F32, Device.CPU, M, M);
        Tensor out = Tensor.allocate(DType.F32, Device.CPU, M, N)) {
      Kernels.qr(gu, qu, ru);
      Kernels.qr(gv, qv, rv);
      float[] us = qu.toFloatArray();
      for (int i = 0; i < M; i++)
        for (int j = 0; j < M; j++) us[i * M + j] *= (float) sigma[j];
      qu.copyFrom(us);
      Kernels.matmul(qu, false, qv, true, out, 1f, 0f);
      return out.toFloatArray();
    }
  }

  private static double best(int runs, Runnable body) {
    double best = Double.POSITIVE_INFINITY;
    for (int i = 0; i < runs; i++) {
      long t0 = System.nanoTime();
      body.run();
      best = Math.min(best, (System.nanoTime() - t0) / 1e9);
    }
    return best;
  }
}
