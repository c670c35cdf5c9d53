package jswift.tuner;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import jswift.model.Batch;
import jswift.model.CausalLM;
import jswift.model.SafetensorsFile;
import jswift.model.SafetensorsWriter;
import jswift.model.TensorSource;
import jswift.nn.Parameter;
import jswift.nn.VeraProjections;
import jswift.tensor.Device;
import jswift.testing.Assert;
import jswift.testing.Fixtures;
import jswift.testing.GradientCheck;
import jswift.testing.Rand;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * VeRA on the llama-gqa fixture (7 projections x 2 layers, in 64 / 176, out 64 / 32 / 176): a new adapter is the base
 * model; the backward's lambda gradients match finite differences; saved, it has PEFT's keys and shapes and loads
 * back (jswift infer / deploy) and merges (export --merge_lora) to the trained model's logits.
 */
class VeraTunerTest {
  private static final Batch BATCH = Batch.padded(new int[][] {{1, 53, 482, 280, 438, 489, 207}}, null,
      new int[][] {{1, 53, 482, 280, 438, 489, 207}});

  private static LoraConfig vera(int r) {
    return LoraConfig.veraDefaults().withR(r).withTargetModules(List.of(LoraTuner.ALL_LINEAR));
  }

  /** Moves every lambda_b off zero, so the adapter changes the model. */
  private static void perturb(List<Parameter> params) {
    for (Parameter p : params)
      if (p.name().endsWith("vera_lambda_b")) p.value().copyFrom(Rand.normal(p.value().numel(), p.name().hashCode(), 0.5f));
  }

  @Test
  void aNewAdapterIsTheBaseModelAndTrainsTwoVectorsPerLayer() throws IOException {
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      float[] base = m.logits(BATCH);
      List<Parameter> params = LoraTuner.apply(m, "default", vera(16), 0);
      assertEquals(2 * 7 * 2, params.size(), "lambda_d and lambda_b for 7 projections in 2 layers");
      assertEquals("base_model.model.model.layers.0.self_attn.q_proj.vera_lambda_d", params.get(0).name());
      for (float v : params.get(0).value().toFloatArray()) assertEquals(0.1f, v);  // d_initial
      assertArrayEquals(base, m.logits(BATCH), "lambda_b = 0: the adapter changes nothing at init");
      VeraProjections p = m.veraProjections("default");
      assertEquals(176, p.maxIn(), "vera_A spans the widest input (down_proj)");
      assertEquals(176, p.maxOut(), "vera_B the widest output (gate / up)");
      long trained = params.stream().mapToLong(Parameter::numel).sum();
      assertEquals(14 * 16 + 2 * (64 + 32 + 32 + 64 + 176 + 176 + 64), trained, "r + out per layer");
    }
  }

  @Test
  void lambdaGradientsMatchFiniteDifferences() throws IOException {
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      List<Parameter> params = LoraTuner.apply(m, "default", vera(8), 3);
      perturb(params);
      m.forwardBackward(BATCH, 1);
      List<Parameter> d = new ArrayList<>(), b = new ArrayList<>();
      for (Parameter p : params) (p.name().endsWith("_d") ? d : b).add(p);
      GradientCheck.check(d, new Random(1), () -> m.loss(BATCH), "lambda_d");
      GradientCheck.check(b, new Random(2), () -> m.loss(BATCH), "lambda_b");
    }
  }

  @Test
  void savedAdapterHasPeftsLayoutAndLoadsAndMergesToTheTrainedModel(@TempDir Path tmp) throws IOException {
    Path dir = tmp.resolve("adapter");
    float[] trained;
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      List<Parameter> params = LoraTuner.apply(m, "default", vera(8), 5);
      perturb(params);
      params.get(0).value().copyFrom(Rand.normal(8, 9, 1f));  // one lambda_d moved too
      trained = m.logits(BATCH);
      PeftAdapterWriter.save(m, "default", LoraTuner.resolveTargets(m, vera(8)), "base", dir, false);
    }
    JsonNode cfg = new ObjectMapper().readTree(dir.resolve("adapter_config.json").toFile());
    assertEquals("VERA", cfg.path("peft_type").asText());
    assertEquals(8, cfg.path("r").asInt());
    assertTrue(cfg.path("save_projection").asBoolean());
    assertFalse(cfg.has("lora_alpha"), "a VeraConfig has no lora_alpha");
    try (SafetensorsFile f = SafetensorsFile.open(dir.resolve("adapter_model.safetensors"))) {
      assertEquals(2 + 2 * 14, f.names().size());
      assertArrayEquals(new long[] {8, 176}, f.entry("base_model.vera_A").shape());
      assertArrayEquals(new long[] {176, 8}, f.entry("base_model.vera_B").shape());
      assertArrayEquals(new long[] {32}, f.entry("base_model.model.model.layers.1.self_attn.k_proj.vera_lambda_b").shape());
      assertArrayEquals(new long[] {8}, f.entry("base_model.model.model.layers.1.self_attn.k_proj.vera_lambda_d").shape());
      assertEquals("F32", f.entry("base_model.vera_A").dtype());
    }
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      m.loadAdapter("v", dir);
      m.setActiveAdapter("v");
      assertArrayEquals(trained, m.logits(BATCH), "loaded adapter = trained adapter");
    }
    Path merged = tmp.resolve("merged");
    LoraMerge.Result r = LoraMerge.merge(Fixtures.llamaGqa(), dir, merged, LoraMerge.Options.on(Device.CPU));
    assertEquals(14, r.mergedWeights());
    try (CausalLM m = CausalLM.load(merged, Device.CPU)) {
      // W + (lambda_b B)(lambda_d A) before the product vs after it: fp32 rounding only
      Assert.relNorm("merged vs base + VeRA", m.logits(BATCH), trained, 1e-5);
    }
  }

  @Test
  void anAdapterSavedWithoutItsProjectionsIsRebuiltFromItsKeyAsPeftDoes(@TempDir Path tmp) throws IOException {
    // PEFT's save_projection=False: only the vectors are saved; the projections are redrawn from
    // projection_prng_key (torch's generator), which jswift's are to the bit.
    Path dir = tmp.resolve("adapter");
    LoraConfig cfg = vera(4).with("projection_prng_key", com.fasterxml.jackson.databind.node.IntNode.valueOf(7))
        .with("save_projection", com.fasterxml.jackson.databind.node.BooleanNode.FALSE);
    float[] trained;
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      perturb(LoraTuner.apply(m, "default", cfg, 5));
      trained = m.logits(BATCH);
      PeftAdapterWriter.save(m, "default", LoraTuner.resolveTargets(m, cfg), Fixtures.llamaGqa().toString(), dir,
          false);
    }
    try (SafetensorsFile f = SafetensorsFile.open(dir.resolve("adapter_model.safetensors"))) {
      assertFalse(f.contains("base_model.vera_A"), "save_projection false: the vectors only");
      assertEquals(28, f.names().size());
    }
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      m.loadAdapter("v", dir);
      m.setActiveAdapter("v");
      assertArrayEquals(trained, m.logits(BATCH), "rebuilt projections = the trained ones");
    }
    Path merged = tmp.resolve("merged");
    LoraMerge.merge(Fixtures.llamaGqa(), dir, merged, LoraMerge.Options.on(Device.CPU));
    try (CausalLM m = CausalLM.load(merged, Device.CPU)) {
      Assert.relNorm("merged vs base + VeRA", m.logits(BATCH), trained, 1e-5);
    }
  }

  @Test
  void projectionsAreTorchsKaimingDrawForTheKey() {
    // PEFT: generator = torch.Generator().manual_seed(key); A = empty(r, in).uniform_(-b(in), b(in)), then B =
    // empty(out, r).uniform_(-b(r), b(r)) from the same generator, b(fan) = sqrt(3) sqrt(2) / sqrt(fan)
    jswift.testing.Torch.load();
    var g = org.bytedeco.pytorch.global.torch.createCPUGenerator(7);
    var ta = org.bytedeco.pytorch.Tensor.create(new float[4 * 176], 4, 176).clone();
    ta.uniform_(-Math.sqrt(3.0) * (Math.sqrt(2) / Math.sqrt(176)), Math.sqrt(3.0) * (Math.sqrt(2) / Math.sqrt(176)),
        new org.bytedeco.pytorch.GeneratorOptional(g));
    var tb = org.bytedeco.pytorch.Tensor.create(new float[64 * 4], 64, 4).clone();
    tb.uniform_(-Math.sqrt(3.0) * (Math.sqrt(2) / Math.sqrt(4)), Math.sqrt(3.0) * (Math.sqrt(2) / Math.sqrt(4)),
        new org.bytedeco.pytorch.GeneratorOptional(g));
    float[][] ab = VeraProjections.draw(7, 4, 176, 64);
    assertArrayEquals(jswift.testing.Torch.floats(ta), ab[0], "vera_A");
    assertArrayEquals(jswift.testing.Torch.floats(tb), ab[1], "vera_B");
  }
}
