package jswift.tuner;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Tensor;
import jswift.testing.AdapterFiles;
import jswift.testing.Assert;
import jswift.testing.Fixtures;
import jswift.testing.GradientCheck;
import jswift.testing.Rand;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * BOFT on the llama-gqa fixture (all linear layers, blocks of 4, two butterfly factors): a new adapter is the base
 * model, boft_R's and boft_s's gradients match finite differences through the whole model, and saved in PEFT's
 * layout (boft_R [2, in / 4, 4, 4], boft_s [out, 1]) it loads, also beside an older PEFT's boft_P, and merges
 * into weights that give the trained model's logits.
 */
class BoftTunerTest {
  private static final Batch BATCH = Batch.padded(new int[][] {{1, 53, 482, 280, 438, 489, 207}}, null,
      new int[][] {{1, 53, 482, 280, 438, 489, 207}});

  private static LoraConfig boft() {
    var json = com.fasterxml.jackson.databind.node.JsonNodeFactory.instance;
    return LoraConfig.boftDefaults().withTargetModules(List.of("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
        "up_proj", "down_proj")).with("boft_n_butterfly_factor", json.numberNode(2));
  }

  @Test
  void trainsSavesLoadsAndMergesAsPeft(@TempDir Path tmp) throws IOException {
    Path dir = tmp.resolve("adapter");
    float[] trained;
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      float[] base = m.logits(BATCH);
      List<Parameter> params = LoraTuner.apply(m, "default", boft(), 0);
      assertEquals(7 * 2 * 2, params.size(), "boft_R and boft_s of 7 linears in 2 layers");
      assertArrayEquals(base, m.logits(BATCH), "boft_R = 0, boft_s = 1: the adapter changes nothing at init");
      for (Parameter p : params) {
        float[] v = p.name().endsWith("boft_R") ? Rand.normal(p.numel(), p.name().hashCode(), 0.3f)
            : Rand.uniform(p.numel(), p.name().hashCode(), 0.7f, 1.3f);
        p.value().copyFrom(v);
        if (p.master() != null && p.master() != p.value()) p.master().copyFrom(v);
      }
      m.forwardBackward(BATCH, 1);
      GradientCheck.check(params, new Random(5), () -> m.loss(BATCH), "boft");
      trained = m.logits(BATCH);
      assertTrue(!java.util.Arrays.equals(trained, base), "the trained rotation changes the logits");
      PeftAdapterWriter.save(m, "default", boft(), "base", dir, false);
    }
    LoraConfig saved = LoraConfig.read(dir);
    assertEquals("BOFT", saved.peftType());
    assertEquals(2, saved.boftNButterflyFactor());
    try (SafetensorsFile f = SafetensorsFile.open(dir.resolve("adapter_model.safetensors"))) {
      assertEquals(28, f.names().size());
      // q_proj: 64 inputs, blocks of 4; down_proj: 176 inputs; o_proj has 64 outputs, k_proj 32
      assertArrayEquals(new long[] {2, 16, 4, 4}, f.entry("base_model.model.model.layers.0.self_attn.q_proj.boft_R").shape());
      assertArrayEquals(new long[] {2, 44, 4, 4}, f.entry("base_model.model.model.layers.1.mlp.down_proj.boft_R").shape());
      assertArrayEquals(new long[] {32, 1}, f.entry("base_model.model.model.layers.0.self_attn.k_proj.boft_s").shape());
    }
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      m.loadAdapter("b", dir);
      m.setActiveAdapter("b");
      assertArrayEquals(trained, m.logits(BATCH), "loaded = trained");
    }
    Path merged = tmp.resolve("merged");
    assertEquals(14, LoraMerge.merge(Fixtures.llamaGqa(), dir, merged, LoraMerge.Options.on(Device.CPU)).mergedWeights());
    try (CausalLM m = CausalLM.load(merged, Device.CPU)) {
      Assert.relNorm("merged vs base + BOFT", m.logits(BATCH), trained, 1e-5);
    }
    // An older PEFT also saved each module's permutation matrices (boft_P): they are derived, so skipped.
    Path old = tmp.resolve("old-peft");
    Files.createDirectories(old);
    Files.copy(dir.resolve("adapter_config.json"), old.resolve("adapter_config.json"));
    List<TensorSource> tensors = new ArrayList<>();
    try (SafetensorsFile f = SafetensorsFile.open(dir.resolve("adapter_model.safetensors"))) {
      for (String n : f.names()) {
        long[] shape = f.entry(n).shape();
        float[] v = f.floats(n);
        tensors.add(TensorSource.computed(n, DType.F32, shape, () -> Tensor.fromFloats(v, DType.F32, Device.CPU, shape)));
      }
      String p = "base_model.model.model.layers.0.self_attn.q_proj.boft_P";
      tensors.add(TensorSource.computed(p, DType.F32, new long[] {2, 64, 64},
          () -> Tensor.zeros(DType.F32, Device.CPU, 2, 64, 64)));
      SafetensorsWriter.write(old.resolve("adapter_model.safetensors"), tensors, SafetensorsWriter.PT_METADATA);
    }
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      m.loadAdapter("b", old);
      m.setActiveAdapter("b");
      assertArrayEquals(trained, m.logits(BATCH), "boft_P skipped");
    }
  }

  @Test
  void blockSizesThatDoNotDivideALayerAreRefusedBeforeAnyChange() throws IOException {
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      float[] base = m.logits(BATCH);
      var json = com.fasterxml.jackson.databind.node.JsonNodeFactory.instance;
      LoraConfig bad = boft().with("boft_block_size", json.numberNode(5));
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> LoraTuner.apply(m, "default", bad, 0));
      assertTrue(e.getMessage().contains("divisible by boft_block_size (5)"), e.getMessage());
      assertTrue(m.linears().values().stream().allMatch(l -> l.adapters().isEmpty()), "no adapter was added");
      assertArrayEquals(base, m.logits(BATCH));
    }
  }

  @Test
  void anAdapterForAnotherModelIsRefusedWithItsTensor(@TempDir Path tmp) throws IOException {
    Path dir = tmp.resolve("adapter");
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      LoraTuner.apply(m, "default", boft(), 0);
      PeftAdapterWriter.save(m, "default", boft(), "base", dir, false);
    }
    // Rewrite one module's boft_R with blocks that cover 60 inputs instead of 64.
    String bad = "base_model.model.model.layers.0.self_attn.q_proj.boft_R";
    AdapterFiles.reshape(dir, bad, 2, 15, 4, 4);
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      IOException e = assertThrows(IOException.class, () -> m.loadAdapter("b", dir));
      assertTrue(e.getMessage().contains(bad), e.getMessage());
    }
    IOException merge = assertThrows(IOException.class, () -> LoraMerge.merge(Fixtures.llamaGqa(), dir,
        tmp.resolve("merged"), LoraMerge.Options.on(Device.CPU)));
    assertTrue(merge.getMessage().contains("q_proj") && merge.getMessage().contains("boft_R"), merge.getMessage());
  }
}
