package jswift.nn;

import java.util.SplittableRandom;

/**
 * A d x r matrix with orthonormal columns kept orthonormal while it trains: pyreft's {@code rotate_layer} (the R of
 * LoReFT), which torch's {@code parametrizations.orthogonal} keeps on the Stiefel manifold with its Householder map
 * and a trivialization base. The trained parameter is a d x r matrix A, of which only the part below the diagonal
 * counts:
 *
 * <pre>
 *   R(A) = B · H(A) · diag(c)
 *   H(A) = the first r columns of H_0 H_1 ... H_{r-1},  H_k = I - tau_k v_k v_k^T,
 *          v_k = e_k + (column k of A below row k),  tau_k = 2 / (v_k . v_k)
 * </pre>
 *
 * Every H_k is an exact reflection, so R(A) has orthonormal columns for any A. B (torch's {@code base}, fixed) is an
 * orthogonal d x d matrix that this class holds as r reflectors of the same form (torch holds it dense: d^2 numbers a
 * layer; here d r), and c the fixed column signs (torch's sign-carrying diagonal of the parameter). At A = 0, H(A) is
 * minus the first r columns of the identity, so R(0) = -B[:, :r] diag(c): {@link #of} chooses B and c so that R(0)
 * is a given matrix (the initial rotation, or one read from a checkpoint).
 *
 * <p>One difference from torch: torch reads the signs from the parameter's own diagonal ({@code .int()} of it), which
 * weight decay shrinks from -1 towards 0 until the truncation zeroes the column; here the signs are fixed, so weight
 * decay touches only A. Work is O(d r^2) in double on the host, small beside the layer's matmuls.
 */
public final class HouseholderRotation {
  private final int d, r;
  private final double[] base;   // d x r, row-major: column k holds the reflector vector of B's k-th factor
  private final double[] signs;  // r

  private HouseholderRotation(int d, int r, double[] base, double[] signs) {
    this.d = d;
    this.r = r;
    this.base = base;
    this.signs = signs;
  }

  /** The rows (d) and columns (r) of R. */
  public int rows() {
    return d;
  }

  public int columns() {
    return r;
  }

  /**
   * The rotation whose R(0) is {@code x} (d x r row-major, orthonormal columns): B from the Householder QR of x, whose
   * triangular factor is then diag(+-1), and c its signs, negated.
   *
   * @throws IllegalArgumentException when x is not d x r with r <= d, or its columns are not orthonormal (to 1e-3)
   */
  public static HouseholderRotation of(float[] x, int d, int r) {
    if (x.length != d * r)
      throw new IllegalArgumentException("a rotation of " + d + " x " + r + " needs " + d * r + " values, got " + x.length);
    double[] q = new double[d * r];
    for (int i = 0; i < q.length; i++) q[i] = x[i];
    double[] diag = new double[r];
    HouseholderRotation h = factor(q, d, r, diag);
    for (int k = 0; k < r; k++) {
      if (Math.abs(Math.abs(diag[k]) - 1) > 1e-3)
        throw new IllegalArgumentException("the rotation's columns are not orthonormal (column " + k + " has norm "
            + "or overlap off by " + Math.abs(Math.abs(diag[k]) - 1) + ")");
      h.signs[k] = -Math.signum(diag[k]);
    }
    return h;
  }

  /**
   * A random rotation, uniform over d x r matrices with orthonormal columns (torch's {@code orthogonal_} init: the
   * Q of a Gaussian matrix's QR with a positive diagonal), from {@code seed}.
   */
  public static HouseholderRotation random(int d, int r, long seed) {
    SplittableRandom g = new SplittableRandom(seed);
    java.util.Random gauss = new java.util.Random(g.nextLong());
    double[] q = new double[d * r];
    for (int i = 0; i < q.length; i++) q[i] = gauss.nextGaussian();
    double[] diag = new double[r];
    HouseholderRotation h = factor(q, d, r, diag);
    // x = B [T; 0] with diag(T) = diag; R(0) = -B[:, :r] diag(c) = B[:, :r] diag(sign(diag)): the positive-diagonal Q
    for (int k = 0; k < r; k++) h.signs[k] = -Math.signum(diag[k]);
    return h;
  }

  /** Householder QR of q (d x r, overwritten): the reflectors as a rotation (signs unset) and T's diagonal. */
  private static HouseholderRotation factor(double[] q, int d, int r, double[] diag) {
    if (r < 1 || r > d) throw new IllegalArgumentException("a rotation needs 1 <= r <= d, got d " + d + ", r " + r);
    double[] base = new double[d * r];
    for (int k = 0; k < r; k++) {
      double norm = 0;
      for (int i = k; i < d; i++) norm += q[i * r + k] * q[i * r + k];
      norm = Math.sqrt(norm);
      double alpha = q[k * r + k];
      double beta = alpha >= 0 ? -norm : norm;  // reflect x onto beta e_k, away from x to avoid cancellation
      if (norm == 0) throw new IllegalArgumentException("the rotation's column " + k + " is zero");
      base[k * r + k] = 1;
      // rounded to float: a checkpoint keeps the base as float32, and a resumed run must rotate exactly as this one
      for (int i = k + 1; i < d; i++) base[i * r + k] = (float) (q[i * r + k] / (alpha - beta));
      diag[k] = beta;
      // apply the reflector to the remaining columns
      double tau = tau(base, d, r, k);
      for (int j = k; j < r; j++) {
        double s = 0;
        for (int i = k; i < d; i++) s += base[i * r + k] * q[i * r + j];
        for (int i = k; i < d; i++) q[i * r + j] -= tau * s * base[i * r + k];
      }
    }
    return new HouseholderRotation(d, r, base, new double[r]);
  }

  /** 2 / (v_k . v_k) for the reflector in column k of v (d x r, entry k of the column taken as 1). */
  private static double tau(double[] v, int d, int r, int k) {
    double sq = 1;
    for (int i = k + 1; i < d; i++) sq += v[i * r + k] * v[i * r + k];
    return 2 / sq;
  }

  /** m (d x r) = H_k m for the reflector in column k of v (entries above k ignored, entry k taken as 1). */
  private static void reflect(double[] v, int d, int r, int k, double[] m) {
    double tau = tau(v, d, r, k);
    for (int j = 0; j < r; j++) {
      double s = m[k * r + j];
      for (int i = k + 1; i < d; i++) s += v[i * r + k] * m[i * r + j];
      s *= tau;
      m[k * r + j] -= s;
      for (int i = k + 1; i < d; i++) m[i * r + j] -= s * v[i * r + k];
    }
  }

  private double[] asDouble(float[] a) {
    if (a.length != d * r)
      throw new IllegalArgumentException("the rotation's parameter has " + a.length + " values, it needs " + d + " x " + r);
    double[] out = new double[a.length];
    for (int i = 0; i < a.length; i++) out[i] = a[i];
    return out;
  }

  /** H(A)'s factors applied right to left: ys[k] = H_k ... H_{r-1} E (ys[r] = E, the first r columns of I). */
  private double[][] partialProducts(double[] a) {
    double[][] ys = new double[r + 1][];
    double[] m = new double[d * r];
    for (int k = 0; k < r; k++) m[k * r + k] = 1;
    ys[r] = m.clone();
    for (int k = r - 1; k >= 0; k--) {
      reflect(a, d, r, k, m);
      ys[k] = m.clone();
    }
    return ys;
  }

  /** R(A), d x r row-major, for the parameter a (d x r row-major). */
  public float[] rotation(float[] a) {
    double[] m = partialProducts(asDouble(a))[0];
    for (int i = 0; i < d; i++)
      for (int j = 0; j < r; j++) m[i * r + j] *= signs[j];
    for (int k = r - 1; k >= 0; k--) reflect(base, d, r, k, m);
    float[] out = new float[d * r];
    for (int i = 0; i < out.length; i++) out[i] = (float) m[i];
    return out;
  }

  /**
   * The gradient for the parameter a given the gradient dR of R(a) (both d x r row-major): zero on and above the
   * diagonal, which R does not read.
   */
  public float[] gradient(float[] a, float[] dR) {
    double[] av = asDouble(a);
    double[][] ys = partialProducts(av);
    double[] g = asDouble(dR);
    for (int k = 0; k < r; k++) reflect(base, d, r, k, g);  // B^T dR (each factor is symmetric)
    for (int i = 0; i < d; i++)
      for (int j = 0; j < r; j++) g[i * r + j] *= signs[j];
    double[] da = new double[d * r];
    double[] p = new double[r], w = new double[r], v = new double[d];
    for (int k = 0; k < r; k++) {
      // ys[k] = H_k ys[k+1]; g is the gradient of ys[k]
      double[] y = ys[k + 1];
      double tau = tau(av, d, r, k);
      java.util.Arrays.fill(v, 0);
      v[k] = 1;
      for (int i = k + 1; i < d; i++) v[i] = av[i * r + k];
      for (int j = 0; j < r; j++) {
        double pj = 0, wj = 0;
        for (int i = k; i < d; i++) {
          pj += g[i * r + j] * v[i];
          wj += y[i * r + j] * v[i];
        }
        p[j] = pj;
        w[j] = wj;
      }
      double dtau = 0;
      for (int j = 0; j < r; j++) dtau -= p[j] * w[j];
      // dv = -tau (g w + y p); tau = 2 / (1 + |a_k|^2) gives d tau / d a_k = -tau^2 a_k
      for (int i = k + 1; i < d; i++) {
        double dv = 0;
        for (int j = 0; j < r; j++) dv += g[i * r + j] * w[j] + y[i * r + j] * p[j];
        da[i * r + k] = -tau * dv - dtau * tau * tau * v[i];
      }
      reflect(av, d, r, k, g);  // the gradient of ys[k+1] = H_k^T g
    }
    float[] out = new float[d * r];
    for (int i = 0; i < out.length; i++) out[i] = (float) da[i];
    return out;
  }

  /** B's reflectors (d x r row-major, column k below row k; entry k is 1) and the signs c: a checkpoint's record. */
  public float[] baseReflectors() {
    float[] out = new float[d * r];
    for (int i = 0; i < out.length; i++) out[i] = (float) base[i];
    return out;
  }

  public float[] signs() {
    float[] out = new float[r];
    for (int i = 0; i < r; i++) out[i] = (float) signs[i];
    return out;
  }

  /** The rotation with these reflectors and signs (as {@link #baseReflectors} and {@link #signs} give them). */
  public static HouseholderRotation restored(float[] baseReflectors, float[] signs, int d, int r) {
    if (baseReflectors.length != d * r || signs.length != r)
      throw new IllegalArgumentException("a rotation's base is " + d + " x " + r + " with " + r + " signs, got "
          + baseReflectors.length + " and " + signs.length + " values");
    double[] b = new double[d * r], c = new double[r];
    for (int i = 0; i < b.length; i++) b[i] = baseReflectors[i];
    for (int k = 0; k < r; k++) {
      if (Math.abs(signs[k]) != 1) throw new IllegalArgumentException("a rotation's signs are +-1, got " + signs[k]);
      c[k] = signs[k];
    }
    return new HouseholderRotation(d, r, b, c);
  }
}
