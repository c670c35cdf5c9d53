package jswift.tuner;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.TextNode;
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

  private static LoraConfig allLinear() {
    return LoraConfig.defaults().withR(8).withLoraAlpha(32).withTargetModules(List.of(LoraTuner.ALL_LINEAR));
  }

  @Test
  void allLinearTargetsEveryProjectionAndStartsAsTheBaseModel() throws IOException {
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      float[] base = m.logits(BATCH);
      List<Parameter> params = LoraTuner.apply(m, "default", allLinear(), 42);
      assertEquals(2 * 7 * 2, params.size(), "A and B for 7 projections in 2 layers");
      assertArrayEquals(base, m.logits(BATCH), "B = 0: the adapter changes nothing at init");
      float bound = (float) (1 / Math.sqrt(64));
      for (float v : params.get(0).value().toFloatArray()) assertTrue(Math.abs(v) <= bound);
      m.forwardBackward(BATCH, 1);
      double norm = 0;
      for (float g : params.get(1).grad().toFloatArray()) norm += g * g;
      assertTrue(norm > 0, "lora_B gets a gradient");
      assertEquals(List.of("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj").toString(),
          LoraTuner.resolveTargets(m, allLinear()).targetModules().toString().replace("\"", "").replace(",", ", "));
    }
  }

  @Test
  void namesAndRegexSelectTargets() throws IOException {
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      assertEquals(4, LoraTuner.targets(m, LoraConfig.defaults().withTargetModules(List.of("q_proj", "v_proj"))).size());
      LoraConfig rx = LoraConfig.defaults().with("target_modules", TextNode.valueOf(".*layers\\.1\\.mlp\\..*"));
      assertEquals(3, LoraTuner.targets(m, rx).size());
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> LoraTuner.targets(m, LoraConfig.defaults().withTargetModules(List.of("c_attn"))));
      assertTrue(e.getMessage().contains("q_proj"), e.getMessage());
      assertEquals(2.0, LoraConfig.defaults().withR(4).withLoraAlpha(8).scaleFor("x"));
      assertEquals(4.0, LoraConfig.defaults().withR(4).withLoraAlpha(8).withRslora(true).scaleFor("x"));
      assertThrows(IllegalArgumentException.class, () -> LoraTuner.apply(m, "p",
          allLinear().withInitLoraWeights(TextNode.valueOf("pissa")), 1));
    }
  }
}
