package jswift.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.util.List;
import jswift.nn.Parameter;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Kernels;
import jswift.tensor.Tensor;
import jswift.testing.Fixtures;
import jswift.testing.GradientCheck;
import org.junit.jupiter.api.Test;

/**
 * NEFTune: training forwards see input embeddings plus uniform noise of ±alpha / sqrt(L d); evaluation sees none;
 * the same seed draws the same noise (a resumed step), another seed other noise.
 */
class NeftuneTest {
  private static final Batch BATCH = Batch.padded(new int[][] {{1, 53, 482, 280, 438, 489, 207}}, null,
      new int[][] {{1, 53, 482, 280, 438, 489, 207}});

  @Test
  void noiseChangesTrainingForwardsOnlyAndIsSeeded() throws IOException {
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      List<Parameter> adapter = GradientCheck.zeroAdapter(m);
      double evalBefore = m.loss(BATCH), clean = m.forwardBackward(BATCH, 11);
      m.setNeftuneNoiseAlpha(15);
      double noisy = m.forwardBackward(BATCH, 11), again = m.forwardBackward(BATCH, 11);
      double other = m.forwardBackward(BATCH, 12);
      assertNotEquals(clean, noisy, "alpha 15 moves the training loss");
      assertEquals(noisy, again, 0.0, "the same seed draws the same noise");
      assertNotEquals(noisy, other, "another seed draws other noise");
      assertEquals(evalBefore, m.loss(BATCH), 0.0, "evaluation sees no noise");
      // 15 / sqrt(7 x 64) = 0.71 per element: the loss moves, but the model still reads its input.
      assertTrue(Math.abs(noisy - clean) < 0.5 * clean, clean + " vs " + noisy);
      m.setNeftuneNoiseAlpha(0);
      assertEquals(clean, m.forwardBackward(BATCH, 11), 0.0, "alpha 0 turns it off");
      assertThrows(IllegalArgumentException.class, () -> m.setNeftuneNoiseAlpha(-1));
      assertTrue(adapter.size() > 0);
    }
  }

  @Test
  void theNoiseIsUniformOnPlusMinusTheMagnitude() {
    float[] zeros = new float[64 * 1000];
    try (Tensor t = Tensor.fromFloats(zeros, DType.F32, Device.CPU, 1000, 64)) {
      Kernels.addUniformNoise(t, 0.3f, 5);
      float min = Float.MAX_VALUE, max = -Float.MAX_VALUE;
      double sum = 0;
      for (float v : t.toFloatArray()) {
        min = Math.min(min, v);
        max = Math.max(max, v);
        sum += v;
      }
      assertTrue(min >= -0.3f && min < -0.299f && max < 0.3f && max > 0.299f, min + " .. " + max);
      assertEquals(0, sum / zeros.length, 0.005, "centred");
      assertThrows(IllegalArgumentException.class, () -> Kernels.addUniformNoise(t, Float.NaN, 5));
    }
  }
}
