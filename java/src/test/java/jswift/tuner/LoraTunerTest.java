package jswift.tuner;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.util.List;
import jswift.model.Batch;
import jswift.model.CausalLM;
import jswift.nn.Parameter;
import jswift.tensor.Device;
import jswift.testing.Fixtures;
import org.junit.jupiter.api.Test;

class LoraTunerTest {
  private static final Batch BATCH = Batch.padded(new int[][] {{1, 53, 482, 280, 438, 489, 207}}, null,
      new int[][] {{1, 53, 482, 280, 438, 489, 207}});

  @Test
  void allLinearTargetsEveryProjectionAndStartsAsTheBaseModel() throws IOException {
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      float[] base = m.logits(BATCH);
      List<Parameter> params = LoraTuner.apply(m, "default", LoraConfig.defaults(), 42);
      assertEquals(2 * 7 * 2, params.size(), "A and B for 7 projections in 2 layers");
      assertArrayEquals(base, m.logits(BATCH), "B = 0: the adapter changes nothing at init");
      Parameter a = params.get(0);
      float bound = (float) (1 / Math.sqrt(64));
      for (float v : a.value().toFloatArray()) assertTrue(Math.abs(v) <= bound);
      // and it trains: one forward+backward gives B a gradient
      m.forwardBackward(BATCH, 1);
      double norm = 0;
      for (float g : params.get(1).grad().toFloatArray()) norm += g * g;
      assertTrue(norm > 0, "lora_B gets a gradient");
    }
  }

  @Test
  void namesAndRegexSelectTargets() throws IOException {
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      LoraConfig qv = LoraConfig.defaults().withTargets(List.of("q_proj", "v_proj"), null);
      assertEquals(4, LoraTuner.targets(m, qv).size());
      LoraConfig rx = LoraConfig.defaults().withTargets(List.of(), ".*layers\\.1\\.mlp\\..*");
      assertEquals(3, LoraTuner.targets(m, rx).size());
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> LoraTuner.targets(m, LoraConfig.defaults().withTargets(List.of("c_attn"), null)));
      assertTrue(e.getMessage().contains("q_proj"), e.getMessage());
      assertEquals(8f / 4, LoraConfig.defaults().withRank(4, 8).scale());
      assertEquals(4f, LoraConfig.defaults().withRank(4, 8).withRslora(true).scale());
      assertThrows(IllegalArgumentException.class, () -> LoraConfig.defaults().withInitWeights("pissa"));
    }
  }
}
