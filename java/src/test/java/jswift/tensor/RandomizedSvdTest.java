package jswift.tensor;

import static jswift.tensor.EmbeddingTest.expectMessage;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jswift.bindings.CoreNative;
import jswift.bindings.RsvdNative;
import jswift.testing.Assert;
import jswift.testing.Rand;
import jswift.testing.Torch;
import org.bytedeco.pytorch.StringViewOptional;
import org.bytedeco.pytorch.T_TensorTensorTensor_T;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@link Kernels#randomizedSvd} against libtorch's exact SVD (torch.linalg.svd, fp64) of the same fp32 matrix. The
 * matrix is built as U0 diag(sigma) V0^T from random orthonormal U0, V0 (libtorch QR) with a decaying spectrum and
 * a 10x gap after the r-th value, so the top-r subspace is well defined and the randomized method's error bound
 * (Halko, Martinsson &amp; Tropp 2011, cor. 10.10: ~ (sigma_{k+1} / sigma_r)^(2q+1) with q power iterations) is far
 * below fp32 rounding.
 *
 * <p>Subspaces are compared by ||sin Theta||_F over the principal angles between span(u) and span(U_ref[:, :r]),
 * computed as ||u - U_ref U_ref^T u||_F (and likewise for vt): it is sign- and rotation-invariant, as the
 * singular vectors themselves are not unique. Tolerance 1e-4 on it and on the singular values (relative to
 * sigma_1): the native test measures 1e-8 .. 5e-6 for such matrices; a subspace missing even one direction is ~1 away.
 */
class RandomizedSvdTest {
  private static final int OVERSAMPLE = 8;
  private static final int POWER_ITERS = 2;

  @ParameterizedTest
  @CsvSource({"300, 97, 12", "64, 301, 5", "128, 128, 20", "65, 47, 1", "1, 33, 1"})
  void topSubspaceMatchesTorchSvd(int m, int n, int r) {
    int k = Math.min(m, n);
    double[] sigma = new double[k];
    for (int i = 0; i < k; i++) sigma[i] = i < r ? 1.0 - 0.5 * i / r : 0.05 * Math.pow(0.9, i - r);
    float[] g = knownSpectrum(m, n, sigma, 5 + m + n);
    try (Arena ar = new Arena()) {
      Tensor a = ar.allocate(DType.F32, Device.CPU, m, n), u = ar.allocate(DType.F32, Device.CPU, m, r),
          s = ar.allocate(DType.F32, Device.CPU, r), vt = ar.allocate(DType.F32, Device.CPU, r, n);
      a.copyFrom(g);
      Kernels.randomizedSvd(a, u, s, vt, OVERSAMPLE, POWER_ITERS, 17);
      T_TensorTensorTensor_T ref = torch.linalg_svd(Torch.tensor(g, m, n), false, new StringViewOptional());
      var uRef = ref.get0().narrow(1, 0, r);
      var vRef = ref.get2().narrow(0, 0, r).t();
      double du = sinTheta(uRef, Torch.tensor(u.toFloatArray(), m, r));
      double dv = sinTheta(vRef, Torch.tensor(vt.toFloatArray(), r, n).t());
      assertTrue(du < 1e-4, "left subspace ||sin Theta||_F = " + du);
      assertTrue(dv < 1e-4, "right subspace ||sin Theta||_F = " + dv);
      float[] sRef = Torch.floats(ref.get1().narrow(0, 0, r));
      Assert.close("singular values", s.toFloatArray(), sRef, 1e-4 * sRef[0], 0);
      java.lang.ref.Reference.reachabilityFence(ref);  // get0 / get1 / get2 point into the tuple: see Torch.qrQ
    }
  }

  @Test
  void sameSeedSameResultAndTheExactPathAgreesOnALowRankMatrix() {
    // rank(a) = 4 <= r + oversample: the sketch spans a's range exactly, so the randomized result equals the full
    // SVD's leading factors (up to sign): U S Vt must rebuild a to fp32 rounding (1e-5 relative norm).
    int m = 40, n = 90, r = 4;
    float[] g = knownSpectrum(m, n, new double[] {4, 3, 2, 1}, 3);
    try (Arena ar = new Arena()) {
      Tensor a = ar.allocate(DType.F32, Device.CPU, m, n), u = ar.allocate(DType.F32, Device.CPU, m, r),
          s = ar.allocate(DType.F32, Device.CPU, r), vt = ar.allocate(DType.F32, Device.CPU, r, n);
      a.copyFrom(g);
      Kernels.randomizedSvd(a, u, s, vt, 3, 0, 99);
      float[] u1 = u.toFloatArray(), s1 = s.toFloatArray(), v1 = vt.toFloatArray();
      var rebuilt = Torch.tensor(u1, m, r).mul(Torch.tensor(s1, 1, r)).matmul(Torch.tensor(v1, r, n));
      Assert.relNorm("U S Vt", Torch.floats(rebuilt), g, 1e-5);
      Kernels.randomizedSvd(a, u, s, vt, 3, 0, 99);
      assertArrayEquals(u1, u.toFloatArray(), "same seed, another u");
      assertArrayEquals(v1, vt.toFloatArray(), "same seed, another vt");
    }
  }

  @Test
  void badArgumentsAreRefusedWithTheirNames() {
    try (Arena ar = new Arena()) {
      Tensor a = ar.allocate(DType.F32, Device.CPU, 6, 4), bf = ar.allocate(DType.BF16, Device.CPU, 6, 4);
      Tensor u = ar.allocate(DType.F32, Device.CPU, 6, 2), s = ar.allocate(DType.F32, Device.CPU, 2),
          vt = ar.allocate(DType.F32, Device.CPU, 2, 4);
      expectMessage(() -> Kernels.randomizedSvd(bf, u, s, vt, 2, 1, 0), "a");
      expectMessage(() -> Kernels.randomizedSvd(a, vt, s, vt, 2, 1, 0), "u");
      expectMessage(() -> Kernels.randomizedSvd(a, u, s, u, 2, 1, 0), "vt");
      Tensor s5 = ar.allocate(DType.F32, Device.CPU, 5);
      expectMessage(() -> Kernels.randomizedSvd(a, u, s5, vt, 2, 1, 0), "1 <= r <= min(m, n) = 4");
      expectMessage(() -> Kernels.randomizedSvd(a, u, s, vt, -1, 1, 0), "oversample must be >= 0");
      expectMessage(() -> Kernels.randomizedSvd(a, u, s, vt, 2, 65, 0), "powerIters must be in [0, 64]");
      Tensor freed = Tensor.allocate(DType.F32, Device.CPU, 6, 4);
      freed.close();
      expectMessage(() -> Kernels.randomizedSvd(freed, u, s, vt, 2, 1, 0), "freed");
      float[] nan = new float[24];
      nan[7] = Float.NaN;
      a.copyFrom(nan);
      expectMessage(() -> Kernels.randomizedSvd(a, u, s, vt, 2, 1, 0), "NaN");
    }
  }

  @Test
  void cAbiRejectsNullPointersBadRanksAndMissingDevices() {
    try (Arena ar = new Arena()) {
      Tensor a = ar.zeros(DType.F32, Device.CPU, 6, 4), u = ar.zeros(DType.F32, Device.CPU, 6, 2),
          s = ar.zeros(DType.F32, Device.CPU, 2), vt = ar.zeros(DType.F32, Device.CPU, 2, 4);
      int cpu = Device.CPU.index();
      assertEquals(NativeStatus.INVALID_ARGUMENT,
          RsvdNative.jsw_linalg_rsvd_f32(cpu, a.address(), 6, 4, 2, 2, 1, 0, 0L, s.address(), vt.address()));
      assertTrue(CoreNative.jsw_last_error().contains("jsw_linalg_rsvd_f32: u is a null pointer"),
          CoreNative.jsw_last_error());
      assertEquals(NativeStatus.INVALID_ARGUMENT,
          RsvdNative.jsw_linalg_rsvd_f32(cpu, a.address(), 6, 4, 5, 2, 1, 0, u.address(), s.address(), vt.address()));
      assertTrue(CoreNative.jsw_last_error().contains("rank must be in [1, min(m, n) = 4]"),
          CoreNative.jsw_last_error());
      int missing = CoreNative.jsw_cuda_device_count();
      assertEquals(NativeStatus.NO_DEVICE, RsvdNative.jsw_linalg_rsvd_f32(missing, a.address(), 6, 4, 2, 2, 1, 0,
          u.address(), s.address(), vt.address()), CoreNative.jsw_last_error());
    }
  }

  /** a = U0 diag(sigma) V0^T (fp64 in libtorch, rounded to fp32) with U0 [m, k], V0 [n, k] orthonormal. */
  static float[] knownSpectrum(int m, int n, double[] sigma, long seed) {
    int k = sigma.length;
    var u0 = Torch.qrQ(Torch.tensor(Rand.normal((long) m * k, seed), m, k));
    var v0 = Torch.qrQ(Torch.tensor(Rand.normal((long) n * k, seed + 1), n, k));
    float[] sf = new float[k];
    for (int i = 0; i < k; i++) sf[i] = (float) sigma[i];
    return Torch.floats(u0.mul(Torch.tensor(sf, 1, k)).matmul(v0.t()));
  }

  /** ||x - P P^T x||_F for P with orthonormal columns and x [rows, r] with orthonormal columns. */
  static double sinTheta(org.bytedeco.pytorch.Tensor p, org.bytedeco.pytorch.Tensor x) {
    var residual = x.sub(p.matmul(p.t().matmul(x)));
    return residual.norm().item_double();
  }
}
