package jswift.tensor;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jswift.testing.Assert;
import jswift.testing.Rand;
import jswift.testing.Torch;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

/**
 * RMSNorm forward and backward against libtorch autograd (fp64). Tolerances: fp32 kernels with fp32 sums over
 * dim <= 4096 terms reach ~1e-6 relative error; 1e-5 absolute/relative leaves room for the summation order.
 * bf16 storage rounds each output once (relative 2^-9), so 1e-2 there.
 */
class RmsNormTest {
  @ParameterizedTest
  @CsvSource({"1, 64", "7, 80", "33, 128", "4, 4096", "3, 13", "12, 1"})
  void matchesTorchForwardAndBackward(int rows, int dim) {
    float eps = 1e-6f;
    float[] x = Rand.normal((long) rows * dim, 1);
    float[] w = Rand.uniform(dim, 2, 0.5f, 1.5f);
    float[] dy = Rand.normal((long) rows * dim, 3);

    org.bytedeco.pytorch.Tensor tx = Torch.param(x, rows, dim);
    org.bytedeco.pytorch.Tensor tw = Torch.param(w, dim);
    org.bytedeco.pytorch.Tensor ms = tx.mul(tx).mean(new long[] {-1}, true, new org.bytedeco.pytorch.ScalarTypeOptional());
    org.bytedeco.pytorch.Tensor ty = tw.mul(tx.mul(ms.add(Torch.scalar(eps)).rsqrt()));
    Torch.dot(ty, Torch.tensor(dy, rows, dim)).backward();

    try (Arena a = new Arena()) {
      Tensor jx = a.allocate(DType.F32, Device.CPU, rows, dim);
      jx.copyFrom(x);
      Tensor jw = a.allocate(DType.F32, Device.CPU, dim);
      jw.copyFrom(w);
      Tensor jdy = a.allocate(DType.F32, Device.CPU, rows, dim);
      jdy.copyFrom(dy);
      Tensor y = a.allocate(DType.F32, Device.CPU, rows, dim);
      Tensor rstd = a.allocate(DType.F32, Device.CPU, rows);
      Tensor dx = a.allocate(DType.F32, Device.CPU, rows, dim);
      Tensor dw = a.zeros(DType.F32, Device.CPU, dim);
      Kernels.rmsNormForward(jx, jw, eps, y, rstd);
      Kernels.rmsNormBackward(jdy, jx, jw, rstd, dx, dw);
      Assert.close("y", y.toFloatArray(), Torch.floats(ty), 1e-5, 1e-5);
      Assert.close("dx", dx.toFloatArray(), Torch.floats(tx.grad()), 1e-5, 1e-4);
      Assert.close("dweight", dw.toFloatArray(), Torch.floats(tw.grad()), 1e-4, 1e-4);
    }
  }

  @Test
  void bf16StorageAndQwen3HeadNorm() {
    // Qwen3 q/k norm: [tokens, heads, head_dim] normalised per head with one [head_dim] weight.
    int tokens = 5, heads = 4, headDim = 64;
    float[] x = Rand.normal((long) tokens * heads * headDim, 4);
    float[] w = Rand.uniform(headDim, 5, 0.5f, 1.5f);
    try (Tensor jx = Tensor.fromFloats(x, DType.BF16, Device.CPU, tokens, heads, headDim);
        Tensor jw = Tensor.fromFloats(w, DType.BF16, Device.CPU, headDim);
        Tensor y = Tensor.allocate(DType.BF16, Device.CPU, tokens, heads, headDim)) {
      Kernels.rmsNormForward(jx, jw, 1e-6f, y, null);
      org.bytedeco.pytorch.Tensor tx = Torch.tensor(jx.toFloatArray(), tokens, heads, headDim);
      org.bytedeco.pytorch.Tensor tw = Torch.tensor(jw.toFloatArray(), headDim);
      org.bytedeco.pytorch.Tensor ms = tx.mul(tx).mean(new long[] {-1}, true, new org.bytedeco.pytorch.ScalarTypeOptional());
      org.bytedeco.pytorch.Tensor ty = tw.mul(tx.mul(ms.add(Torch.scalar(1e-6)).rsqrt()));
      Assert.close("y bf16", y.toFloatArray(), Torch.floats(ty), 1e-2, 1e-2);
    }
  }

  @Test
  void rejectsMismatchedShapesBeforeNativeCode() {
    try (Arena a = new Arena()) {
      Tensor x = a.zeros(DType.F32, Device.CPU, 4, 64);
      Tensor w = a.zeros(DType.F32, Device.CPU, 32);
      Tensor y = a.zeros(DType.F32, Device.CPU, 4, 64);
      IllegalArgumentException e =
          assertThrows(IllegalArgumentException.class, () -> Kernels.rmsNormForward(x, w, 1e-6f, y, null));
      assertTrue(e.getMessage().contains("weight must have shape [64]"), e.getMessage());
      Tensor wb = a.zeros(DType.BF16, Device.CPU, 64);
      e = assertThrows(IllegalArgumentException.class, () -> Kernels.rmsNormForward(x, wb, 1e-6f, y, null));
      assertTrue(e.getMessage().contains("dtype float32"), e.getMessage());
      Tensor rstd = a.zeros(DType.F32, Device.CPU, 3);
      Tensor w64 = a.zeros(DType.F32, Device.CPU, 64);
      e = assertThrows(IllegalArgumentException.class, () -> Kernels.rmsNormForward(x, w64, 1e-6f, y, rstd));
      assertTrue(e.getMessage().contains("rstd must have 4 elements"), e.getMessage());
    }
  }
}
