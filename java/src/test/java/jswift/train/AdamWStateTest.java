package jswift.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jswift.nn.Parameter;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Tensor;
import jswift.testing.Assert;
import jswift.testing.Rand;
import jswift.testing.Torch;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.pytorch.AdamWOptions;
import org.bytedeco.pytorch.TensorVector;
import org.junit.jupiter.api.Test;

/**
 * AdamW's per-parameter state as LISA uses it, against libtorch's AdamW: a parameter frozen at a step is skipped
 * (torch skips a parameter without gradient), and one released and trained again starts with fresh moments and
 * step 1, which is what LMFlow's LISATrainer gets by building a new torch optimizer at each switch. Tolerances as
 * in jswift.tensor.AdamWTest (fp32 state against torch's: 1e-6 absolute + relative).
 */
class AdamWStateTest {
  private static final int N = 257;

  private static org.bytedeco.pytorch.AdamW torchAdamW(org.bytedeco.pytorch.Tensor p) {
    TensorVector v = new TensorVector();
    v.push_back(p);
    AdamWOptions options = new AdamWOptions(1e-2);
    DoublePointer betas = options.betas();
    int beta1Slot = betas.get(0) == 0.9 ? 0 : 1;  // std::tuple layout, see AdamWTest
    betas.put(beta1Slot, 0.9).put(1 - beta1Slot, 0.95);
    options.eps().put(1e-8);
    options.weight_decay().put(0.1);
    return new org.bytedeco.pytorch.AdamW(v, options);
  }

  private static void torchStep(org.bytedeco.pytorch.AdamW opt, org.bytedeco.pytorch.Tensor p, float[] g) {
    opt.zero_grad();
    Torch.dot(p, Torch.tensor(g, N)).backward();
    opt.step();
  }

  @Test
  void frozenParametersAreSkippedAndReleasedOnesStartAfresh() {
    float[] init0 = Rand.normal(N, 1), init1 = Rand.normal(N, 2);
    org.bytedeco.pytorch.Tensor t0 = Torch.param(init0, N), t1 = Torch.param(init1, N);
    org.bytedeco.pytorch.AdamW a0 = torchAdamW(t0), a1 = torchAdamW(t1), b1 = torchAdamW(t1);
    try (Parameter p0 = new Parameter("p0", Tensor.fromFloats(init0, DType.F32, Device.CPU, N));
        Parameter p1 = new Parameter("p1", Tensor.fromFloats(init1, DType.F32, Device.CPU, N))) {
      p0.setTrainable(true);
      p1.setTrainable(true);
      try (AdamW opt = new AdamW(java.util.List.of(p0, p1), 0.9f, 0.95f, 1e-8f, 0.1f, 0f)) {
        for (int s = 1; s <= 5; s++) {
          boolean p1Trains = s != 3;  // step 3: p1 rests (LISA froze it); step 4 it is drawn again
          if (s == 3) {
            opt.release(p1);
            p1.setTrainable(false);
            assertFalse(opt.hasState(p1));
          }
          if (s == 4) p1.setTrainable(true);
          float[] g0 = Rand.normal(N, 100 + s, 0.5f), g1 = Rand.normal(N, 200 + s, 0.5f);
          p0.grad().copyFrom(g0);
          if (p1Trains) p1.grad().copyFrom(g1);
          opt.step(1e-2f);
          opt.zeroGrad();
          torchStep(a0, t0, g0);
          if (s < 3) torchStep(a1, t1, g1);
          if (s > 3) torchStep(b1, t1, g1);  // a new optimizer: zero moments, step 1
          Assert.close("p0 after step " + s, p0.value().toFloatArray(), Torch.floats(t0), 1e-6, 1e-6);
          Assert.close("p1 after step " + s, p1.value().toFloatArray(), Torch.floats(t1), 1e-6, 1e-6);
        }
        assertEquals(5, opt.parameterSteps(p0));
        assertEquals(2, opt.parameterSteps(p1), "p1's count restarted at step 4");
        assertEquals(5, opt.stepCount());
        assertTrue(opt.hasState(p1));
        assertEquals(2L * 2 * N * 4, opt.stateBytes());
      }
    }
  }
}
