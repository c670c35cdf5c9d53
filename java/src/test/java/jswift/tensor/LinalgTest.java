package jswift.tensor;

import static jswift.tensor.EmbeddingTest.expectMessage;

import jswift.testing.Assert;
import jswift.testing.Rand;
import jswift.testing.Torch;
import org.bytedeco.pytorch.T_TensorTensor_T;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

/**
 * The native SVD and QR against libtorch's linalg (fp64): singular values equal torch.linalg.svdvals, and the
 * singular vectors match torch's up to a sign per singular pair (sign-aligned here: a pair (u_j, v_j) and
 * (-u_j, -v_j) give the same product); Q and R equal torch.linalg.qr's up to a sign per column of Q / row of R
 * (both are Householder QR, but libtorch may use another LAPACK whose sign choices differ).
 *
 * <p>Tolerances: fp32 LAPACK on N(0,1) matrices of <= 130 columns with well-separated singular values gives
 * errors ~1e-6 relative; 1e-4 relative-norm leaves margin, while a wrong layout or transposition is O(1).
 */
class LinalgTest {
  @ParameterizedTest
  @CsvSource({"1, 1", "5, 3", "3, 5", "64, 64", "96, 40", "17, 130"})
  void svdMatchesTorch(int m, int n) {
    int k = Math.min(m, n);
    float[] a = Rand.normal((long) m * n, 11 + m);
    try (Arena ar = new Arena()) {
      Tensor ta = ar.allocate(DType.F32, Device.CPU, m, n), u = ar.allocate(DType.F32, Device.CPU, m, k),
          s = ar.allocate(DType.F32, Device.CPU, k), vt = ar.allocate(DType.F32, Device.CPU, k, n);
      ta.copyFrom(a);
      Kernels.svd(ta, u, s, vt);
      var t = Torch.tensor(a, m, n);
      Assert.close("singular values", s.toFloatArray(), Torch.floats(torch.linalg_svdvals(t)), 1e-5, 1e-5);
      var usv = torch.linalg_svd(t, false, new org.bytedeco.pytorch.StringViewOptional());
      float[] tu = Torch.floats(usv.get0()), tvt = Torch.floats(usv.get2());
      java.lang.ref.Reference.reachabilityFence(usv);  // get0 / get2 point into the tuple: see Torch.qrQ
      float[] gu = u.toFloatArray(), gvt = vt.toFloatArray();
      for (int j = 0; j < k; j++) {
        double dot = 0;
        for (int c = 0; c < n; c++) dot += gvt[j * n + c] * tvt[j * n + c];
        float sign = dot < 0 ? -1 : 1;
        for (int c = 0; c < n; c++) gvt[j * n + c] *= sign;
        for (int i = 0; i < m; i++) gu[i * k + j] *= sign;
      }
      Assert.relNorm("U (sign-aligned)", gu, tu, 1e-4);
      Assert.relNorm("Vt (sign-aligned)", gvt, tvt, 1e-4);
    }
  }

  @ParameterizedTest
  @CsvSource({"1, 1", "5, 3", "3, 5", "64, 64", "96, 40", "17, 130"})
  void qrMatchesTorch(int m, int n) {
    int k = Math.min(m, n);
    float[] a = Rand.normal((long) m * n, 23 + n);
    try (Arena ar = new Arena()) {
      Tensor ta = ar.allocate(DType.F32, Device.CPU, m, n), q = ar.allocate(DType.F32, Device.CPU, m, k),
          r = ar.allocate(DType.F32, Device.CPU, k, n);
      ta.copyFrom(a);
      Kernels.qr(ta, q, r);
      T_TensorTensor_T qrT = torch.linalg_qr(Torch.tensor(a, m, n));
      float[] tq = Torch.floats(qrT.get0()), tr = Torch.floats(qrT.get1());
      java.lang.ref.Reference.reachabilityFence(qrT);  // get0 / get1 point into the tuple: see Torch.qrQ
      float[] gq = q.toFloatArray(), gr = r.toFloatArray();
      for (int j = 0; j < k; j++) {
        float sign = Math.signum(gr[j * n + j]) == Math.signum(tr[j * n + j]) ? 1 : -1;
        for (int c = 0; c < n; c++) gr[j * n + c] *= sign;
        for (int i = 0; i < m; i++) gq[i * k + j] *= sign;
      }
      Assert.relNorm("Q (sign-aligned)", gq, tq, 1e-4);
      Assert.relNorm("R (sign-aligned)", gr, tr, 1e-4);
    }
  }

  @Test
  void badArgumentsAreRefusedWithTheirNames() {
    try (Arena ar = new Arena()) {
      Tensor a = ar.allocate(DType.F32, Device.CPU, 4, 3), bf = ar.allocate(DType.BF16, Device.CPU, 4, 3);
      Tensor q = ar.allocate(DType.F32, Device.CPU, 4, 3), r = ar.allocate(DType.F32, Device.CPU, 3, 3);
      expectMessage(() -> Kernels.qr(bf, q, r), "a");
      expectMessage(() -> Kernels.qr(a, r, r), "q");
      Tensor s = ar.allocate(DType.F32, Device.CPU, 2), vt = ar.allocate(DType.F32, Device.CPU, 3, 3);
      expectMessage(() -> Kernels.svd(a, q, s, vt), "s");
    }
  }
}
