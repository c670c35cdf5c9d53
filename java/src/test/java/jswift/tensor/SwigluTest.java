package jswift.tensor;

import static jswift.tensor.EmbeddingTest.expectMessage;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jswift.bindings.ActivationNative;
import jswift.bindings.CoreNative;
import jswift.testing.Assert;
import jswift.testing.Rand;
import jswift.testing.Torch;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * SwiGLU, out = silu(gate) * up, forward and backward against torch.silu with autograd (fp64). The kernel's
 * fp32 exp is within ~2 ulp and a few fp32 products follow, so outputs are within ~1e-6 relative (rtol 2e-6).
 * dgate = dout * up * silu'(gate) passes through zero near gate = -1.28 where 1 + g (1 - s) cancels, so its
 * error there is absolute, ~1e-8 for |dout * up| ~ 1 in fp32: atol 1e-6 covers it.
 */
class SwigluTest {
  @ParameterizedTest
  @CsvSource({"1, 1, 1", "1, 1, 7", "3, 5, 11", "8, 128, 344", "1, 1, 100003"})
  void matchesTorchForwardAndBackward(int a0, int a1, int a2) {
    long n = (long) a0 * a1 * a2;
    float[] g = Rand.normal(n, 1, 4.0f); // wide range: both tails of the sigmoid
    float[] u = Rand.normal(n, 2);
    float[] d = Rand.normal(n, 3);
    var tg = Torch.param(g, a0, a1, a2);
    var tu = Torch.param(u, a0, a1, a2);
    var tOut = torch.silu(tg).mul(tu);
    Torch.dot(tOut, Torch.tensor(d, a0, a1, a2)).backward();
    try (Arena a = new Arena()) {
      Tensor gate = a.allocate(DType.F32, Device.CPU, a0, a1, a2);
      gate.copyFrom(g);
      Tensor up = a.allocate(DType.F32, Device.CPU, a0, a1, a2);
      up.copyFrom(u);
      Tensor dout = a.allocate(DType.F32, Device.CPU, a0, a1, a2);
      dout.copyFrom(d);
      Tensor out = a.allocate(DType.F32, Device.CPU, a0, a1, a2);
      Tensor dgate = a.allocate(DType.F32, Device.CPU, a0, a1, a2);
      Tensor dup = a.allocate(DType.F32, Device.CPU, a0, a1, a2);
      Kernels.swigluForward(gate, up, out);
      Kernels.swigluBackward(dout, gate, up, dgate, dup);
      Assert.close("out", out.toFloatArray(), Torch.floats(tOut), 1e-6, 2e-6);
      Assert.close("dgate", dgate.toFloatArray(), Torch.floats(tg.grad()), 1e-6, 2e-6);
      Assert.close("dup", dup.toFloatArray(), Torch.floats(tu.grad()), 1e-6, 2e-6);
    }
  }

  @Test
  void extremeGates() {
    // Far tails: silu(-1e30) = 0 and silu(1e30) = 1e30 exactly as torch gives them; no NaN from exp overflow.
    float[] g = {-1e30f, 1e30f, -100f, 100f, -88.5f, 88.5f, 0f};
    float[] u = {1, 1, 1, 1, 1, 1, 1};
    var tg = Torch.param(g, g.length);
    var tOut = torch.silu(tg).mul(Torch.tensor(u, u.length));
    Torch.dot(tOut, Torch.tensor(u, u.length)).backward();
    try (Tensor gate = Tensor.fromFloats(g, DType.F32, Device.CPU, g.length);
        Tensor up = Tensor.fromFloats(u, DType.F32, Device.CPU, u.length);
        Tensor out = Tensor.allocate(DType.F32, Device.CPU, g.length);
        Tensor dgate = Tensor.allocate(DType.F32, Device.CPU, g.length);
        Tensor dup = Tensor.allocate(DType.F32, Device.CPU, g.length)) {
      Kernels.swigluForward(gate, up, out);
      Kernels.swigluBackward(up, gate, up, dgate, dup);
      // e^-88 and below flush to zero in the kernel (torch keeps denormals ~1e-37): atol 1e-30 absorbs that.
      Assert.close("out", out.toFloatArray(), Torch.floats(tOut), 1e-30, 2e-6);
      Assert.close("dgate", dgate.toFloatArray(), Torch.floats(tg.grad()), 1e-30, 2e-6);
    }
  }

  @Test
  void halfStorageMatchesTorch() {
    int n = 777;
    for (DType dtype : new DType[] {DType.BF16, DType.F16}) {
      try (Tensor gate = Tensor.fromFloats(Rand.normal(n, 4, 3.0f), dtype, Device.CPU, n);
          Tensor up = Tensor.fromFloats(Rand.normal(n, 5), dtype, Device.CPU, n);
          Tensor out = Tensor.allocate(dtype, Device.CPU, n)) {
        Kernels.swigluForward(gate, up, out);
        var want = torch.silu(Torch.tensor(gate.toFloatArray(), n)).mul(Torch.tensor(up.toFloatArray(), n));
        // exactly representable inputs, fp32 math, one rounding of the output: 2^-9 (bf16) / 2^-12 (f16)
        // relative, with a factor 2 of room; atol for f16's subnormal outputs
        double rtol = dtype == DType.BF16 ? 4e-3 : 5e-4;
        Assert.close(dtype + " out", out.toFloatArray(), Torch.floats(want), 1e-6, rtol);
      }
    }
  }

  @Test
  void rejectsBadArgumentsBeforeNativeCode() {
    try (Arena a = new Arena()) {
      Tensor gate = a.zeros(DType.F32, Device.CPU, 4, 6);
      Tensor up = a.zeros(DType.F32, Device.CPU, 4, 6);
      Tensor out = a.zeros(DType.F32, Device.CPU, 4, 6);
      expectMessage(() -> Kernels.swigluForward(gate, a.zeros(DType.F32, Device.CPU, 24), out),
          "up must have shape [4, 6]");
      expectMessage(() -> Kernels.swigluForward(gate, up, a.zeros(DType.BF16, Device.CPU, 4, 6)),
          "out must have dtype float32");
      expectMessage(() -> Kernels.swigluForward(a.zeros(DType.I32, Device.CPU, 4, 6), up, out),
          "gate must be f32, bf16 or f16");
      expectMessage(() -> Kernels.swigluBackward(out, gate, up, ElsewhereTensors.onCuda(DType.F32, 4, 6), out),
          "dgate is on cuda:0 but the op runs on cpu");
      Tensor freed = Tensor.zeros(DType.F32, Device.CPU, 4, 6);
      freed.close();
      expectMessage(() -> Kernels.swigluBackward(freed, gate, up, out, out), "dout was already freed");
      // straight at the C ABI: negative n
      assertEquals(NativeStatus.INVALID_ARGUMENT,
          ActivationNative.jsw_swiglu_fwd(-1, DType.F32.code(), gate.address(), up.address(), -3, out.address()));
      assertTrue(CoreNative.jsw_last_error().contains("jsw_swiglu_fwd: n must be >= 0"), CoreNative.jsw_last_error());
    }
  }
}
