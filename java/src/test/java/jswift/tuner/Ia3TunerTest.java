package jswift.tuner;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import jswift.model.Batch;
import jswift.model.CausalLM;
import jswift.model.SafetensorsFile;
import jswift.nn.Parameter;
import jswift.tensor.Device;
import jswift.testing.Assert;
import jswift.testing.Fixtures;
import jswift.testing.GradientCheck;
import jswift.testing.Rand;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * (IA)^3 on the llama-gqa fixture with PEFT's Llama defaults (k_proj, v_proj, down_proj; down_proj feedforward):
 * a new adapter is the base model, its vectors' gradients match finite differences, and saved in PEFT's layout
 * ([out, 1] / [1, in] ia3_l) it loads and merges to the trained model's logits.
 */
class Ia3TunerTest {
  private static final Batch BATCH = Batch.padded(new int[][] {{1, 53, 482, 280, 438, 489, 207}}, null,
      new int[][] {{1, 53, 482, 280, 438, 489, 207}});

  private static LoraConfig ia3() {
    return LoraConfig.ia3Defaults().withTargetModules(Ia3Tuner.DEFAULT_TARGETS).with("feedforward_modules",
        new ObjectMapper().valueToTree(Ia3Tuner.DEFAULT_FEEDFORWARD));
  }

  @Test
  void trainsSavesLoadsAndMergesAsPeft(@TempDir Path tmp) throws IOException {
    Path dir = tmp.resolve("adapter");
    float[] trained;
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      float[] base = m.logits(BATCH);
      List<Parameter> params = LoraTuner.apply(m, "default", ia3(), 0);
      assertEquals(3 * 2, params.size(), "k, v and down projections of 2 layers");
      assertArrayEquals(base, m.logits(BATCH), "ones: the adapter changes nothing at init");
      for (Parameter p : params) p.value().copyFrom(Rand.uniform(p.numel(), p.name().hashCode(), 0.5f, 1.5f));
      m.forwardBackward(BATCH, 1);
      GradientCheck.check(params, new Random(3), () -> m.loss(BATCH), "ia3_l");
      trained = m.logits(BATCH);
      PeftAdapterWriter.save(m, "default", ia3(), "base", dir, false);
    }
    assertEquals("IA3", LoraConfig.read(dir).peftType());
    try (SafetensorsFile f = SafetensorsFile.open(dir.resolve("adapter_model.safetensors"))) {
      assertEquals(6, f.names().size());
      assertArrayEquals(new long[] {32, 1}, f.entry("base_model.model.model.layers.0.self_attn.k_proj.ia3_l").shape());
      assertArrayEquals(new long[] {1, 176}, f.entry("base_model.model.model.layers.1.mlp.down_proj.ia3_l").shape());
    }
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      m.loadAdapter("i", dir);
      m.setActiveAdapter("i");
      assertArrayEquals(trained, m.logits(BATCH), "loaded = trained");
    }
    Path merged = tmp.resolve("merged");
    assertEquals(6, LoraMerge.merge(Fixtures.llamaGqa(), dir, merged, LoraMerge.Options.on(Device.CPU)).mergedWeights());
    try (CausalLM m = CausalLM.load(merged, Device.CPU)) {
      Assert.relNorm("merged vs base + IA3", m.logits(BATCH), trained, 1e-5);
    }
  }

  @Test
  void feedforwardModulesMustBeTargets() throws IOException {
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      LoraConfig bad = ia3().withTargetModules(List.of("k_proj", "v_proj"));
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> LoraTuner.apply(m, "default", bad, 0));
      assertTrue(e.getMessage().contains("feedforward_modules"), e.getMessage());
    }
  }

  @Test
  void mergingScalesTheBiasOfOutputScaledModules(@TempDir Path tmp) throws IOException {
    // A Qwen3 with attention biases: IA3 on k_proj / v_proj scales x W^T + b, so the merge must scale b as well.
    Path model = jswift.testing.TinyModels.qwen3(tmp.resolve("biased"), 3, 1, true);
    Batch batch = Batch.padded(new int[][] {{9, 2000, 77, 31000, 5}}, null, new int[][] {{9, 2000, 77, 31000, 5}});
    Path dir = tmp.resolve("adapter");
    float[] trained;
    try (CausalLM m = CausalLM.load(model, Device.CPU)) {
      for (Parameter p : LoraTuner.apply(m, "default", ia3(), 0))
        p.value().copyFrom(Rand.uniform(p.numel(), p.name().hashCode(), 0.2f, 2f));
      trained = m.logits(batch);
      PeftAdapterWriter.save(m, "default", ia3(), model.toString(), dir, false);
    }
    Path merged = tmp.resolve("merged");
    LoraMerge.merge(model, dir, merged, LoraMerge.Options.on(Device.CPU));
    try (CausalLM m = CausalLM.load(merged, Device.CPU); SafetensorsFile a = SafetensorsFile.open(
        model.resolve("model.safetensors")); SafetensorsFile b = SafetensorsFile.open(merged.resolve("model.safetensors"))) {
      Assert.relNorm("merged vs base + IA3 (biased)", m.logits(batch), trained, 1e-5);
      String bias = "model.layers.0.self_attn.k_proj.bias";
      assertTrue(!java.util.Arrays.equals(a.floats(bias), b.floats(bias)), "the k bias was scaled");
      String qBias = "model.layers.0.self_attn.q_proj.bias";
      assertArrayEquals(a.floats(qBias), b.floats(qBias), "q_proj is no target: its bias is copied");
    }
  }
}
