package jswift.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import jswift.nn.Parameter;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Tensor;
import jswift.testing.Rand;
import org.junit.jupiter.api.Test;

/**
 * The optimizer's update replayed from a device graph (the trainer's --cuda_graphs; on the CPU a recording of the
 * calls) is the eager update bit for bit: a schedule that changes the learning rate every step, LoRA+'s ratio on
 * one parameter, one parameter without weight decay, a bf16 compute copy, clipping active; and it zeroes the
 * gradients as zeroGrad does.
 */
class AdamWGraphTest {
  private static List<Parameter> params(long seed) {
    Parameter a = new Parameter("a", Tensor.fromFloats(Rand.normal(96, seed, 0.2f), DType.F32, Device.CPU, 8, 12));
    Tensor bf = Tensor.fromFloats(Rand.normal(40, seed + 1, 0.2f), DType.BF16, Device.CPU, 40);
    Parameter b = new Parameter("b", bf);
    Parameter c = new Parameter("c", Tensor.fromFloats(Rand.normal(16, seed + 2, 0.2f), DType.F32, Device.CPU, 16));
    for (Parameter p : List.of(a, b, c)) p.setTrainable(true);
    return List.of(a, b, c);
  }

  @Test
  void aReplayedUpdateIsTheEagerUpdateBitForBit() {
    List<Parameter> eager = params(5), graphed = params(5);
    try (AdamW oe = new AdamW(eager, 0.9f, 0.95f, 1e-8f, 0.1f, 0.5f);
        AdamW og = new AdamW(graphed, 0.9f, 0.95f, 1e-8f, 0.1f, 0.5f)) {
      oe.withLrRatio(List.of(eager.get(1)), 16f).withoutDecay(List.of(eager.get(2)));
      og.withLrRatio(List.of(graphed.get(1)), 16f).withoutDecay(List.of(graphed.get(2)));
      for (int step = 1; step <= 5; step++) {
        for (int i = 0; i < 3; i++) {
          float[] g = Rand.normal(eager.get(i).numel(), 100 * step + i, 2f);  // norm far above 0.5: clipped
          eager.get(i).grad().copyFrom(g);
          graphed.get(i).grad().copyFrom(g);
        }
        float lr = 1e-2f / step;
        oe.enqueueStep(lr);
        oe.zeroGrad();
        og.enqueueStepAndZeroGrad(lr);
        assertEquals(step >= 2, og.replaysStepGraph(), "eager first, captured at the second step");
        assertEquals(oe.lastGradNorm(), og.lastGradNorm(), 0f, "grad norm of step " + step);
        for (int i = 0; i < 3; i++) {
          String what = eager.get(i).name() + " after step " + step;
          assertArrayEquals(eager.get(i).master().toFloatArray(), graphed.get(i).master().toFloatArray(), what);
          assertArrayEquals(eager.get(i).value().toFloatArray(), graphed.get(i).value().toFloatArray(), what);
          assertArrayEquals(oe.moments(eager.get(i))[1].toFloatArray(), og.moments(graphed.get(i))[1].toFloatArray(),
              "exp_avg_sq of " + what);
          float[] zero = graphed.get(i).grad().toFloatArray();
          for (float v : zero) assertEquals(0f, v, "gradients zeroed");
        }
      }
      assertFalse(java.util.Arrays.equals(Rand.normal(96, 5, 0.2f), graphed.get(0).master().toFloatArray()));
      assertTrue(og.lastGradNorm() > 0.5f);
    }
  }
}
