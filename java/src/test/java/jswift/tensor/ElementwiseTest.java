package jswift.tensor;

import static org.junit.jupiter.api.Assertions.assertThrows;

import jswift.testing.Assert;
import jswift.testing.Rand;
import jswift.testing.Torch;
import org.junit.jupiter.api.Test;

/** Bias add and its gradient against libtorch (fp64); exact for the add (one fp32 rounding of the same sum). */
class ElementwiseTest {
  @Test
  void biasAddAndItsGradientMatchTorch() {
    int rows = 9, cols = 70;
    float[] x = Rand.normal((long) rows * cols, 1), b = Rand.normal(cols, 2), dy = Rand.normal((long) rows * cols, 3);
    org.bytedeco.pytorch.Tensor tb = Torch.param(b, cols);
    org.bytedeco.pytorch.Tensor ty = Torch.tensor(x, rows, cols).add(tb);
    Torch.dot(ty, Torch.tensor(dy, rows, cols)).backward();
    try (Arena a = new Arena()) {
      Tensor y = a.allocate(DType.F32, Device.CPU, rows, cols);
      y.copyFrom(x);
      Tensor bias = a.allocate(DType.F32, Device.CPU, cols);
      bias.copyFrom(b);
      Kernels.addBias(y, bias);
      Assert.close("y", y.toFloatArray(), Torch.floats(ty), 1e-6, 1e-6);
      Tensor g = a.allocate(DType.F32, Device.CPU, rows, cols);
      g.copyFrom(dy);
      Tensor db = a.zeros(DType.F32, Device.CPU, cols);
      Kernels.sumRows(g, db);
      Assert.close("dbias", db.toFloatArray(), Torch.floats(tb.grad()), 1e-5, 1e-5);
      Tensor wrong = a.zeros(DType.F32, Device.CPU, cols + 1);
      assertThrows(IllegalArgumentException.class, () -> Kernels.addBias(y, wrong));
      assertThrows(IllegalArgumentException.class, () -> Kernels.sumRows(g, a.zeros(DType.BF16, Device.CPU, cols)));
    }
  }
}
