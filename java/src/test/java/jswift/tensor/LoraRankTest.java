package jswift.tensor;

import static jswift.tensor.EmbeddingTest.expectMessage;

import jswift.testing.Assert;
import jswift.testing.Rand;
import jswift.testing.Torch;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

/**
 * LoRA's low-rank halves with the dropout inside ({@link Kernels#loraDown}, {@link Kernels#loraUpGrad}) against
 * torch autograd in fp64 of z = s (x * mask) A^T with upstream gradient g: xa = z / s, and the gradients of x and A
 * are dx = s (g A) * mask and dA = s g^T (x * mask). The mask is the kernel's own ({@link Kernels#dropout} of ones:
 * the multipliers 0 or 1/(1-p)). fp32 products of at most ~130 terms of magnitude ~1: atol / rtol 1e-4.
 */
class LoraRankTest {
  private record Case(int rows, int in, int rank, float[] x, float[] a, float[] g, float[] da0) {
    static Case of(int rows, int in, int rank, long seed) {
      return new Case(rows, in, rank, Rand.normal((long) rows * in, seed),
          Rand.normal((long) rank * in, seed + 1, (float) (1 / Math.sqrt(in))),
          Rand.normal((long) rows * rank, seed + 2),
          Rand.uniform((long) rank * in, seed + 3, -1, 1));
    }
  }

  @ParameterizedTest
  @CsvSource({"1, 8, 2, 0.0", "7, 33, 4, 0.25", "64, 96, 16, 0.1", "130, 40, 8, 0.5"})
  void matchesTorchAutogradWithTheKernelsMask(int rows, int in, int rank, float p) {
    Case c = Case.of(rows, in, rank, rows + in);
    float scale = 1.5f;
    long seed = 99;
    try (Arena ar = new Arena()) {
      Tensor x = floats(ar, c.x, rows, in), a = floats(ar, c.a, rank, in), g = floats(ar, c.g, rows, rank);
      Tensor xa = ar.allocate(DType.F32, Device.CPU, rows, rank), dx = ar.allocate(DType.F32, Device.CPU, rows, in);
      Tensor da = floats(ar, c.da0, rank, in);
      Kernels.loraDown(x, a, p, seed, xa);
      Kernels.loraUpGrad(g, x, a, scale, p, seed, dx, da);

      Tensor ones = floats(ar, filled(rows * in, 1f), rows, in), mask = ar.allocate(DType.F32, Device.CPU, rows, in);
      Kernels.dropout(ones, p, seed, mask);
      var tx = Torch.param(c.x, rows, in);
      var ta = Torch.param(c.a, rank, in);
      var dropped = tx.mul(Torch.tensor(mask.toFloatArray(), rows, in));
      var txa = dropped.matmul(ta.t());
      Torch.dot(txa.mul(Torch.scalar(scale)), Torch.tensor(c.g, rows, rank)).backward();

      Assert.close("xa", xa.toFloatArray(), Torch.floats(txa), 1e-4, 1e-4);
      Assert.close("dx", dx.toFloatArray(), Torch.floats(tx.grad()), 1e-4, 1e-4);
      float[] inc = da.toFloatArray();
      for (int i = 0; i < inc.length; i++) inc[i] -= c.da0[i];
      Assert.close("dA", inc, Torch.floats(ta.grad()), 1e-4, 1e-4);
    }
  }

  @Test
  void eachGradientAloneEqualsItsPartOfTheJointCall() {
    Case c = Case.of(20, 24, 4, 5);
    try (Arena ar = new Arena()) {
      Tensor x = floats(ar, c.x, 20, 24), a = floats(ar, c.a, 4, 24), g = floats(ar, c.g, 20, 4);
      Tensor dx = ar.allocate(DType.F32, Device.CPU, 20, 24), da = ar.zeros(DType.F32, Device.CPU, 4, 24);
      Kernels.loraUpGrad(g, x, a, 2f, 0.2f, 3, dx, da);
      Tensor dxAlone = ar.allocate(DType.F32, Device.CPU, 20, 24), daAlone = ar.zeros(DType.F32, Device.CPU, 4, 24);
      Kernels.loraUpGrad(g, null, a, 2f, 0.2f, 3, dxAlone, null);  // a frozen A: no x needed
      Kernels.loraUpGrad(g, x, a, 2f, 0.2f, 3, null, daAlone);
      Assert.close("dx alone", dxAlone.toFloatArray(), dx.toFloatArray(), 0, 0);
      Assert.close("dA alone", daAlone.toFloatArray(), da.toFloatArray(), 0, 0);
    }
  }

  @Test
  void rejectsBadArgumentsBeforeNativeCode() {
    try (Arena ar = new Arena()) {
      Tensor x = ar.zeros(DType.F32, Device.CPU, 3, 8), a = ar.zeros(DType.F32, Device.CPU, 2, 8);
      Tensor g = ar.zeros(DType.F32, Device.CPU, 3, 2), xa = ar.zeros(DType.F32, Device.CPU, 3, 2);
      expectMessage(() -> Kernels.loraDown(x, ar.zeros(DType.F32, Device.CPU, 2, 7), 0f, 0, xa),
          "loraA must have shape [2, 8]");
      expectMessage(() -> Kernels.loraDown(x, a, 0f, 0, ar.zeros(DType.F32, Device.CPU, 3, 3)),
          "xa must have shape [3, 2]");
      expectMessage(() -> Kernels.loraDown(x, a, 1f, 0, xa), "p must be in [0, 1)");
      expectMessage(() -> Kernels.loraUpGrad(ar.zeros(DType.F32, Device.CPU, 3, 4), x, a, 1f, 0f, 0, null,
          ar.zeros(DType.F32, Device.CPU, 2, 8)), "g must be [..., rank 2]");
      expectMessage(() -> Kernels.loraUpGrad(g, null, a, 1f, 0f, 0, null, ar.zeros(DType.F32, Device.CPU, 2, 8)),
          "x is needed for dA");
      expectMessage(() -> Kernels.loraUpGrad(g, x, a, 1f, 0f, 0, null, ar.zeros(DType.BF16, Device.CPU, 2, 8)),
          "dA must be f32");
      expectMessage(() -> Kernels.loraUpGrad(g, x, a, 1f, 0f, 0, ar.zeros(DType.F32, Device.CPU, 3, 7), null),
          "dx must have shape [3, 8]");
    }
  }

  private static float[] filled(int n, float v) {
    float[] r = new float[n];
    java.util.Arrays.fill(r, v);
    return r;
  }

  private static Tensor floats(Arena ar, float[] v, long... shape) {
    Tensor t = ar.allocate(DType.F32, Device.CPU, shape);
    t.copyFrom(v);
    return t;
  }
}
