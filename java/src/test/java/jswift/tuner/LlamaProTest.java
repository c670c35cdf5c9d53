package jswift.tuner;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import jswift.model.Batch;
import jswift.model.CausalLM;
import jswift.model.Checkpoint;
import jswift.tensor.Device;
import jswift.testing.TinyModels;
import jswift.train.TrainArguments;
import jswift.train.Trainer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** LLaMA-Pro block expansion on a tiny random 4-layer Qwen3: placement, identity at init, training, saving. */
class LlamaProTest {
  @TempDir static Path shared;
  static Path model;
  static final int[] TEXT = {785, 3974, 13876, 38835, 34208, 916, 279, 15678, 5562, 13};

  @BeforeAll
  static void setUp() throws IOException {
    model = TinyModels.qwen3(shared.resolve("tiny-qwen3-4"), 5, 4);
  }

  @Test
  void blocksGoWhereMsSwiftPutsThem() {
    // after every L/P original layers, a copy of the layer just before
    LlamaPro.Plan p = LlamaPro.plan(4, 2, null);
    assertArrayEquals(new int[] {0, 1, 1, 2, 3, 3}, p.source());
    assertEquals(List.of(2, 5), p.newBlocks());
    assertEquals(List.of(6, 13, 20, 27), LlamaPro.plan(24, 4, null).newBlocks(), "Qwen2.5-0.5B with the default 4");
    assertEquals(List.of(1, 3, 5, 7), LlamaPro.plan(4, 4, null).newBlocks());
    // ms-swift inserts one block per group: num_groups 2 with 4 new blocks adds 2
    assertEquals(List.of(2, 5), LlamaPro.plan(4, 4, 2).newBlocks());
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> LlamaPro.plan(6, 4, null));
    assertTrue(e.getMessage().contains("--llamapro_num_new_blocks 4") && e.getMessage().contains("6"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> LlamaPro.plan(4, 2, 5));
    assertTrue(e.getMessage().contains("--llamapro_num_groups"), e.getMessage());
  }

  private static Batch text() {
    return Batch.packed(List.of(TEXT), List.of(TEXT));
  }

  @Test
  void theExpandedModelComputesExactlyWhatTheOriginalDid(@TempDir Path out) throws IOException {
    Path expanded = out.resolve("expanded");
    LlamaPro.Plan plan = LlamaPro.expand(model, expanded, 2, null);
    var cfg = new ObjectMapper().readTree(expanded.resolve("config.json").toFile());
    assertEquals(6, cfg.get("num_hidden_layers").asInt());
    assertTrue(Files.exists(expanded.resolve("tokenizer.json")));
    try (Checkpoint base = Checkpoint.open(model); Checkpoint x = Checkpoint.open(expanded)) {
      assertEquals(2 + 4 * 11, base.names().size());
      assertEquals(2 + 6 * 11, x.names().size(), "11 tensors per layer, 6 layers, plus embeddings and final norm");
      for (int j = 0; j < plan.layers(); j++) {
        for (String n : base.names()) {
          String prefix = "model.layers." + plan.source()[j] + ".";
          if (!n.startsWith(prefix)) continue;
          String copy = "model.layers." + j + "." + n.substring(prefix.length());
          float[] w = x.file(copy).floats(copy);
          boolean zero = plan.added()[j] && (n.contains("o_proj") || n.contains("down_proj"));
          if (zero) for (float v : w) assertEquals(0f, v, copy);
          else assertArrayEquals(base.file(n).floats(n), w, copy);
        }
      }
    }
    try (CausalLM a = CausalLM.load(model, Device.CPU); CausalLM b = CausalLM.load(expanded, Device.CPU)) {
      assertEquals(6, b.config().numHiddenLayers());
      assertArrayEquals(a.logits(text()), b.logits(text()), "a zero o_proj and down_proj add exactly nothing");
    }
  }

  @Test
  void trainingChangesOnlyTheNewBlocksAndTheCheckpointReloads(@TempDir Path out) throws IOException {
    Path corpus = out.resolve("corpus.txt");
    Files.writeString(corpus, "The quick brown fox jumps over the lazy dog.\nJava runs on the JVM.\n");
    TrainArguments a = new TrainArguments();
    a.model = model;
    a.dataset = List.of(corpus.toString());
    a.pretrain = true;
    a.lossScale = "all";
    a.trainType = "llamapro";
    a.llamaproNumNewBlocks = 2;
    a.outputDir = out.resolve("runs");
    a.maxSteps = 3;
    a.saveSteps = 2;
    a.learningRate = 1e-2;
    a.lrSchedulerType = "constant";
    a.gradientAccumulationSteps = 1;
    a.device = "cpu";
    StringWriter console = new StringWriter();
    Trainer.Result r;
    float[] trained;
    try (Trainer t = new Trainer(a, new PrintWriter(console, true))) {
      r = t.train();
      trained = t.model().logits(text());
    }
    assertTrue(console.toString().contains("LLaMA-Pro: 2 new blocks at layers [2, 5] of 6"), console.toString());
    assertTrue(r.lastLoss() < r.firstLoss(), r.firstLoss() + " -> " + r.lastLoss());
    try (var left = Files.list(a.outputDir)) {
      assertFalse(left.anyMatch(p -> p.getFileName().toString().startsWith(".llamapro")), "the expansion is removed");
    }
    Path ckpt = r.lastCheckpoint();
    var cfg = new ObjectMapper().readTree(ckpt.resolve("config.json").toFile());
    assertEquals(6, cfg.get("num_hidden_layers").asInt(), "the checkpoint is the expanded model");
    LlamaPro.Plan plan = LlamaPro.plan(4, 2, null);
    try (Checkpoint base = Checkpoint.open(model); Checkpoint x = Checkpoint.open(ckpt)) {
      for (String n : x.names()) {
        float[] w = x.file(n).floats(n);
        if (!n.startsWith("model.layers.")) {
          assertArrayEquals(base.file(n).floats(n), w, n + " stays frozen");
          continue;
        }
        int j = Integer.parseInt(n.split("\\.")[2]);
        String source = "model.layers." + plan.source()[j] + n.substring(("model.layers." + j).length());
        float[] original = base.file(source).floats(source);
        if (plan.added()[j]) {
          boolean zeroAtInit = n.contains("o_proj") || n.contains("down_proj");
          assertFalse(zeroAtInit ? allZero(w) : Arrays.equals(original, w), n + " of a new block trained");
        } else {
          assertArrayEquals(original, w, n + " of an original block stays frozen");
        }
      }
    }
    // The saved folder is a plain HF model: it loads and reproduces the trained model's logits exactly.
    try (CausalLM reloaded = CausalLM.load(ckpt, Device.CPU); CausalLM original = CausalLM.load(model, Device.CPU)) {
      assertArrayEquals(trained, reloaded.logits(text()));
      assertFalse(Arrays.equals(original.logits(text()), trained), "training changed the model");
    }
    // Resuming expands the base again and restores the new blocks and their moments: same model, bit for bit.
    a.outputDir = out.resolve("resumed");
    a.resumeFromCheckpoint = r.runDir().resolve("checkpoint-2");
    Trainer.Result second = TinyModels.train(a);
    try (Checkpoint x = Checkpoint.open(ckpt); Checkpoint y = Checkpoint.open(second.lastCheckpoint())) {
      assertEquals(x.names(), y.names());
      for (String n : x.names()) assertArrayEquals(x.file(n).floats(n), y.file(n).floats(n), "resumed: " + n);
    }
  }

  @Test
  void theExpandedFolderIsLaidOutAsTransformersSavesIt(@TempDir Path out) throws Exception {
    // fixtures/hf-tiny/llamapro/generate_llamapro.py: hf-tiny/qwen2 (its second layer made sliding) expanded as
    // ms-swift does it and saved by transformers; jswift's expansion must hold the same tensors, byte for byte.
    var mapper = new ObjectMapper();
    var ref = mapper.readTree(jswift.testing.Fixtures.hfTiny("llamapro").resolve("reference.json").toFile());
    Path qwen2 = jswift.testing.Fixtures.hfTiny("qwen2"), base = out.resolve("base");
    Files.createDirectories(base);
    for (String f : List.of("model.safetensors", "generation_config.json")) Files.copy(qwen2.resolve(f), base.resolve(f));
    var cfg = (com.fasterxml.jackson.databind.node.ObjectNode) mapper.readTree(qwen2.resolve("config.json").toFile());
    ref.get("base_config_overrides").fields().forEachRemaining(e -> cfg.set(e.getKey(), e.getValue()));
    mapper.writeValue(base.resolve("config.json").toFile(), cfg);
    Path expanded = out.resolve("expanded");
    LlamaPro.Plan plan = LlamaPro.expand(base, expanded, ref.get("llamapro_num_new_blocks").asInt(), null);
    var written = mapper.readTree(expanded.resolve("config.json").toFile());
    ref.get("config").fields().forEachRemaining(e -> assertEquals(e.getValue(), written.get(e.getKey()), e.getKey()));
    List<Integer> newBlocks = new java.util.ArrayList<>();
    ref.get("new_block_indices").forEach(n -> newBlocks.add(n.asInt()));
    assertEquals(newBlocks, plan.newBlocks());
    try (Checkpoint x = Checkpoint.open(expanded)) {
      java.util.Set<String> names = new java.util.TreeSet<>();
      ref.get("tensors").fieldNames().forEachRemaining(names::add);
      assertEquals(names, new java.util.TreeSet<>(x.names()));
      for (String n : names) {
        var t = ref.get("tensors").get(n);
        var e = x.file(n).entry(n);
        assertEquals(t.get("shape").toString(), mapper.writeValueAsString(e.shape()), n);
        assertEquals("F32", e.dtype(), n);
        var digest = java.security.MessageDigest.getInstance("SHA-256");
        digest.update(x.file(n).bytes(n));
        assertEquals(t.get("sha256").asText(), java.util.HexFormat.of().formatHex(digest.digest()), n);
      }
    }
    // transformers computes the expanded model's logits exactly as the base's (the script asserts it); so does jswift
    int[] row = new int[12];
    var ids = mapper.readTree(jswift.testing.Fixtures.hfTiny("qwen2").resolve("reference.json").toFile())
        .get("batch").get("input_ids").get(0);
    for (int i = 0; i < 12; i++) row[i] = ids.get(i).asInt();
    Batch b = Batch.packed(List.of(row), List.of(row));
    try (CausalLM a = CausalLM.load(base, Device.CPU); CausalLM e = CausalLM.load(expanded, Device.CPU)) {
      assertEquals(5, e.config().slidingWindow(2), "the copy of the sliding layer slides");
      assertEquals(0, e.config().slidingWindow(1), "the copy of the full-attention layer does not");
      assertArrayEquals(a.logits(b), e.logits(b));
    }
  }

  @Test
  void aMaxWindowLayersSplitBecomesExplicitLayerTypes(@TempDir Path out) throws IOException {
    // An older Qwen config without layer_types: layers >= max_window_layers slide. After expansion that boundary
    // would fall elsewhere, so the expanded config lists each layer's type.
    Path base = out.resolve("base");
    Files.createDirectories(base);
    try (var files = Files.list(model)) {
      for (Path f : (Iterable<Path>) files::iterator) Files.copy(f, base.resolve(f.getFileName()));
    }
    var mapper = new ObjectMapper();
    var cfg = (com.fasterxml.jackson.databind.node.ObjectNode) mapper.readTree(base.resolve("config.json").toFile());
    cfg.put("use_sliding_window", true).put("sliding_window", 4).put("max_window_layers", 2);
    mapper.writeValue(base.resolve("config.json").toFile(), cfg);
    Path expanded = out.resolve("expanded");
    LlamaPro.expand(base, expanded, 2, null);
    jswift.model.ModelConfig c = jswift.model.ModelConfig.load(expanded);
    assertEquals(List.of(false, false, false, true, true, true), c.slidingLayers(), "types of [0, 1, 1', 2, 3, 3']");
    try (CausalLM a = CausalLM.load(base, Device.CPU); CausalLM b = CausalLM.load(expanded, Device.CPU);
        CausalLM full = CausalLM.load(model, Device.CPU)) {
      assertArrayEquals(a.logits(text()), b.logits(text()));
      assertFalse(Arrays.equals(full.logits(text()), a.logits(text())), "the window matters on this text");
    }
  }

  private static boolean allZero(float[] w) {
    for (float v : w) if (v != 0f) return false;
    return true;
  }
}
