package jswift.tuner;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import jswift.model.CausalLM;
import jswift.model.SafetensorsFile;
import jswift.nn.LoraAdapter;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.testing.Assert;
import jswift.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Saving adapters in PEFT's format, against the files PEFT 0.21 itself saved for the llama-gqa fixture: an adapter
 * loaded from them and saved again must give the same bytes (weights and config), reload to the same logits, and
 * stay fp32 on a bf16 model, as PEFT's do. Mismatches between adapter and config are refused before writing.
 */
class PeftAdapterWriterTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  private static Path adapterDir(String name) {
    return Fixtures.llamaGqa().resolve("adapters/" + name);
  }

  @ParameterizedTest
  @ValueSource(strings = {"lora", "rslora", "dora"})
  void reSavingPeftsAdapterGivesPeftsBytes(String name, @TempDir Path out) throws IOException {
    try (CausalLM lm = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      lm.loadAdapter(name, adapterDir(name));
      // The fixture was saved with base_model_name_or_path "..": record the same to compare whole files.
      PeftAdapterWriter.save(lm, name, LoraConfig.read(adapterDir(name)), "..", out, false);
    }
    assertArrayEquals(Files.readAllBytes(adapterDir(name).resolve("adapter_model.safetensors")),
        Files.readAllBytes(out.resolve("adapter_model.safetensors")), "adapter_model.safetensors");
    assertEquals(Files.readString(adapterDir(name).resolve("adapter_config.json")),
        Files.readString(out.resolve("adapter_config.json")), "adapter_config.json");
  }

  @Test
  void aConfigBuiltFromDefaultsIsWhatPeftWrites(@TempDir Path out) throws IOException {
    // LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=[...], task_type="CAUSAL_LM") in the fixture
    // README, saved by PEFT 0.21 (target_modules in the order PEFT's set happened to give).
    LoraConfig c = LoraConfig.defaults().withR(4).withLoraAlpha(8).withLoraDropout(0.0)
        .withTargetModules(List.of("gate_proj", "v_proj", "o_proj", "k_proj", "up_proj", "down_proj", "q_proj"))
        .withBaseModelNameOrPath("..");
    assertEquals(Files.readString(adapterDir("lora").resolve("adapter_config.json")), c.toJson());
    assertEquals(Files.readString(adapterDir("rslora").resolve("adapter_config.json")), c.withRslora(true).toJson());
    assertEquals(Files.readString(adapterDir("dora").resolve("adapter_config.json")), c.withDora(true).toJson());
    assertEquals(2.0, c.scaleFor("model.layers.0.self_attn.q_proj"), 0);
    assertEquals(4.0, c.withRslora(true).scaleFor("model.layers.0.self_attn.q_proj"), 0);
  }

  @Test
  void theSavedFolderReloadsToTheSameLogits(@TempDir Path out) throws IOException {
    try (CausalLM lm = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      lm.loadAdapter("orig", adapterDir("lora"));
      String base = Fixtures.llamaGqa().toString();
      PeftAdapterWriter.save(lm, "orig", LoraConfig.read(adapterDir("lora")), base, out, false);
      lm.loadAdapter("saved", out);
      lm.setActiveAdapter("orig");
      float[] orig = lm.logits(FixtureBatch.batch());
      lm.setActiveAdapter("saved");
      float[] saved = lm.logits(FixtureBatch.batch());
      assertArrayEquals(orig, saved);  // the same fp32 weights: bit-identical logits
      // and PEFT's own logits for this adapter, at the fixture README's tolerance for an fp32 re-implementation
      Assert.relNorm("lora logits", saved, FixtureBatch.reference("lora.logits"), 1e-5);
    }
    JsonNode cfg = JSON.readTree(out.resolve("adapter_config.json").toFile());
    assertEquals(Fixtures.llamaGqa().toString(), cfg.get("base_model_name_or_path").asText());
    assertEquals("CAUSAL_LM", cfg.get("task_type").asText());
    assertEquals("LORA", cfg.get("peft_type").asText());
    assertTrue(cfg.get("inference_mode").asBoolean());
  }

  @Test
  void aBf16ModelSavesFp32AndPrefersTheMasterCopy(@TempDir Path out) throws IOException {
    String q = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight";
    float[] master = new float[4 * 64];
    for (int i = 0; i < master.length; i++) master[i] = (i % 7) * 0.125f - 0.3f;  // not bf16-representable
    try (CausalLM lm = CausalLM.load(Fixtures.llamaGqa(), Device.CPU, DType.BF16)) {
      lm.loadAdapter("lora", adapterDir("lora"));
      LoraAdapter a = lm.linears().get("model.layers.0.self_attn.q_proj").adapters().get("lora");
      a.a().setTrainable(true);
      a.a().master().copyFrom(master);
      PeftAdapterWriter.save(lm, "lora", LoraConfig.read(adapterDir("lora")), "..", out, false);
    }
    try (SafetensorsFile saved = SafetensorsFile.open(out.resolve("adapter_model.safetensors"));
        SafetensorsFile peft = SafetensorsFile.open(adapterDir("lora").resolve("adapter_model.safetensors"))) {
      assertEquals(peft.names(), saved.names());
      for (String n : saved.names()) {
        assertEquals("F32", saved.entry(n).dtype(), n);
        // A frozen tensor went through the bf16 model: the fp32 file value rounded to bf16, exactly.
        float[] want = n.equals(q) ? master : bf16(peft.floats(n));
        assertArrayEquals(want, saved.floats(n), n);
      }
    }
  }

  private static float[] bf16(float[] v) {
    float[] out = new float[v.length];
    for (int i = 0; i < v.length; i++) {
      int bits = Float.floatToRawIntBits(v[i]);
      bits += 0x7fff + ((bits >> 16) & 1);  // round to nearest even
      out[i] = Float.intBitsToFloat(bits & 0xffff0000);
    }
    return out;
  }

  @Test
  void existingAdapterFilesAreReplacedOnlyWithOverwrite(@TempDir Path out) throws IOException {
    try (CausalLM lm = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      lm.loadAdapter("lora", adapterDir("lora"));
      LoraConfig cfg = LoraConfig.read(adapterDir("lora"));
      Files.writeString(out.resolve("adapter_config.json"), "{}");
      FileAlreadyExistsException e = assertThrows(FileAlreadyExistsException.class,
          () -> PeftAdapterWriter.save(lm, "lora", cfg, "..", out, false));
      assertTrue(e.getMessage().contains("overwrite"), e.getMessage());
      assertEquals("{}", Files.readString(out.resolve("adapter_config.json")));
      assertFalse(Files.exists(out.resolve("adapter_model.safetensors")));
      PeftAdapterWriter.save(lm, "lora", cfg, "..", out, true);
      assertEquals(Files.readString(adapterDir("lora").resolve("adapter_config.json")),
          Files.readString(out.resolve("adapter_config.json")));
    }
  }

  @Test
  void anAdapterThatDisagreesWithItsConfigIsRefused(@TempDir Path out) throws IOException {
    try (CausalLM lm = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      lm.loadAdapter("lora", adapterDir("lora"));
      LoraConfig cfg = LoraConfig.read(adapterDir("lora"));
      String msg = refused(lm, cfg.withR(8), out);
      assertTrue(msg.contains("rank 4") && msg.contains("r=8"), msg);
      msg = refused(lm, cfg.withLoraAlpha(16), out);
      assertTrue(msg.contains("scale 2.0") && msg.contains("give 4.0"), msg);
      msg = refused(lm, cfg.withRslora(true), out);
      assertTrue(msg.contains("rsLoRA"), msg);
      msg = refused(lm, cfg.withDora(true), out);
      assertTrue(msg.contains("plain LoRA") && msg.contains("use_dora=true"), msg);
      msg = refused(lm, cfg.withTargetModules(List.of("q_proj", "k_proj", "v_proj", "o_proj")), out);
      assertTrue(msg.contains("mlp") && msg.contains("target_modules"), msg);
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> PeftAdapterWriter.save(lm, "nope", cfg, "..", out, false));
      assertTrue(e.getMessage().contains("no adapter named 'nope'"), e.getMessage());
    }
    try (var files = Files.list(out)) {
      assertEquals(0, files.count());
    }
  }

  @Test
  void aTrainedDoraAdapterSavesItsMagnitudesAndReloadsToTheSameLogits(@TempDir Path out) throws IOException {
    LoraConfig cfg = LoraConfig.defaults().withR(4).withLoraAlpha(8).withLoraDropout(0).withDora(true)
        .withTargetModules(List.of("q_proj", "v_proj"));
    float[] trained;
    try (CausalLM lm = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      List<jswift.nn.Parameter> params = LoraTuner.apply(lm, "d", cfg, 5);
      try (jswift.train.AdamW opt = new jswift.train.AdamW(params, 0.9f, 0.999f, 1e-8f, 0f, 0f)) {
        lm.forwardBackward(jswift.model.Batch.padded(FixtureBatch.rows("input_ids"), FixtureBatch.rows("attention_mask"),
            FixtureBatch.rows("labels")), 1);
        opt.step(1e-2f);  // B and the magnitudes move away from their init, so a lost tensor would show
      }
      trained = lm.logits(FixtureBatch.batch());
      PeftAdapterWriter.save(lm, "d", LoraTuner.resolveTargets(lm, cfg), "..", out, false);
    }
    try (SafetensorsFile f = SafetensorsFile.open(out.resolve("adapter_model.safetensors"))) {
      assertEquals(12, f.names().size(), "A, B and the magnitude of q_proj and v_proj in 2 layers");
      String mag = "base_model.model.model.layers.1.self_attn.v_proj.lora_magnitude_vector";
      assertArrayEquals(new long[] {32}, f.entry(mag).shape());
      assertEquals("F32", f.entry(mag).dtype());
    }
    assertTrue(JSON.readTree(out.resolve("adapter_config.json").toFile()).get("use_dora").asBoolean());
    try (CausalLM lm = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      lm.loadAdapter("reloaded", out);
      lm.setActiveAdapter("reloaded");
      assertArrayEquals(trained, lm.logits(FixtureBatch.batch()));  // the same fp32 tensors: bit-identical
    }
  }

  private static String refused(CausalLM lm, LoraConfig cfg, Path out) {
    return assertThrows(IllegalArgumentException.class, () -> PeftAdapterWriter.save(lm, "lora", cfg, "..", out, false))
        .getMessage();
  }

  @Test
  void targetModulesAndPatternsFollowPeftsRules() {
    LoraConfig c = LoraConfig.defaults().withR(8).withLoraAlpha(16).withTargetModules(List.of("q_proj", "mlp.up_proj"));
    assertTrue(c.targets("model.layers.0.self_attn.q_proj"));
    assertTrue(c.targets("q_proj"));
    assertTrue(c.targets("model.layers.3.mlp.up_proj"));
    assertFalse(c.targets("model.layers.0.self_attn.xq_proj"));
    assertFalse(c.targets("model.layers.0.mlp.down_proj"));
    LoraConfig regex = c.with("target_modules", JSON.getNodeFactory().textNode(".*layers\\.1\\..*_proj"));
    assertTrue(regex.targets("model.layers.1.mlp.down_proj"));
    assertFalse(regex.targets("model.layers.10.mlp.down_proj"));
    ObjectMapper m = JSON;
    LoraConfig patterned = c.with("rank_pattern", m.createObjectNode().put("layers.0.self_attn.q_proj", 4))
        .with("alpha_pattern", m.createObjectNode().put("up_proj", 4));
    assertEquals(4, patterned.rankFor("model.layers.0.self_attn.q_proj"));
    assertEquals(8, patterned.rankFor("model.layers.10.self_attn.q_proj"));  // "(.*\.)?" anchors at a dot
    assertEquals(16 / 4.0, patterned.scaleFor("model.layers.0.self_attn.q_proj"), 0);
    assertEquals(4 / 8.0, patterned.scaleFor("model.layers.2.mlp.up_proj"), 0);
  }
}
