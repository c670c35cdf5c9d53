package jswift.tuner;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import jswift.model.Batch;
import jswift.model.CausalLM;
import jswift.model.Checkpoint;
import jswift.model.SafetensorsFile;
import jswift.nn.Parameter;
import jswift.tensor.Device;
import jswift.testing.Assert;
import jswift.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * modules_to_save against PEFT 0.21 adapters (fixtures/peft-modules-to-save, made by its generate.py): an untied
 * Llama with embed_tokens + lm_head, and a tied Qwen3 with lm_head alone and with embed_tokens alone, where PEFT's
 * copy unties the two. Loading, saving (PEFT's keys) and merging must all give PEFT's logits; the tuner trains a
 * copy and leaves the base weight alone. Tolerance: relative norm 1e-5 on fp32 logits (the same fp32 model
 * computed by two engines); copied tensors are compared exactly.
 */
class ModulesToSaveTest {
  private static final Batch TOKENS = Batch.padded(new int[][] {{1, 53, 282, 280, 138, 289, 207, 17}}, null, null);

  private static Path adapter(String c) {
    return Fixtures.resource("peft-modules-to-save/" + c);
  }

  private static Path base(String c) {
    return c.equals("untied") ? Fixtures.llamaGqa() : Fixtures.hfTiny("qwen3");
  }

  private static float[] peftLogits(String c) throws IOException {
    try (SafetensorsFile ref = SafetensorsFile.open(Fixtures.resource("peft-modules-to-save/reference.safetensors"))) {
      return ref.floats(c + ".logits");
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"untied", "tied-head", "tied-embed"})
  void peftAdaptersLoadSaveAndMergeAsPeftComputesThem(String c, @TempDir Path tmp) throws IOException {
    float[] want = peftLogits(c);
    Path saved = tmp.resolve("saved");
    try (CausalLM m = CausalLM.load(base(c), Device.CPU)) {
      float[] plain = m.logits(TOKENS);
      m.loadAdapter("a", adapter(c));
      m.setActiveAdapter("a");
      Assert.relNorm(c + ": PEFT's adapter in jswift", m.logits(TOKENS), want, 1e-5);
      m.setActiveAdapter(null);
      assertArrayEquals(plain, m.logits(TOKENS), c + ": the base weights are untouched");
      // Saved again by jswift: PEFT's key set, shapes and values.
      PeftAdapterWriter.save(m, "a", LoraConfig.read(adapter(c)), base(c).toString(), saved, false);
    }
    try (SafetensorsFile theirs = SafetensorsFile.open(adapter(c).resolve(PeftAdapterWriter.WEIGHTS));
        SafetensorsFile ours = SafetensorsFile.open(saved.resolve(PeftAdapterWriter.WEIGHTS))) {
      assertEquals(theirs.names(), ours.names());
      for (String k : theirs.names()) assertArrayEquals(theirs.floats(k), ours.floats(k), k);
    }
    assertEquals(LoraConfig.read(adapter(c)).modulesToSave(), LoraConfig.read(saved).modulesToSave());
    Path merged = tmp.resolve("merged");
    LoraMerge.merge(base(c), adapter(c), merged, LoraMerge.Options.on(Device.CPU));
    var cfg = new ObjectMapper().readTree(merged.resolve("config.json").toFile());
    assertFalse(cfg.get("tie_word_embeddings").asBoolean(), "ms-swift unties a merge with a trained embedding / head");
    try (CausalLM m = CausalLM.load(merged, Device.CPU); Checkpoint w = Checkpoint.open(merged);
        Checkpoint b = Checkpoint.open(base(c))) {
      Assert.relNorm(c + ": the merged model", m.logits(TOKENS), want, 1e-5);
      if (c.equals("tied-embed"))
        assertArrayEquals(b.file("model.embed_tokens.weight").floats("model.embed_tokens.weight"),
            w.file("lm_head.weight").floats("lm_head.weight"), "the untied head keeps the base embedding");
    }
  }

  @Test
  void theTunerTrainsACopyAndUntiesTiedEmbeddings() throws IOException {
    try (CausalLM m = CausalLM.load(Fixtures.hfTiny("qwen3"), Device.CPU)) {
      float[] plain = m.logits(TOKENS);
      float[] embed = m.parameters().get("model.embed_tokens.weight").value().toFloatArray();
      LoraConfig cfg = LoraConfig.defaults().withR(4).withLoraAlpha(8).withTargetModules(List.of("q_proj"))
          .with("modules_to_save", new ObjectMapper().createArrayNode().add("lm_head"));
      List<Parameter> params = LoraTuner.apply(m, "default", cfg, 1);
      Parameter head = params.get(params.size() - 1);
      assertEquals("base_model.model.lm_head.weight", head.name());
      assertTrue(head.isTrainable());
      assertArrayEquals(plain, m.logits(TOKENS), "the copy starts as the base weight");
      m.forwardBackward(Batch.padded(new int[][] {{1, 53, 282, 280}}, null, new int[][] {{1, 53, 282, 280}}), 1);
      double g = 0;
      for (float v : head.grad().toFloatArray()) g += v * v;
      assertTrue(g > 0, "the LM head copy gets a gradient");
      // A changed head (a training step) moves the model but not the tied embedding it was copied from.
      float[] moved = head.value().toFloatArray();
      for (int i = 0; i < moved.length; i++) moved[i] += 0.01f;
      head.value().copyFrom(moved);
      head.master().copyFrom(moved);
      assertNotEquals(plain[0], m.logits(TOKENS)[0]);
      assertArrayEquals(embed, m.parameters().get("model.embed_tokens.weight").value().toFloatArray());
      m.setActiveAdapter(null);
      assertArrayEquals(plain, m.logits(TOKENS), "without the adapter the base model is intact");
    }
  }

  @Test
  void aPissaRunsConversionCarriesTheTrainedModules(@TempDir Path tmp) throws IOException {
    // PEFT's conversion keeps only lora_A / lora_B; jswift's carries the trained LM head too, so that the converted
    // adapter on the original base is the whole trained model.
    Path ckpt = tmp.resolve("checkpoint-1");
    float[] trained;
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      LoraConfig cfg = LoraConfig.defaults().withR(4).withLoraAlpha(8).withTargetModules(List.of("q_proj"))
          .withInitLoraWeights(com.fasterxml.jackson.databind.node.TextNode.valueOf("pissa"))
          .with("modules_to_save", new ObjectMapper().createArrayNode().add("lm_head"));
      List<Parameter> params = LoraTuner.apply(m, "default", cfg, 1);
      Path initial = ConvertedAdapter.saveInitial(m, "default", cfg, "base", tmp);
      for (Parameter p : params) {  // a stand-in for training: move every trainable tensor
        float[] v = p.master().toFloatArray();
        for (int i = 0; i < v.length; i++) v[i] += 0.01f * ((i % 7) - 3);
        p.master().copyFrom(v);
        p.value().copyFrom(v);
      }
      trained = m.logits(TOKENS);
      ConvertedAdapter.saveConverted(m, "default", cfg, "base", initial, ckpt);
      PeftAdapterWriter.save(m, "default", cfg, "base", ckpt, true);
    }
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      m.loadAdapter("c", ResidualInit.forOriginalBase(ckpt));
      m.setActiveAdapter("c");
      Assert.relNorm("converted PiSSA + lm_head on the original base", m.logits(TOKENS), trained, 1e-5);
    }
  }

  @Test
  void unsupportedModulesAreRefused() throws IOException {
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      LoraConfig cfg = LoraConfig.defaults().withTargetModules(List.of("q_proj"))
          .with("modules_to_save", new ObjectMapper().createArrayNode().add("input_layernorm"));
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> LoraTuner.apply(m, "x", cfg, 1));
      assertTrue(e.getMessage().contains("input_layernorm"), e.getMessage());
    }
  }
}
