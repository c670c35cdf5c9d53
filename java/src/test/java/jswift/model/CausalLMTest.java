package jswift.model;

import static java.nio.file.StandardCopyOption.REPLACE_EXISTING;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import jswift.nn.Parameter;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.testing.Assert;
import jswift.testing.Fixtures;
import jswift.testing.ProfileTables;
import jswift.tuner.LoraConfig;
import jswift.tuner.LoraTuner;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * CausalLM against the llama-gqa fixture (transformers 4.57 + PEFT 0.21 references; tolerances as in
 * LlamaGqaFixtureTest: relative 1e-5 for logits, 1e-5 absolute for losses, 1e-5 abs / 1e-3 rel for gradients).
 */
class CausalLMTest {
  private static SafetensorsFile reference;
  private static int[][] ids, mask, labels;

  @BeforeAll
  static void load() throws IOException {
    reference = SafetensorsFile.open(Fixtures.llamaGqa().resolve("reference.safetensors"));
    ids = rows(reference.longs("input_ids"));
    mask = rows(reference.longs("attention_mask"));
    labels = rows(reference.longs("labels"));
  }

  @AfterAll
  static void close() throws IOException {
    reference.close();
  }

  private static int[][] rows(long[] flat) {
    int[][] r = new int[2][12];
    for (int i = 0; i < 24; i++) r[i / 12][i % 12] = Math.toIntExact(flat[i]);
    return r;
  }

  @Test
  void logitsAndLossMatchTransformers() throws IOException {
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      Batch b = Batch.padded(ids, mask, labels);
      Assert.relNorm("logits", m.logits(b), reference.floats("base.logits"), 1e-5);
      assertEquals(6.618367671966553, m.loss(b), 1e-5);
      assertEquals(15, b.targetCount());
    }
  }

  @Test
  void loraGradientsWithAndWithoutRecomputation() throws IOException {
    for (boolean checkpointing : new boolean[] {false, true}) {
      try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
        m.loadAdapter("lora", Fixtures.llamaGqa().resolve("adapters/lora"));
        m.loadAdapter("rslora", Fixtures.llamaGqa().resolve("adapters/rslora"));
        m.setGradientCheckpointing(checkpointing);
        for (String name : List.of("lora", "rslora")) {
          m.setActiveAdapter(name);
          Map<String, Parameter> params = m.activeAdapterParameters();
          assertEquals(28, params.size());
          params.values().forEach(p -> p.setTrainable(true));
          Batch b = Batch.padded(ids, mask, labels);
          double want = name.equals("lora") ? 6.940145969390869 : 6.759782791137695;
          assertEquals(want, m.forwardBackward(b, 7), 1e-5, name + " loss (checkpointing " + checkpointing + ")");
          for (Parameter p : params.values())
            Assert.close(name + " grad " + p.name(), p.grad().toFloatArray(),
                reference.floats(name + ".grad." + p.name()), 1e-5, 1e-3);
          params.values().forEach(p -> p.setTrainable(false));
        }
        m.setActiveAdapter(null);
        assertEquals(6.618367671966553, m.loss(Batch.padded(ids, mask, labels)), 1e-5, "base again");
      }
    }
  }

  /**
   * Gradient checkpointing changes no number of a LoRA or QLoRA step with dropout, in fp32 and bf16: the layer's
   * first forward keeps each linear's xa = drop(x) A^T, the recomputation reuses it (over a packed base) and skips
   * the down projection's product (its output is not needed), and the loss and every adapter gradient must still
   * be bit for bit those of the step that keeps its activations.
   */
  @ParameterizedTest
  @CsvSource({"NONE, F32", "NONE, BF16", "NF4_DOUBLE_QUANT, F32", "NF4_DOUBLE_QUANT, BF16"})
  void checkpointingChangesNoNumberOfALoraStepWithDropout(CausalLM.Quantization quant, DType dtype)
      throws IOException {
    Batch b = Batch.padded(ids, mask, labels);
    Map<String, float[]> first = new java.util.HashMap<>();
    double firstLoss = Double.NaN;
    for (boolean checkpointing : new boolean[] {false, true}) {
      try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU, dtype, quant)) {
        LoraTuner.apply(m, "x", LoraConfig.defaults().withTargetModules(List.of("all-linear")).withLoraDropout(0.2f),
            5);
        m.setGradientCheckpointing(checkpointing);
        Map<String, Parameter> params = m.activeAdapterParameters();
        params.values().forEach(p -> p.setTrainable(true));
        // B starts at 0 (PEFT's init), which would hide xa from every output: give it values
        for (Parameter p : params.values())
          if (p.name().contains("lora_B"))
            p.value().copyFrom(jswift.testing.Rand.normal(p.value().numel(), p.name().hashCode(), 0.05f));
        double loss = m.forwardBackward(b, 3);
        if (!checkpointing) firstLoss = loss;
        else assertEquals(firstLoss, loss, 0, quant + " " + dtype + " loss");
        for (Parameter p : params.values()) {
          float[] g = p.grad().toFloatArray(), before = first.putIfAbsent(p.name(), g);
          if (before != null) Assert.close(quant + " " + dtype + " checkpointed " + p.name(), g, before, 0, 0);
        }
      }
    }
    assertEquals(28, first.size());
  }

  /**
   * What the recomputation saves, counted by the profiler on a QLoRA step: without checkpointing each layer's 7
   * packed linears multiply twice (forward, backward); with it, the recomputation adds 6 products per layer, not 7
   * (the down projection records its input only), and no dropout pass (xa is the first forward's).
   */
  @Test
  void theRecomputationSkipsTheDownProductAndTheDropouts() throws IOException {
    Batch b = Batch.padded(ids, mask, labels);
    long[][] counts = new long[2][];
    for (int c = 0; c < 2; c++) {
      try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU, DType.F32, CausalLM.Quantization.NF4)) {
        LoraTuner.apply(m, "x", LoraConfig.defaults().withTargetModules(List.of("all-linear")).withLoraDropout(0.1f),
            5);
        m.activeAdapterParameters().values().forEach(p -> p.setTrainable(true));
        m.setGradientCheckpointing(c == 1);
        m.forwardBackward(b, 3);  // warm
        jswift.tensor.Kernels.profileStart();
        try {
          m.forwardBackward(b, 4);
          String table = jswift.tensor.Kernels.profileTable("checkpointing " + (c == 1));
          counts[c] = new long[] {ProfileTables.calls(table, "jsw_nf4_matmul"), ProfileTables.calls(table, "jsw_dropout")};
        } finally {
          jswift.tensor.Kernels.profileStop("CausalLMTest");
        }
      }
    }
    int layers = 2;
    assertEquals(2 * 7 * layers, counts[0][0], "products without checkpointing");
    assertEquals(counts[0][0] + 6 * layers, counts[1][0], "products with checkpointing");
    assertEquals(counts[0][1], counts[1][1], "dropout passes: the recomputation reuses xa");
  }

  @Test
  void doraLogitsLossAndGradientsWithAndWithoutRecomputation() throws IOException {
    for (boolean checkpointing : new boolean[] {false, true}) {
      try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
        m.loadAdapter("dora", Fixtures.llamaGqa().resolve("adapters/dora"));
        m.setActiveAdapter("dora");
        m.setGradientCheckpointing(checkpointing);
        Batch b = Batch.padded(ids, mask, labels);
        Assert.relNorm("dora logits", m.logits(b), reference.floats("dora.logits"), 1e-5);
        assertEquals(6.916664123535156, m.loss(b), 1e-5, "dora eval loss");
        Map<String, Parameter> params = m.activeAdapterParameters();
        assertEquals(42, params.size(), "A, B and the magnitude of 14 modules");
        params.values().forEach(p -> p.setTrainable(true));
        assertEquals(6.916664123535156, m.forwardBackward(b, 7), 1e-5, "dora loss (checkpointing " + checkpointing + ")");
        for (Parameter p : params.values())
          Assert.close("dora grad " + p.name(), p.grad().toFloatArray(), reference.floats("dora.grad." + p.name()), 1e-5,
              1e-3);
        assertTrue(params.containsKey("base_model.model.model.layers.1.mlp.down_proj.lora_magnitude_vector"));
      }
    }
  }

  @Test
  void doraWithDropoutRecomputesTheSameMasks(@TempDir Path dir) throws IOException {
    // The fixture's dora adapter with lora_dropout 0.2: eval ignores dropout (PEFT's logits); a training step
    // drops (another loss), and recomputing each layer in the backward regenerates the same masks, so gradient
    // checkpointing changes no gradient.
    Path dora = Fixtures.llamaGqa().resolve("adapters/dora");
    Files.copy(dora.resolve("adapter_model.safetensors"), dir.resolve("adapter_model.safetensors"));
    Files.writeString(dir.resolve("adapter_config.json"), Files.readString(dora.resolve("adapter_config.json"))
        .replace("\"lora_dropout\": 0.0", "\"lora_dropout\": 0.2"));
    Batch b = Batch.padded(ids, mask, labels);
    Map<String, float[]> first = new java.util.HashMap<>();
    for (boolean checkpointing : new boolean[] {false, true}) {
      try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
        m.loadAdapter("dora", dir);
        m.setActiveAdapter("dora");
        m.setGradientCheckpointing(checkpointing);
        Assert.relNorm("dora eval logits with dropout configured", m.logits(b), reference.floats("dora.logits"), 1e-5);
        Map<String, Parameter> params = m.activeAdapterParameters();
        params.values().forEach(p -> p.setTrainable(true));
        double loss = m.forwardBackward(b, 11);
        assertTrue(Math.abs(loss - 6.916664123535156) > 1e-3, "training drops inputs: loss " + loss);
        for (Parameter p : params.values()) {
          float[] g = p.grad().toFloatArray(), before = first.putIfAbsent(p.name(), g);
          if (before != null) Assert.close("recomputed " + p.name(), g, before, 0, 0);
        }
      }
    }
    assertEquals(42, first.size());
  }

  @Test
  void loraDropoutRunsInTrainingOnly(@TempDir Path dir) throws IOException {
    // The fixture's lora adapter with lora_dropout 0.3: PEFT drops nothing in eval mode, so logits and loss are
    // the dropout-free reference; a training step does drop, so its loss moves away from it.
    Path lora = Fixtures.llamaGqa().resolve("adapters/lora");
    Files.copy(lora.resolve("adapter_model.safetensors"), dir.resolve("adapter_model.safetensors"));
    Files.writeString(dir.resolve("adapter_config.json"), Files.readString(lora.resolve("adapter_config.json"))
        .replace("\"lora_dropout\": 0.0", "\"lora_dropout\": 0.3"));
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      m.loadAdapter("dropped", dir);
      m.setActiveAdapter("dropped");
      Batch b = Batch.padded(ids, mask, labels);
      Assert.relNorm("eval logits", m.logits(b), reference.floats("lora.logits"), 1e-5);
      assertEquals(6.940145969390869, m.loss(b), 1e-5, "eval loss");
      assertEquals(6.940145969390869, m.evaluate(b).lossSum() / 15, 1e-5, "evaluate()");
      m.activeAdapterParameters().values().forEach(p -> p.setTrainable(true));
      double trained = m.forwardBackward(b, 3);
      assertTrue(Math.abs(trained - 6.940145969390869) > 1e-3, "training drops inputs: loss " + trained);
    }
  }

  /**
   * A training micro-step counts its token accuracy from the loss head's argmax (ms-swift's token_acc): the same
   * count as evaluate() on a dropout-free adapter, over targets half of which are set to the model's own
   * prediction (so the count is far from 0), and a take starts the count again.
   */
  @Test
  void aTrainingStepCountsTheTokenAccuracyOfItsLogits() throws IOException {
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      m.loadAdapter("lora", Fixtures.llamaGqa().resolve("adapters/lora"));
      m.setActiveAdapter("lora");
      m.activeAdapterParameters().values().forEach(p -> p.setTrainable(true));
      Batch b = Batch.padded(ids, mask, labels);
      float[] logits = m.logits(b);
      int vocab = logits.length / b.tokens(), predicted = 0;
      for (int t = 0; t < b.tokens(); t += 2) {
        if (b.targets[t] == Batch.IGNORE) continue;
        int best = 0;
        for (int v = 1; v < vocab; v++) if (logits[t * vocab + v] > logits[t * vocab + best]) best = v;
        b.targets[t] = best;
        predicted++;
      }
      CausalLM.Eval e = m.evaluate(b);
      assertTrue(e.correct() >= predicted && predicted >= 5, e + ", " + predicted + " targets set to the argmax");
      m.takeTokenAccuracy();
      m.forwardBackward(b, 3);
      long[] acc = m.takeTokenAccuracy();
      assertEquals(e.correct(), acc[0], "correct targets");
      assertEquals(e.targets(), acc[1], "targets");
      m.forwardBackward(b, 4);
      m.forwardBackward(b, 5);
      assertEquals(2L * e.targets(), m.takeTokenAccuracy()[1], "two micro-steps add up");
      assertEquals(0L, m.takeTokenAccuracy()[1], "a take starts again");
    }
  }

  @Test
  void packedSequencesGiveTheLossesOfThePaddedRows() throws IOException {
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      int[] row0 = ids[0], row1 = Arrays.copyOf(ids[1], 9), lab0 = labels[0], lab1 = Arrays.copyOf(labels[1], 9);
      double packed = m.loss(Batch.packed(List.of(row0, row1), List.of(lab0, lab1)));
      assertEquals(6.618367671966553, packed, 1e-5, "packing must not let the sequences attend to each other");
      float[] logits = m.logits(Batch.packed(List.of(row0, row1), null));
      float[] ref = reference.floats("base.logits");
      int vocab = m.config().vocabSize();
      // row 1's 9 real tokens sit after row 0's 12 in the packed batch
      Assert.close("packed row 1 logits", Arrays.copyOfRange(logits, 12 * vocab, 21 * vocab),
          Arrays.copyOfRange(ref, 12 * vocab, 21 * vocab), 1e-4, 0);
    }
  }

  @Test
  void badAdaptersAndBatchesAreClearErrors(@TempDir Path dir) throws IOException {
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      IOException e = assertThrows(IOException.class, () -> m.loadAdapter("x", dir));
      assertTrue(e.getMessage().contains("adapter_config.json not found"), e.getMessage());
      // DoRA config, LoRA weights: no magnitudes; LoRA config, DoRA weights: magnitudes nobody asked for.
      Path lora = Fixtures.llamaGqa().resolve("adapters/lora"), dora = Fixtures.llamaGqa().resolve("adapters/dora");
      Files.copy(dora.resolve("adapter_config.json"), dir.resolve("adapter_config.json"));
      Files.copy(lora.resolve("adapter_model.safetensors"), dir.resolve("adapter_model.safetensors"));
      e = assertThrows(IOException.class, () -> m.loadAdapter("x", dir));
      assertTrue(e.getMessage().contains("has no lora_magnitude_vector"), e.getMessage());
      Files.copy(lora.resolve("adapter_config.json"), dir.resolve("adapter_config.json"), REPLACE_EXISTING);
      Files.copy(dora.resolve("adapter_model.safetensors"), dir.resolve("adapter_model.safetensors"), REPLACE_EXISTING);
      e = assertThrows(IOException.class, () -> m.loadAdapter("x", dir));
      assertTrue(e.getMessage().contains("lora_magnitude_vector") && e.getMessage().contains("does not set use_dora"),
          e.getMessage());
      assertTrue(m.linears().values().stream().allMatch(l -> l.adapters().isEmpty()), "nothing half-loaded stays");
      Files.writeString(dir.resolve("adapter_config.json"), Files.readString(lora.resolve("adapter_config.json"))
          .replace("\"r\": 4", "\"r\": 8"));
      Files.copy(lora.resolve("adapter_model.safetensors"), dir.resolve("adapter_model.safetensors"), REPLACE_EXISTING);
      e = assertThrows(IOException.class, () -> m.loadAdapter("x", dir));
      assertTrue(e.getMessage().contains("r=8"), e.getMessage());
      assertThrows(IllegalArgumentException.class, () -> m.setActiveAdapter("nope"));
      assertThrows(IllegalArgumentException.class, () -> Batch.padded(new int[][] {{1, 2}, {3}}, null, null));
      int[][] noTargets = {{1, 5, 7}};
      assertThrows(IllegalArgumentException.class,
          () -> m.loss(Batch.padded(noTargets, null, new int[][] {{-100, -100, -100}})));
    }
  }

  @Test
  void wrongCheckpointsNameTheTensor(@TempDir Path dir) throws IOException {
    Files.copy(Fixtures.llamaGqa().resolve("model.safetensors"), dir.resolve("model.safetensors"));
    Files.writeString(dir.resolve("config.json"), Files.readString(Fixtures.llamaGqa().resolve("config.json"))
        .replace("\"intermediate_size\": 176", "\"intermediate_size\": 180"));
    IOException e = assertThrows(IOException.class, () -> CausalLM.load(dir, Device.CPU));
    assertTrue(e.getMessage().contains("gate_proj.weight") && e.getMessage().contains("[180, 64]"), e.getMessage());
    // a checkpoint missing one tensor
    Files.copy(Fixtures.llamaGqa().resolve("config.json"), dir.resolve("config.json"),
        java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    try (SafetensorsFile full = SafetensorsFile.open(Fixtures.llamaGqa().resolve("model.safetensors"))) {
      java.util.List<TensorSource> keep = new java.util.ArrayList<>();
      for (String n : full.names()) if (!n.equals("model.layers.1.mlp.down_proj.weight")) keep.add(TensorSource.stored(full, n));
      SafetensorsWriter.write(dir.resolve("model.safetensors"), keep, SafetensorsWriter.PT_METADATA);
    }
    e = assertThrows(IOException.class, () -> CausalLM.load(dir, Device.CPU));
    assertTrue(e.getMessage().contains("no tensor 'model.layers.1.mlp.down_proj.weight'"), e.getMessage());
    Files.delete(dir.resolve("model.safetensors"));
    e = assertThrows(IOException.class, () -> CausalLM.load(dir, Device.CPU));
    assertTrue(e.getMessage().contains("neither model.safetensors"), e.getMessage());
  }
}
