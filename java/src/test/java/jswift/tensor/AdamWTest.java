package jswift.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jswift.bindings.CoreNative;
import jswift.bindings.OptimNative;
import jswift.testing.Assert;
import jswift.testing.Rand;
import jswift.testing.Torch;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.pytorch.AdamW;
import org.bytedeco.pytorch.AdamWOptions;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Fused AdamW, gradient norm and clipping coefficient against libtorch's own C++ optimizer
 * (torch::optim::AdamW, the operation order the jswift contract follows) and torch::nn::utils::clip_grad_norm_,
 * both on fp64 parameters.
 *
 * <p>Tolerances: jswift keeps fp32 state, so after a few steps the moments carry ~1e-6 relative error; a step
 * moves a parameter by about lr, and that move is accurate to ~1e-6 relative, so parameters agree with the
 * fp64 optimizer to 1e-6 absolute + 1e-6 relative (orders of magnitude below one step of 1e-3). Norms are fp32
 * sums of ~2000 squares combined in fp64: 1e-6 relative.
 */
class AdamWTest {
  private static final int[] SIZES = {1, 1003};

  /** torch's AdamW with these hyper-parameters. */
  private static AdamW torchAdamW(TensorVector params, double lr, double beta1, double beta2, double eps,
      double weightDecay) {
    AdamWOptions options = new AdamWOptions(lr);
    // std::tuple<double, double> crosses as two doubles whose order is the C++ library's layout (libstdc++ puts
    // the last element first): read the default (0.9, 0.999) to find which slot holds beta1.
    DoublePointer betas = options.betas();
    int beta1Slot = betas.get(0) == 0.9 ? 0 : 1;
    betas.put(beta1Slot, beta1).put(1 - beta1Slot, beta2);
    options.eps().put(eps);
    options.weight_decay().put(weightDecay);
    return new AdamW(params, options);
  }

  @ParameterizedTest(name = "lr={0} betas=({1}, {2}) eps={3} wd={4} gradScale={5}")
  @CsvSource({"1e-3, 0.9, 0.999, 1e-8, 0.01, 1.0", "3e-2, 0.8, 0.95, 1e-6, 0.1, 0.25",
      "1e-3, 0.9, 0.999, 1e-8, 0, 2.0"})
  void matchesTorchAdamWOverSeveralSteps(float lr, float beta1, float beta2, float eps, float wd, float scale) {
    int steps = 5;
    try (Arena a = new Arena()) {
      TensorVector torchParams = new TensorVector();
      Tensor[] p = new Tensor[SIZES.length], m = new Tensor[SIZES.length], v = new Tensor[SIZES.length];
      Tensor[] copy = new Tensor[SIZES.length];
      for (int i = 0; i < SIZES.length; i++) {
        float[] init = Rand.normal(SIZES[i], 10 + i);
        torchParams.push_back(Torch.param(init, SIZES[i]));
        p[i] = a.allocate(DType.F32, Device.CPU, SIZES[i]);
        p[i].copyFrom(init);
        m[i] = a.zeros(DType.F32, Device.CPU, SIZES[i]);
        v[i] = a.zeros(DType.F32, Device.CPU, SIZES[i]);
        copy[i] = a.allocate(DType.BF16, Device.CPU, SIZES[i]);
      }
      Tensor gradScale = a.allocate(DType.F32, Device.CPU, 1);
      gradScale.copyFrom(new float[] {scale});
      AdamW opt = torchAdamW(torchParams, lr, beta1, beta2, eps, wd);
      for (int s = 1; s <= steps; s++) {
        opt.zero_grad();
        for (int i = 0; i < SIZES.length; i++) {
          float[] g = Rand.normal(SIZES[i], 100L * s + i, 0.5f);
          // torch sees the scaled gradient (what clipping by gradScale produces); jswift scales on the fly.
          float[] scaled = new float[g.length];
          for (int k = 0; k < g.length; k++) scaled[k] = g[k] * scale;
          Torch.dot(torchParams.get(i), Torch.tensor(scaled, SIZES[i])).backward();
          try (Tensor grad = Tensor.fromFloats(g, DType.F32, Device.CPU, SIZES[i])) {
            Kernels.adamwStep(p[i], grad, m[i], v[i], lr, beta1, beta2, eps, wd, s, scale == 1f ? null : gradScale,
                copy[i]);
          }
        }
        opt.step();
        for (int i = 0; i < SIZES.length; i++)
          Assert.close("param " + i + " after step " + s, p[i].toFloatArray(), Torch.floats(torchParams.get(i)), 1e-6,
              1e-6);
      }
      for (int i = 0; i < SIZES.length; i++) {
        try (Tensor rounded = p[i].to(DType.BF16)) {
          assertArrayEquals(rounded.toFloatArray(), copy[i].toFloatArray(), "bf16 copy = updated param rounded once");
        }
      }
    }
  }

  @ParameterizedTest(name = "maxNorm={0}")
  @CsvSource({"0.5", "1e6", "0"})
  void globalNormAndClipCoefficientMatchClipGradNorm(double maxNorm) {
    try (Arena a = new Arena()) {
      Tensor acc = a.zeros(DType.F32, Device.CPU, 1);
      float[][] grads = new float[SIZES.length][];
      for (int i = 0; i < SIZES.length; i++) {
        try (Tensor g = Tensor.fromFloats(Rand.normal(SIZES[i], 50 + i, 0.1f), DType.BF16, Device.CPU, SIZES[i])) {
          grads[i] = g.toFloatArray(); // the bf16 values jswift sums, given to torch too
          Kernels.sumOfSquares(g, acc); // accumulates over the tensors
        }
      }
      TensorVector torchParams = new TensorVector();
      for (int i = 0; i < SIZES.length; i++) {
        org.bytedeco.pytorch.Tensor tp = Torch.param(new float[SIZES[i]], SIZES[i]);
        Torch.dot(tp, Torch.tensor(grads[i], SIZES[i])).backward();
        torchParams.push_back(tp);
      }
      double before = Torch.floats(torchParams.get(1).grad())[0];
      double totalNorm = torch.clip_grad_norm_(torchParams, maxNorm > 0 ? maxNorm : Double.MAX_VALUE);
      double torchCoef = Torch.floats(torchParams.get(1).grad())[0] / before;
      Tensor norm = a.allocate(DType.F32, Device.CPU, 1), coef = a.allocate(DType.F32, Device.CPU, 1);
      Kernels.clipCoefficient(acc, (float) maxNorm, norm, coef);
      assertEquals(totalNorm * totalNorm, acc.toFloatArray()[0], 1e-6 * totalNorm * totalNorm, "sum of squares");
      assertEquals(totalNorm, norm.toFloatArray()[0], 1e-6 * totalNorm, "global norm");
      assertEquals(maxNorm > 0 ? Math.min(1.0, torchCoef) : 1.0, coef.toFloatArray()[0], 1e-6, "clip coefficient");
      if (maxNorm == 0.5) assertTrue(coef.toFloatArray()[0] < 1f, "a small max norm clips");
    }
  }

  @Test
  void rejectsBadArgumentsBeforeNativeCode() {
    try (Arena a = new Arena()) {
      Tensor p = a.zeros(DType.F32, Device.CPU, 8);
      Tensor g = a.zeros(DType.F32, Device.CPU, 8);
      Tensor m = a.zeros(DType.F32, Device.CPU, 8);
      Tensor v = a.zeros(DType.F32, Device.CPU, 8);
      Tensor shortV = a.zeros(DType.F32, Device.CPU, 7);
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> Kernels.adamwStep(p, g, m, shortV, 1e-3f, 0.9f, 0.999f, 1e-8f, 0f, 1, null, null));
      assertTrue(e.getMessage().contains("v must have shape [8]"), e.getMessage());
      Tensor gBf16 = a.zeros(DType.BF16, Device.CPU, 8);
      e = assertThrows(IllegalArgumentException.class,
          () -> Kernels.adamwStep(p, gBf16, m, v, 1e-3f, 0.9f, 0.999f, 1e-8f, 0f, 1, null, null));
      assertTrue(e.getMessage().contains("grad must be float32"), e.getMessage());
      e = assertThrows(IllegalArgumentException.class,
          () -> Kernels.adamwStep(p, g, m, v, 1e-3f, 0.9f, 0.999f, 1e-8f, 0f, 0, null, null));
      assertTrue(e.getMessage().contains("step counts from 1"), e.getMessage());
      e = assertThrows(IllegalArgumentException.class,
          () -> Kernels.adamwStep(p, g, m, v, 1e-3f, 1.5f, 0.999f, 1e-8f, 0f, 1, null, null));
      assertTrue(e.getMessage().contains("beta1 must be in [0, 1)"), e.getMessage());
      Tensor twoScale = a.zeros(DType.F32, Device.CPU, 2);
      e = assertThrows(IllegalArgumentException.class,
          () -> Kernels.adamwStep(p, g, m, v, 1e-3f, 0.9f, 0.999f, 1e-8f, 0f, 1, twoScale, null));
      assertTrue(e.getMessage().contains("gradScale must have 1 elements"), e.getMessage());
      Tensor freed = Tensor.zeros(DType.F32, Device.CPU, 1);
      freed.close();
      e = assertThrows(IllegalArgumentException.class, () -> Kernels.sumOfSquares(g, freed));
      assertTrue(e.getMessage().contains("acc was already freed"), e.getMessage());
      Tensor accBf16 = a.zeros(DType.BF16, Device.CPU, 1);
      e = assertThrows(IllegalArgumentException.class, () -> Kernels.clipCoefficient(accBf16, 1f, accBf16, accBf16));
      assertTrue(e.getMessage().contains("sumsq must be float32"), e.getMessage());
    }
  }

  @Test
  void cAbiRejectsNullPointersAndMissingDevices() {
    try (Arena a = new Arena()) {
      Tensor p = a.zeros(DType.F32, Device.CPU, 4);
      int status = OptimNative.jsw_adamw_step(-1, p.address(), 0, p.address(), p.address(), 4, 1e-3f, 0.9f, 0.999f,
          1e-8f, 0f, 1, 0, DType.F32.code(), 0);
      assertEquals(NativeStatus.INVALID_ARGUMENT, status);
      assertTrue(CoreNative.jsw_last_error().contains("grad is a null pointer"), CoreNative.jsw_last_error());
      status = OptimNative.jsw_sumsq(CoreNative.jsw_cuda_device_count(), DType.F32.code(), p.address(), 4,
          p.address());
      assertEquals(NativeStatus.NO_DEVICE, status, CoreNative.jsw_last_error());
    }
  }
}
