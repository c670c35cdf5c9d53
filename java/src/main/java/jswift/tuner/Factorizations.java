package jswift.tuner;

import java.util.SplittableRandom;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Kernels;
import jswift.tensor.Tensor;

/**
 * The matrix factorisations PiSSA and OLoRA start from, on host fp32 arrays (row-major): the thin SVD and QR run
 * in the native engine (LAPACK, {@link Kernels#svd} / {@link Kernels#qr}); the randomized SVD is
 * {@code torch.svd_lowrank}'s algorithm (Halko et al. 2009, algorithms 4.4 and 5.1) built on them, with the few
 * skinny products it needs done here (they are [m, n] x [n, q] with q the LoRA rank: cheap next to an SVD).
 */
final class Factorizations {
  private Factorizations() {}

  /** a = u diag(s) vt: u [m, k], s [k] descending, vt [k, n], k = min(m, n) (full) or the requested q (low-rank). */
  record Svd(float[] u, float[] s, float[] vt, int m, int n, int k) {}

  /** a = q r: q [m, k] orthonormal columns, r [k, n] upper triangular, k = min(m, n). */
  record Qr(float[] q, float[] r, int m, int n, int k) {}

  static Svd svd(float[] a, int m, int n) {
    int k = Math.min(m, n);
    try (Tensor ta = Tensor.fromFloats(a, DType.F32, Device.CPU, m, n);
        Tensor u = Tensor.allocate(DType.F32, Device.CPU, m, k);
        Tensor s = Tensor.allocate(DType.F32, Device.CPU, k);
        Tensor vt = Tensor.allocate(DType.F32, Device.CPU, k, n)) {
      Kernels.svd(ta, u, s, vt);
      return new Svd(u.toFloatArray(), s.toFloatArray(), vt.toFloatArray(), m, n, k);
    }
  }

  static Qr qr(float[] a, int m, int n) {
    int k = Math.min(m, n);
    try (Tensor ta = Tensor.fromFloats(a, DType.F32, Device.CPU, m, n);
        Tensor q = Tensor.allocate(DType.F32, Device.CPU, m, k);
        Tensor r = Tensor.allocate(DType.F32, Device.CPU, k, n)) {
      Kernels.qr(ta, q, r);
      return new Qr(q.toFloatArray(), r.toFloatArray(), m, n, k);
    }
  }

  /**
   * torch.svd_lowrank(a, q, niter): a rank-q approximate SVD from a Gaussian sketch refined by {@code niter} power
   * iterations (each re-orthonormalised by QR), then the exact SVD of the small projection. Randomized: the
   * result depends on {@code rng}, and approximates the leading singular triplets better the more iterations run.
   * Returns u [m, q], s [q], vt [q, n].
   */
  static Svd svdLowRank(float[] a, int m, int n, int q, int niter, SplittableRandom rng) {
    if (q > Math.min(m, n))
      throw new IllegalArgumentException("a rank-" + q + " approximate SVD of a [" + m + ", " + n + "] matrix: q must be"
          + " at most " + Math.min(m, n));
    // torch works on the tall orientation (m >= n) and swaps the factors back at the end.
    boolean wide = m < n;
    float[] t = wide ? transpose(a, m, n) : a;
    int rows = wide ? n : m, cols = wide ? m : n;
    float[] sketch = new float[cols * q];
    for (int i = 0; i < sketch.length; i++) sketch[i] = (float) gaussian(rng);
    float[] basis = qr(matmul(t, rows, cols, sketch, q, false), rows, q).q();
    for (int it = 0; it < niter; it++) {
      float[] back = qr(matmul(t, rows, cols, basis, q, true), cols, q).q();    // A^T Q, [cols, q]
      basis = qr(matmul(t, rows, cols, back, q, false), rows, q).q();           // A Q', [rows, q]
    }
    float[] small = transpose(matmul(t, rows, cols, basis, q, true), cols, q);  // Q^T A, [q, cols]
    Svd inner = svd(small, q, cols);
    float[] u = product(basis, rows, q, inner.u(), q);                         // Q U, [rows, q]
    if (!wide) return new Svd(u, inner.s(), inner.vt(), m, n, q);
    // a^T = u s vt  =>  a = vt^T s u^T.
    return new Svd(transpose(inner.vt(), q, cols), inner.s(), transpose(u, rows, q), m, n, q);
  }

  /** a [rows, cols] times x ([cols, q]), or a^T times x ([rows, q]) when {@code transposed}; double sums. */
  private static float[] matmul(float[] a, int rows, int cols, float[] x, int q, boolean transposed) {
    if (!transposed) return product(a, rows, cols, x, q);
    double[] acc = new double[cols * q];
    for (int i = 0; i < rows; i++) {
      for (int j = 0; j < cols; j++) {
        double v = a[i * cols + j];
        if (v == 0) continue;
        for (int c = 0; c < q; c++) acc[j * q + c] += v * x[i * q + c];
      }
    }
    return toFloats(acc);
  }

  /** a [rows, inner] times b [inner, cols]. */
  static float[] product(float[] a, int rows, int inner, float[] b, int cols) {
    double[] acc = new double[rows * cols];
    for (int i = 0; i < rows; i++)
      for (int p = 0; p < inner; p++) {
        double v = a[i * inner + p];
        if (v == 0) continue;
        for (int c = 0; c < cols; c++) acc[i * cols + c] += v * b[p * cols + c];
      }
    return toFloats(acc);
  }

  static float[] transpose(float[] a, int rows, int cols) {
    float[] t = new float[a.length];
    for (int i = 0; i < rows; i++)
      for (int j = 0; j < cols; j++) t[j * rows + i] = a[i * cols + j];
    return t;
  }

  private static float[] toFloats(double[] d) {
    float[] f = new float[d.length];
    for (int i = 0; i < d.length; i++) f[i] = (float) d[i];
    return f;
  }

  private static double gaussian(SplittableRandom rng) {
    double u = 1 - rng.nextDouble(), v = rng.nextDouble();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
}
