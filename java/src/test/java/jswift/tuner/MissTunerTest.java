package jswift.tuner;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import jswift.model.Batch;
import jswift.model.CausalLM;
import jswift.model.SafetensorsFile;
import jswift.nn.Parameter;
import jswift.tensor.Device;
import jswift.testing.AdapterFiles;
import jswift.testing.Assert;
import jswift.testing.Fixtures;
import jswift.testing.GradientCheck;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * MiSS (ms-swift's bone) on the llama-gqa fixture (all linear layers, r = 6, so the 64-wide inputs are padded to
 * 66 and the 176-wide ones to 180): zero blocks start at the base model and random ones do not; the blocks'
 * gradients match finite differences through the whole model; saved in PEFT's layout (miss_block [r, out]) it
 * loads and merges into weights that give the same logits; an older PEFT's Bone adapter (bone_block) loads the
 * same; PEFT's "bat" variant and a block of the wrong width are refused, naming the tensor.
 */
class MissTunerTest {
  private static final JsonNodeFactory JSON = JsonNodeFactory.instance;
  private static final Batch BATCH = Batch.padded(new int[][] {{1, 53, 482, 280, 438, 489, 207}}, null,
      new int[][] {{1, 53, 482, 280, 438, 489, 207}});

  private static LoraConfig miss(boolean zeros) {
    return LoraConfig.missDefaults().withR(6).withTargetModules(List.of("q_proj", "k_proj", "v_proj", "o_proj",
        "gate_proj", "up_proj", "down_proj")).with("init_weights", JSON.booleanNode(zeros));
  }

  @Test
  void trainsSavesLoadsAndMergesAsPeftAndReadsBone(@TempDir Path tmp) throws IOException {
    Path dir = tmp.resolve("adapter");
    float[] trained;
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      float[] base = m.logits(BATCH);
      LoraTuner.apply(m, "zero", miss(true), 0);
      assertArrayEquals(base, m.logits(BATCH), "zero blocks: the base model");
      List<Parameter> params = LoraTuner.apply(m, "default", miss(false), 0);
      assertEquals(14, params.size());
      assertFalse(java.util.Arrays.equals(base, m.logits(BATCH)), "random blocks change the model");
      m.forwardBackward(BATCH, 1);
      GradientCheck.check(params, new Random(5), () -> m.loss(BATCH), "miss");
      trained = m.logits(BATCH);
      PeftAdapterWriter.save(m, "default", miss(false), "base", dir, false);
    }
    assertEquals("MISS", LoraConfig.read(dir).peftType());
    try (SafetensorsFile f = SafetensorsFile.open(dir.resolve("adapter_model.safetensors"))) {
      assertEquals(14, f.names().size());
      assertArrayEquals(new long[] {6, 32}, f.entry("base_model.model.model.layers.0.self_attn.k_proj.miss_block").shape());
      assertArrayEquals(new long[] {6, 176}, f.entry("base_model.model.model.layers.1.mlp.up_proj.miss_block").shape());
    }
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      m.loadAdapter("m", dir);
      m.setActiveAdapter("m");
      assertArrayEquals(trained, m.logits(BATCH), "loaded = trained");
    }
    Path merged = tmp.resolve("merged");
    assertEquals(14, LoraMerge.merge(Fixtures.llamaGqa(), dir, merged, LoraMerge.Options.on(Device.CPU)).mergedWeights());
    try (CausalLM m = CausalLM.load(merged, Device.CPU)) {
      Assert.relNorm("merged vs base + MiSS", m.logits(BATCH), trained, 1e-5);
    }
    // PEFT before MiSS called it Bone: peft_type BONE, bone_block
    Path bone = tmp.resolve("bone");
    AdapterFiles.rewrite(dir, bone, e -> new AdapterFiles.Entry(e.name().replace(".miss_block", ".bone_block"),
        e.shape(), e.values()));
    Files.writeString(bone.resolve("adapter_config.json"), Files.readString(dir.resolve("adapter_config.json"))
        .replace("\"MISS\"", "\"BONE\""));
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      m.loadAdapter("b", bone);
      m.setActiveAdapter("b");
      assertArrayEquals(trained, m.logits(BATCH), "the Bone adapter");
    }
    Path boneMerged = tmp.resolve("bone-merged");
    LoraMerge.merge(Fixtures.llamaGqa(), bone, boneMerged, LoraMerge.Options.on(Device.CPU));
    try (CausalLM m = CausalLM.load(boneMerged, Device.CPU)) {
      Assert.relNorm("merged Bone", m.logits(BATCH), trained, 1e-5);
    }
  }

  @Test
  void batAndBlocksOfAnotherWidthAreRefused(@TempDir Path tmp) throws IOException {
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> LoraTuner.apply(m, "default", miss(true).with("init_weights", JSON.textNode("bat")), 0));
      assertTrue(e.getMessage().contains("\"bat\""), e.getMessage());
      assertTrue(m.linears().values().stream().allMatch(l -> l.adapters().isEmpty()), "no adapter was added");
      LoraTuner.apply(m, "default", miss(false), 0);
      PeftAdapterWriter.save(m, "default", miss(false), "base", tmp.resolve("adapter"), false);
    }
    Path bad = tmp.resolve("adapter");
    AdapterFiles.reshape(bad, "base_model.model.model.layers.0.self_attn.q_proj.miss_block", 6, 31);
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      IOException e = assertThrows(IOException.class, () -> m.loadAdapter("b", bad));
      assertTrue(e.getMessage().contains(".miss_block' has shape [6, 31]"), e.getMessage());
      assertTrue(m.linears().values().stream().allMatch(l -> l.adapters().isEmpty()), "no adapter was added");
    }
    IOException merge = assertThrows(IOException.class, () -> LoraMerge.merge(Fixtures.llamaGqa(), bad,
        tmp.resolve("merged"), LoraMerge.Options.on(Device.CPU)));
    assertTrue(merge.getMessage().contains("miss_block [6, 31]"), merge.getMessage());
  }
}
