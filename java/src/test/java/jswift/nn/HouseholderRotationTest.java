package jswift.nn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jswift.testing.Rand;
import jswift.testing.Torch;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;

/**
 * The Householder parametrization of ReFT's rotation: orthonormal columns for any parameter, R(0) the matrix it was
 * built from, and the parameter's gradient against central finite differences of sum(G . R(A)).
 */
class HouseholderRotationTest {
  private static final int D = 11, R = 4;

  private static double[][] gram(float[] m, int d, int r) {
    double[][] g = new double[r][r];
    for (int a = 0; a < r; a++)
      for (int b = 0; b < r; b++)
        for (int i = 0; i < d; i++) g[a][b] += (double) m[i * r + a] * m[i * r + b];
    return g;
  }

  private static void assertOrthonormal(float[] m, int d, int r) {
    double[][] g = gram(m, d, r);
    for (int a = 0; a < r; a++)
      for (int b = 0; b < r; b++) assertEquals(a == b ? 1 : 0, g[a][b], 1e-5, "R^T R at " + a + "," + b);
  }

  @Test
  void everyParameterGivesOrthonormalColumns() {
    HouseholderRotation h = HouseholderRotation.random(D, R, 3);
    assertOrthonormal(h.rotation(new float[D * R]), D, R);
    assertOrthonormal(h.rotation(Rand.normal(D * R, 5, 0.7f)), D, R);
  }

  @Test
  void startsAtTheMatrixItWasBuiltFrom() {
    float[] x = HouseholderRotation.random(D, R, 9).rotation(Rand.normal(D * R, 1, 0.3f));
    HouseholderRotation h = HouseholderRotation.of(x, D, R);
    float[] r0 = h.rotation(new float[D * R]);
    for (int i = 0; i < x.length; i++) assertEquals(x[i], r0[i], 1e-6, "R(0) at " + i);
    // restored from its record, the same map
    HouseholderRotation back = HouseholderRotation.restored(h.baseReflectors(), h.signs(), D, R);
    float[] a = Rand.normal(D * R, 2, 0.4f);
    float[] r1 = h.rotation(a), r2 = back.rotation(a);
    for (int i = 0; i < r1.length; i++) assertEquals(r1[i], r2[i], 1e-6);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> HouseholderRotation.of(Rand.normal(D * R, 4), D, R));
    assertTrue(e.getMessage().contains("orthonormal"), e.getMessage());
  }

  @Test
  void randomStartHasPositiveDiagonalFactor() {
    // the Q of a QR with a positive diagonal: Q^T x is upper triangular with a positive diagonal for the Gaussian x
    // it came from; here it is enough that two seeds differ and each is orthonormal
    float[] a = HouseholderRotation.random(D, R, 1).rotation(new float[D * R]);
    float[] b = HouseholderRotation.random(D, R, 2).rotation(new float[D * R]);
    assertOrthonormal(a, D, R);
    double diff = 0;
    for (int i = 0; i < a.length; i++) diff += Math.abs(a[i] - b[i]);
    assertTrue(diff > 0.1, "seeds give different rotations");
  }

  @Test
  void gradientMatchesFiniteDifferences() {
    HouseholderRotation h = HouseholderRotation.random(D, R, 7);
    float[] a = Rand.normal(D * R, 11, 0.5f), g = Rand.normal(D * R, 12);
    float[] da = h.gradient(a, g);
    for (int i = 0; i < D; i++)
      for (int k = 0; k < R; k++) {
        int at = i * R + k;
        double numeric = (loss(h, a, g, at, 1e-3) - loss(h, a, g, at, -1e-3)) / 2e-3;
        assertEquals(numeric, da[at], 2e-3 + 1e-2 * Math.abs(numeric), "dA[" + i + "][" + k + "]");
        if (i <= k) assertEquals(0f, da[at], "on or above the diagonal A is not read");
      }
  }

  /**
   * torch's own map (parametrizations.orthogonal, Householder, with its base): base @ (householder_product(tril(X,
   * -1), 2 / (1 + |column|^2)) * diag(X).int()), the diagonal -1 as torch leaves it; this rotation with signs -1 and
   * the same base must give the same matrix and, through autograd, the same gradient.
   */
  @Test
  void matchesTorchsOrthogonalParametrization() {
    Torch.load();
    HouseholderRotation random = HouseholderRotation.random(D, R, 21);
    float[] minusOnes = new float[R];
    java.util.Arrays.fill(minusOnes, -1f);
    HouseholderRotation h = HouseholderRotation.restored(random.baseReflectors(), minusOnes, D, R);
    // the base, dense: B = G_0 ... G_{r-1}, applied to the identity right to left
    float[] v = random.baseReflectors();
    double[][] b = new double[D][D];
    for (int i = 0; i < D; i++) b[i][i] = 1;
    for (int k = R - 1; k >= 0; k--) {
      double sq = 1;
      for (int i = k + 1; i < D; i++) sq += (double) v[i * R + k] * v[i * R + k];
      double tau = 2 / sq;
      for (int j = 0; j < D; j++) {
        double s = b[k][j];
        for (int i = k + 1; i < D; i++) s += v[i * R + k] * b[i][j];
        b[k][j] -= tau * s;
        for (int i = k + 1; i < D; i++) b[i][j] -= tau * s * v[i * R + k];
      }
    }
    float[] base = new float[D * D];
    for (int i = 0; i < D; i++)
      for (int j = 0; j < D; j++) base[i * D + j] = (float) b[i][j];
    float[] a = Rand.normal(D * R, 31, 0.4f), g = Rand.normal(D * R, 32);
    for (int k = 0; k < R; k++) a[k * R + k] = -1;  // torch's diagonal
    org.bytedeco.pytorch.Tensor x = Torch.param(a, D, R);
    org.bytedeco.pytorch.Tensor lower = torch.tril(x, -1);
    org.bytedeco.pytorch.Tensor tau = lower.mul(lower).sum(new long[] {0}).add(Torch.scalar(1)).reciprocal()
        .mul(Torch.scalar(2));
    org.bytedeco.pytorch.Tensor q = torch.linalg_householder_product(lower, tau).neg();
    org.bytedeco.pytorch.Tensor rot = torch.matmul(Torch.tensor(base, D, D), q);
    Torch.dot(rot, Torch.tensor(g, D, R)).backward();
    float[] mine = h.rotation(a), theirs = Torch.floats(rot);
    for (int i = 0; i < mine.length; i++) assertEquals(theirs[i], mine[i], 1e-5, "R at " + i);
    float[] da = h.gradient(a, g), dTorch = Torch.floats(x.grad());
    for (int i = 0; i < da.length; i++) assertEquals(dTorch[i], da[i], 1e-4, "dA at " + i);
  }

  private static double loss(HouseholderRotation h, float[] a, float[] g, int at, double eps) {
    float[] moved = a.clone();
    moved[at] += (float) eps;
    float[] rot = h.rotation(moved);
    double s = 0;
    for (int i = 0; i < rot.length; i++) s += (double) g[i] * rot[i];
    return s;
  }
}
