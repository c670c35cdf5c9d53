package jswift.tuner;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.BooleanNode;
import com.fasterxml.jackson.databind.node.TextNode;
import java.io.IOException;
import java.util.List;
import jswift.model.Batch;
import jswift.model.CausalLM;
import jswift.nn.Parameter;
import jswift.tensor.Device;
import jswift.testing.Assert;
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
  void aNewDoraAdapterStartsAsTheBaseModelWithTheWeightNormsAsMagnitudes() throws IOException {
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      float[] base = m.logits(BATCH);
      List<Parameter> params = LoraTuner.apply(m, "default", allLinear().withDora(true).withLoraDropout(0), 42);
      assertEquals(3 * 7 * 2, params.size(), "A, B and the magnitude for 7 projections in 2 layers");
      Parameter mag = params.get(2);
      assertEquals("base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector", mag.name());
      assertTrue(mag.isTrainable());
      float[] w = m.parameters().get("model.layers.0.self_attn.q_proj.weight").value().toFloatArray();
      // PEFT's init: m = ||W + s B A|| = ||W|| with B = 0 (fp32 sums of 64 squares: ~1e-6 relative).
      Assert.close("magnitude = ||W||", mag.value().toFloatArray(), rowNorms(w, null, null, 0, 64, 64), 0, 1e-5);
      // m / n = 1 up to the rounding of m * (1 / n): one ulp per layer output.
      Assert.relNorm("DoRA at init is the base model", m.logits(BATCH), base, 1e-6);
      m.forwardBackward(BATCH, 1);
      double norm = 0;
      for (float g : mag.grad().toFloatArray()) norm += g * g;
      assertTrue(norm > 0, "the magnitude gets a gradient");
    }
  }

  @Test
  void doraWithRandomBStartsFromTheNormOfTheAdaptedWeight() throws IOException {
    // init_lora_weights = false draws B too; PEFT then initialises m to ||W + s B A||, so that m / n = 1 still.
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      LoraConfig cfg = allLinear().withDora(true).withLoraDropout(0).withInitLoraWeights(BooleanNode.FALSE);
      List<Parameter> params = LoraTuner.apply(m, "default", cfg, 7);
      float[] w = m.parameters().get("model.layers.0.mlp.down_proj.weight").value().toFloatArray();
      Parameter a = params.get(6 * 3), b = params.get(6 * 3 + 1), mag = params.get(6 * 3 + 2);
      assertEquals("base_model.model.model.layers.0.mlp.down_proj.lora_magnitude_vector", mag.name());
      float[] want = rowNorms(w, b.value().toFloatArray(), a.value().toFloatArray(), 32f / 8, 64, 176);
      float[] plain = rowNorms(w, null, null, 0, 64, 176);
      Assert.close("magnitude = ||W + s B A||", mag.value().toFloatArray(), want, 0, 1e-5);
      double moved = 0;
      for (int i = 0; i < want.length; i++) moved = Math.max(moved, Math.abs(want[i] - plain[i]) / plain[i]);
      assertTrue(moved > 1e-2, "s B A changes the norms here (" + moved + "), so the check above means something");
    }
  }

  /** ||W + s B A|| per row in double precision (B, A null: ||W||). */
  private static float[] rowNorms(float[] w, float[] b, float[] a, float s, int out, int in) {
    int r = a == null ? 0 : a.length / in;
    float[] n = new float[out];
    for (int o = 0; o < out; o++) {
      double ss = 0;
      for (int i = 0; i < in; i++) {
        double v = w[o * in + i];
        for (int k = 0; k < r; k++) v += s * (double) b[o * r + k] * a[k * in + i];
        ss += v * v;
      }
      n[o] = (float) Math.sqrt(ss);
    }
    return n;
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
          allLinear().withInitLoraWeights(TextNode.valueOf("loftq")), 1));
    }
  }
}
