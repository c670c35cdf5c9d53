package jswift.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import jswift.model.Batch;
import jswift.model.CausalLM;
import jswift.model.SafetensorsFile;
import jswift.tensor.Device;
import jswift.testing.TinyModels;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The SFT loop on a tiny random Qwen3 model with the real Qwen3 tokenizer and template. */
class TrainerTest {
  @TempDir static Path shared;
  static Path model, data;

  @BeforeAll
  static void setUp() throws IOException {
    model = TinyModels.qwen3(shared.resolve("tiny-qwen3"), 7);
    data = TinyModels.chatDataset(shared.resolve("train.jsonl"), TinyModels.IDENTITY_QA);
  }

  private static TrainArguments args(Path out, long maxSteps, int saveSteps) {
    TrainArguments a = TinyModels.trainArguments(model, data, out, maxSteps, saveSteps);
    a.learningRate = 3e-2;  // a random 32-wide model behind a frozen 152K-word tied head learns slowly
    a.lrSchedulerType = "constant";
    a.gradientAccumulationSteps = 2;
    a.perDeviceTrainBatchSize = 2;
    a.loraRank = 4;
    a.loraAlpha = 8;
    a.loraDropout = 0.1f;  // dropout on, so resume must also regenerate the same masks
    a.device = "cpu";
    return a;
  }

  @Test
  void trainsLogsAndSavesPeftCheckpoints(@TempDir Path out) throws IOException {
    StringWriter console = new StringWriter();
    Trainer.Result r;
    try (Trainer t = new Trainer(args(out, 12, 6), new PrintWriter(console, true))) {
      r = t.train();
    }
    assertTrue(r.lastLoss() < r.firstLoss() * 0.7, "memorising 4 answers: " + r.firstLoss() + " -> " + r.lastLoss());
    assertTrue(r.runDir().getFileName().toString().matches("v0-\\d{8}-\\d{6}"), r.runDir().toString());
    assertTrue(Files.exists(r.runDir().resolve("args.json")));
    // ms-swift's names, as its args.json has them (its load_args reads these)
    com.fasterxml.jackson.databind.JsonNode written = new com.fasterxml.jackson.databind.ObjectMapper().readTree(
        r.runDir().resolve("args.json").toFile());
    for (String key : List.of("model", "train_type", "lora_rank", "per_device_train_batch_size", "max_length",
        "bnb_4bit_use_double_quant", "adalora_deltaT", "split_dataset_ratio", "learning_rate"))
      assertTrue(written.has(key), key + " in " + written.fieldNames().next() + "...");
    List<String> log = Files.readAllLines(r.runDir().resolve("logging.jsonl"));
    assertEquals(12, log.stream().filter(l -> l.contains("\"loss\"")).count(), String.join("\n", log));
    // ms-swift's token_acc on every training record; memorising the answers raises it
    List<Double> acc = new java.util.ArrayList<>();
    for (String line : log) {
      JsonNode n = new ObjectMapper().readTree(line);
      if (n.has("loss")) acc.add(n.get("token_acc").asDouble(-1));
    }
    assertTrue(acc.stream().allMatch(a -> a >= 0 && a <= 1), acc.toString());
    assertTrue(acc.get(acc.size() - 1) > acc.get(0), "token accuracy " + acc);
    Path ckpt = r.runDir().resolve("checkpoint-12");
    assertEquals(ckpt, r.lastCheckpoint());
    assertTrue(Files.exists(r.runDir().resolve("checkpoint-6/adapter_model.safetensors")));
    assertTrue(Files.exists(ckpt.resolve("args.json")), "args.json travels with each checkpoint");
    JsonNode cfg = new ObjectMapper().readTree(ckpt.resolve("adapter_config.json").toFile());
    assertEquals(4, cfg.get("r").asInt());
    assertEquals(7, cfg.get("target_modules").size(), "all-linear saved as the 7 layer names, as PEFT does");
    assertTrue(console.toString().contains("step 12/12"), console.toString());
    // images/: ms-swift's plot files, redrawn at the saves (TrainingPlotsTest checks what they show)
    for (String png : List.of("train_loss.png", "train_learning_rate.png", "train_grad_norm.png", "train_token_acc.png"))
      assertEquals(800, javax.imageio.ImageIO.read(r.runDir().resolve("images").resolve(png).toFile()).getWidth(), png);
    // The saved adapter, loaded on a fresh model, reproduces the trained model's eval loss.
    try (CausalLM m = CausalLM.load(model, Device.CPU)) {
      double base = m.loss(sample());
      m.loadAdapter("trained", ckpt);
      m.setActiveAdapter("trained");
      assertTrue(m.loss(sample()) < base - 0.5, "the checkpoint carries the training");
    }
  }

  @Test
  void resumeIsBitIdenticalToAnUninterruptedRun(@TempDir Path out) throws IOException {
    Trainer.Result straight = TinyModels.train(args(out.resolve("a"), 8, 4));
    TrainArguments resumed = args(out.resolve("b"), 8, 4);
    resumed.resumeFromCheckpoint = straight.runDir().resolve("checkpoint-4");
    Trainer.Result second = TinyModels.train(resumed);
    assertEquals(straight.lastLoss(), second.lastLoss(), 0.0, "same final loss, bit for bit");
    try (SafetensorsFile a = SafetensorsFile.open(straight.lastCheckpoint().resolve("adapter_model.safetensors"));
        SafetensorsFile b = SafetensorsFile.open(second.lastCheckpoint().resolve("adapter_model.safetensors"))) {
      assertEquals(a.names(), b.names());
      for (String n : a.names()) assertArrayEquals(a.floats(n), b.floats(n), n);
    }
  }

  /**
   * --resume_only_model: the weights alone, with a fresh optimizer, from the checkpoint's step and data position;
   * with --ignore_data_skip a new run from those weights (step 1); --ignore_data_skip alone a full resume that
   * reads the data from its start.
   */
  @Test
  void resumeOnlyModelTakesTheWeightsAlone(@TempDir Path out) throws IOException {
    Trainer.Result straight = TinyModels.train(args(out.resolve("a"), 8, 4));
    Path from = straight.runDir().resolve("checkpoint-4");
    var json = new ObjectMapper();
    java.util.function.Function<Path, Long> optimizerSteps = ckpt -> {
      try {
        return json.readTree(ckpt.resolve("trainer_state.json").toFile()).get("optimizer_steps").asLong();
      } catch (IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    };
    TrainArguments only = args(out.resolve("b"), 8, 4);
    only.resumeFromCheckpoint = from;
    only.resumeOnlyModel = true;
    Trainer.Result b = TinyModels.train(only);
    assertFalse(Files.exists(b.runDir().resolve("checkpoint-4")), "steps 5-8 only");
    assertEquals(4L, optimizerSteps.apply(b.lastCheckpoint()), "a fresh optimizer took 4 steps");
    assertEquals(8L, optimizerSteps.apply(straight.lastCheckpoint()));
    try (SafetensorsFile x = SafetensorsFile.open(straight.lastCheckpoint().resolve("adapter_model.safetensors"));
        SafetensorsFile y = SafetensorsFile.open(b.lastCheckpoint().resolve("adapter_model.safetensors"))) {
      String n = x.names().iterator().next();
      assertFalse(java.util.Arrays.equals(x.floats(n), y.floats(n)), "fresh moments give other updates");
    }
    TrainArguments fresh = args(out.resolve("c"), 8, 4);
    fresh.resumeFromCheckpoint = from;
    fresh.resumeOnlyModel = true;
    fresh.ignoreDataSkip = true;
    Trainer.Result c = TinyModels.train(fresh);
    assertTrue(Files.isDirectory(c.runDir().resolve("checkpoint-4")), "a new run from step 1");
    assertEquals(8L, optimizerSteps.apply(c.lastCheckpoint()));
    assertTrue(c.firstLoss() < straight.firstLoss(), "it starts from the trained weights: " + c.firstLoss() + " vs "
        + straight.firstLoss());
    TrainArguments noSkip = args(out.resolve("d"), 8, 4);
    noSkip.resumeFromCheckpoint = from;
    noSkip.ignoreDataSkip = true;
    Trainer.Result d = TinyModels.train(noSkip);
    assertFalse(Files.exists(d.runDir().resolve("checkpoint-4")));
    assertEquals(8L, optimizerSteps.apply(d.lastCheckpoint()), "a full resume keeps the optimizer");
    // --save_only_model: no optimizer file; such a checkpoint resumes with --resume_only_model only
    TrainArguments light = args(out.resolve("f"), 4, 4);
    light.saveOnlyModel = true;
    Trainer.Result f = TinyModels.train(light);
    assertFalse(Files.exists(f.lastCheckpoint().resolve("optimizer.safetensors")));
    assertTrue(Files.exists(f.lastCheckpoint().resolve("adapter_model.safetensors")));
    TrainArguments full = args(out.resolve("g"), 8, 4);
    full.resumeFromCheckpoint = f.lastCheckpoint();
    IOException missing = assertThrows(IOException.class, () -> TinyModels.train(full));
    assertTrue(missing.getMessage().contains("--resume_only_model"), missing.getMessage());
    full.resumeOnlyModel = true;
    assertEquals(4L, optimizerSteps.apply(TinyModels.train(full).lastCheckpoint()), "weights taken, 4 fresh steps");
    TrainArguments bad = args(out.resolve("e"), 8, 4);
    bad.resumeOnlyModel = true;
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, bad::validate);
    assertTrue(e.getMessage().contains("--resume_from_checkpoint"), e.getMessage());
  }

  @Test
  void pissaRunsSaveTheConversionThatServesTheOriginalBase(@TempDir Path out) throws IOException {
    // ms-swift's layout for --init_weights pissa: <run>/initial_model (A0, B0) and checkpoint-K/converted/default,
    // the rank-2r plain LoRA that gives the trained model on the ORIGINAL weights.
    TrainArguments a = args(out, 2, 2);
    a.initWeights = "pissa";
    a.loraDropout = 0f;
    double trainedLoss;
    Trainer.Result r;
    try (Trainer t = new Trainer(a, new PrintWriter(new StringWriter()))) {
      r = t.train();
      trainedLoss = t.model().loss(sample());
    }
    JsonNode initial = new ObjectMapper().readTree(r.runDir().resolve("initial_model/adapter_config.json").toFile());
    assertTrue(initial.get("init_lora_weights").asBoolean(), "the initial adapter loads without re-decomposing");
    Path ckpt = r.lastCheckpoint();
    assertEquals("pissa", new ObjectMapper().readTree(ckpt.resolve("adapter_config.json").toFile())
        .get("init_lora_weights").asText());
    JsonNode converted = new ObjectMapper().readTree(ckpt.resolve("converted/default/adapter_config.json").toFile());
    assertEquals(8, converted.get("r").asInt());
    assertEquals(16, converted.get("lora_alpha").asInt());
    try (CausalLM m = CausalLM.load(model, Device.CPU)) {
      assertThrows(IOException.class, () -> m.loadAdapter("raw", ckpt), "a PiSSA adapter does not fit W itself");
      m.loadAdapter("trained", jswift.tuner.ResidualInit.forOriginalBase(ckpt));
      m.setActiveAdapter("trained");
      // fp32 throughout; W + s (B A - B0 A0) vs W_res + s B A differ by a few roundings of the weights.
      assertEquals(trainedLoss, m.loss(sample()), 1e-4 * Math.abs(trainedLoss));
    }
  }

  @Test
  void modulesToSaveTrainBesideTheAdapterAndTravelInIt(@TempDir Path out) throws IOException {
    // --modules_to_save lm_head on a tied model: the checkpoint carries the trained head under PEFT's key, and the
    // adapter alone reproduces the trained model on a fresh base.
    TrainArguments a = args(out, 2, 2);
    a.modulesToSave = List.of("lm_head");
    a.loraDropout = 0f;
    double trainedLoss;
    Trainer.Result r;
    try (Trainer t = new Trainer(a, new PrintWriter(new StringWriter()))) {
      r = t.train();
      trainedLoss = t.model().loss(sample());
    }
    Path ckpt = r.lastCheckpoint();
    try (SafetensorsFile f = SafetensorsFile.open(ckpt.resolve("adapter_model.safetensors"))) {
      assertTrue(f.contains("base_model.model.lm_head.weight"), f.names().toString());
    }
    assertEquals("[\"lm_head\"]", new ObjectMapper().readTree(ckpt.resolve("adapter_config.json").toFile())
        .get("modules_to_save").toString());
    try (CausalLM m = CausalLM.load(model, Device.CPU)) {
      double base = m.loss(sample());
      m.loadAdapter("trained", ckpt);
      m.setActiveAdapter("trained");
      double loaded = m.loss(sample());
      assertEquals(trainedLoss, loaded, 1e-6 * Math.abs(trainedLoss));
      assertTrue(loaded < base, "the checkpoint carries the training");
    }
  }

  @Test
  void doraTrainsWithDropoutAndResumesBitIdentically(@TempDir Path out) throws IOException {
    // --use_dora with ms-swift's dropout on: checkpoints carry the magnitudes (and their optimizer moments), and
    // resuming regenerates the same masks.
    TrainArguments a = args(out.resolve("a"), 4, 2);
    a.useDora = true;
    Trainer.Result straight = TinyModels.train(a);
    TrainArguments resumed = args(out.resolve("b"), 4, 2);
    resumed.useDora = true;
    resumed.resumeFromCheckpoint = straight.runDir().resolve("checkpoint-2");
    Trainer.Result second = TinyModels.train(resumed);
    assertEquals(straight.lastLoss(), second.lastLoss(), 0.0, "same final loss, bit for bit");
    JsonNode cfg = new ObjectMapper().readTree(straight.lastCheckpoint().resolve("adapter_config.json").toFile());
    assertTrue(cfg.get("use_dora").asBoolean());
    java.util.Set<String> names = sameAdapters(straight, second);
    long magnitudes = names.stream().filter(n -> n.endsWith(".lora_magnitude_vector")).count();
    assertEquals(names.size() / 3, magnitudes, "A, B and a magnitude per module");
  }

  /** The last checkpoints' adapters of two runs hold the same tensors, bit for bit; returns their names. */
  private static java.util.Set<String> sameAdapters(Trainer.Result a, Trainer.Result b) throws IOException {
    try (SafetensorsFile x = SafetensorsFile.open(a.lastCheckpoint().resolve("adapter_model.safetensors"));
        SafetensorsFile y = SafetensorsFile.open(b.lastCheckpoint().resolve("adapter_model.safetensors"))) {
      assertEquals(x.names(), y.names());
      for (String n : x.names()) assertArrayEquals(x.floats(n), y.floats(n), n);
      return x.names();
    }
  }

  @Test
  void veraTrainsOnAnNf4BaseResumesBitIdenticallyAndContinuesFromItsAdapter(@TempDir Path out) throws IOException {
    // --train_type vera over a QLoRA base, with vera_dropout: checkpoints are PEFT VeRA adapters (projections and
    // vectors), a resume regenerates the same projections and masks, and --adapters continues from the vectors and
    // the saved projections.
    java.util.function.Function<Path, TrainArguments> vera = dir -> {
      TrainArguments a = args(dir, 6, 3);
      a.trainType = "vera";
      a.veraRank = 16;
      a.veraDropout = 0.1f;
      a.quantMethod = "bnb";
      a.quantBits = 4;
      return a;
    };
    StringWriter console = new StringWriter();
    Trainer.Result straight;
    try (Trainer t = new Trainer(vera.apply(out.resolve("a")), new PrintWriter(console, true))) {
      straight = t.train();
    }
    assertTrue(console.toString().contains("trainable VeRA parameters"), console.toString());
    assertTrue(straight.lastLoss() < straight.firstLoss(), straight.firstLoss() + " -> " + straight.lastLoss());
    JsonNode cfg = new ObjectMapper().readTree(straight.lastCheckpoint().resolve("adapter_config.json").toFile());
    assertEquals("VERA", cfg.get("peft_type").asText());
    assertEquals(16, cfg.get("r").asInt());
    TrainArguments resumed = vera.apply(out.resolve("b"));
    resumed.resumeFromCheckpoint = straight.runDir().resolve("checkpoint-3");
    Trainer.Result second = TinyModels.train(resumed);
    assertEquals(straight.lastLoss(), second.lastLoss(), 0.0, "same final loss, bit for bit");
    java.util.Set<String> names = sameAdapters(straight, second);
    assertTrue(names.contains("base_model.vera_A") && names.contains("base_model.vera_B"), names.toString());
    // Continuing from the adapter starts where it ended (its loss on the first batch is below the fresh run's).
    TrainArguments more = vera.apply(out.resolve("c"));
    more.adapters = List.of(straight.lastCheckpoint());
    more.maxSteps = 1;
    Trainer.Result cont = TinyModels.train(more);
    assertTrue(cont.firstLoss() < straight.firstLoss(), "continued " + cont.firstLoss() + " vs fresh "
        + straight.firstLoss());
    TrainArguments mismatch = vera.apply(out.resolve("d"));
    mismatch.trainType = "lora";
    mismatch.adapters = List.of(straight.lastCheckpoint());
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> new Trainer(mismatch, new PrintWriter(new StringWriter())).close());
    assertTrue(e.getMessage().contains("--train_type vera"), e.getMessage());
  }

  @Test
  void adaLoraPrunesToItsBudgetAndResumesBitIdentically(@TempDir Path out) throws IOException {
    // --train_type adalora with dropout: the regulariser joins the loss, the singular values are pruned down to
    // target_r per module, checkpoints save the survivors (PEFT's layout) while the optimizer file keeps the full
    // factors and the allocator's scores, so a resume in the middle of the pruning ends bit-identical.
    java.util.function.Function<Path, TrainArguments> ada = dir -> {
      TrainArguments a = args(dir, 6, 3);
      a.trainType = "adalora";
      a.adaloraInitR = 4;
      a.adaloraTargetR = 2;
      return a;
    };
    StringWriter console = new StringWriter();
    Trainer.Result straight;
    try (Trainer t = new Trainer(ada.apply(out.resolve("a")), new PrintWriter(console, true))) {
      straight = t.train();
    }
    assertTrue(console.toString().contains("trainable AdaLoRA parameters"), console.toString());
    JsonNode cfg = new ObjectMapper().readTree(straight.lastCheckpoint().resolve("adapter_config.json").toFile());
    assertEquals("ADALORA", cfg.get("peft_type").asText());
    assertEquals(6, cfg.get("total_step").asInt());
    int modules = 0;
    for (JsonNode keep : cfg.get("rank_pattern")) {
      int kept = 0;
      for (JsonNode k : keep) if (k.asBoolean()) kept++;
      modules++;
      assertEquals(4, keep.size());
      assertTrue(kept <= 4);
    }
    assertTrue(modules > 0);
    TrainArguments resumed = ada.apply(out.resolve("b"));
    resumed.resumeFromCheckpoint = straight.runDir().resolve("checkpoint-3");
    Trainer.Result second = TinyModels.train(resumed);
    assertEquals(straight.lastLoss(), second.lastLoss(), 0.0, "same final loss, bit for bit");
    sameAdapters(straight, second);
    try (SafetensorsFile x = SafetensorsFile.open(straight.lastCheckpoint().resolve("adapter_model.safetensors"))) {
      long kept = 0;
      for (String n : x.names()) if (n.endsWith("lora_E")) kept += x.entry(n).shape()[0];
      assertEquals(2L * modules, kept, "target_r per module after the final allocation");
    }
    TrainArguments more = ada.apply(out.resolve("c"));
    more.adapters = List.of(straight.lastCheckpoint());
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> new Trainer(more, new PrintWriter(new StringWriter())).close());
    assertTrue(e.getMessage().contains("--resume_from_checkpoint"), e.getMessage());
  }

  @Test
  void theBestCheckpointIsRecordedKeptAndLinked(@TempDir Path out) throws IOException {
    TrainArguments a = args(out, 6, 2);
    a.valDataset = List.of(data.toString());
    a.evalSteps = 2;
    a.saveTotalLimit = 1;
    a.createCheckpointSymlink = true;
    Trainer.Result r = TinyModels.train(a);
    // the best checkpoint is the one saved at the lowest eval_loss of logging.jsonl
    var json = new com.fasterxml.jackson.databind.ObjectMapper();
    long bestStep = -1;
    double bestLoss = Double.POSITIVE_INFINITY;
    for (String line : Files.readAllLines(r.runDir().resolve("logging.jsonl"))) {
      var n = json.readTree(line);
      if (!n.has("eval_loss")) continue;
      long step = Long.parseLong(n.get("global_step/max_steps").asText().split("/")[0]);
      if (n.get("eval_loss").asDouble() < bestLoss) {
        bestLoss = n.get("eval_loss").asDouble();
        bestStep = step;
      }
    }
    assertEquals(r.runDir().resolve("checkpoint-" + bestStep), r.bestCheckpoint());
    assertTrue(Files.isDirectory(r.bestCheckpoint()), "save_total_limit 1 never removes the best checkpoint");
    var state = json.readTree(r.lastCheckpoint().resolve("trainer_state.json").toFile());
    assertEquals(r.bestCheckpoint().toString(), state.get("best_model_checkpoint").asText());
    assertEquals(bestLoss, state.get("best_metric").asDouble(), 1e-4);
    assertEquals(r.lastCheckpoint().toRealPath(), r.runDir().resolve("last").toRealPath());
    assertEquals(r.bestCheckpoint().toRealPath(), r.runDir().resolve("best").toRealPath());
    assertEquals("checkpoint-6", Files.readSymbolicLink(r.runDir().resolve("last")).toString(), "a relative link");
  }

  @Test
  void columnsRenamesADatasetsFieldsAsMsSwiftDoes(@TempDir Path out) throws IOException {
    Path renamed = out.resolve("qa.jsonl");
    Files.writeString(renamed, "{\"q\": \"Who are you?\", \"a\": \"I am jswift-bot.\"}\n"
        + "{\"q\": \"Who made you?\", \"a\": \"The jswift team.\"}\n");
    TrainArguments a = args(out.resolve("run"), 1, 100);
    a.dataset = List.of(renamed.toString());
    RuntimeException e = assertThrows(RuntimeException.class, () -> TinyModels.train(a));
    assertTrue(e.getMessage().contains("qa.jsonl"), "without --columns the rows are not understood: " + e.getMessage());
    a.columns = "{\"q\": \"query\", \"a\": \"response\"}";
    a.outputDir = out.resolve("run2");
    Trainer.Result r = TinyModels.train(a);
    assertTrue(Double.isFinite(r.firstLoss()) && r.firstLoss() > 0, "trained on the renamed rows: " + r.firstLoss());
  }

  /** The vector / rotation tuners over a QLoRA base: IA3, and BOFT with two butterfly factors and its block dropout. */
  @org.junit.jupiter.params.ParameterizedTest
  @org.junit.jupiter.params.provider.ValueSource(strings = {"ia3", "boft"})
  void otherTunersTrainResumeBitIdenticallyAndContinueFromTheirAdapter(String tuner, @TempDir Path out)
      throws IOException {
    java.util.function.Function<Path, TrainArguments> run = dir -> {
      TrainArguments a = args(dir, 4, 2);
      a.trainType = tuner;
      a.boftNButterflyFactor = 2;  // BOFT's settings; IA3 ignores them
      a.boftDropout = 0.25f;
      a.quantMethod = "bnb";
      a.quantBits = 4;
      return a;
    };
    Trainer.Result straight = TinyModels.train(run.apply(out.resolve("a")));
    assertTrue(straight.lastLoss() < straight.firstLoss(), straight.firstLoss() + " -> " + straight.lastLoss());
    TrainArguments resumed = run.apply(out.resolve("b"));
    resumed.resumeFromCheckpoint = straight.runDir().resolve("checkpoint-2");
    Trainer.Result second = TinyModels.train(resumed);
    assertEquals(straight.lastLoss(), second.lastLoss(), 0.0, "same final loss, bit for bit (BOFT: the same dropped "
        + "blocks)");
    java.util.Set<String> names = sameAdapters(straight, second);
    List<String> suffixes = tuner.equals("ia3") ? List.of(".ia3_l") : List.of(".boft_R", ".boft_s");
    assertTrue(names.stream().allMatch(n -> suffixes.stream().anyMatch(n::endsWith)), names.toString());
    TrainArguments more = run.apply(out.resolve("c"));
    more.adapters = List.of(straight.lastCheckpoint());
    more.maxSteps = 1;
    Trainer.Result cont = TinyModels.train(more);
    assertTrue(cont.firstLoss() < straight.firstLoss(), "continued " + cont.firstLoss() + " vs " + straight.firstLoss());
  }

  /** FourierFT (its N(0, 1) coefficients) and MiSS (its blocks, held transposed: PeftLayout on every path). */
  @ParameterizedTest
  @ValueSource(strings = {"fourierft", "bone"})
  void spectralAndBlockTunersTrainResumeBitIdenticallyAndContinue(String trainType, @TempDir Path out)
      throws IOException {
    java.util.function.Function<Path, TrainArguments> fourier = dir -> {
      TrainArguments a = args(dir, 4, 2);
      a.trainType = trainType;
      a.fourierNFrequency = 48;
      a.fourierScaling = 30;
      a.reftRank = 6;
      a.loraDropout = 0.1f;
      a.learningRate = 5e-2;
      a.quantMethod = "bnb";
      a.quantBits = 4;
      return a;
    };
    Trainer.Result straight = TinyModels.train(fourier.apply(out.resolve("a")));
    assertTrue(straight.lastLoss() < straight.firstLoss(), straight.firstLoss() + " -> " + straight.lastLoss());
    TrainArguments resumed = fourier.apply(out.resolve("b"));
    resumed.resumeFromCheckpoint = straight.runDir().resolve("checkpoint-2");
    Trainer.Result second = TinyModels.train(resumed);
    assertEquals(straight.lastLoss(), second.lastLoss(), 0.0, "same final loss, bit for bit");
    java.util.Set<String> names = sameAdapters(straight, second);
    assertTrue(names.stream().allMatch(n -> n.endsWith(trainType.equals("bone") ? ".miss_block"
        : ".fourierft_spectrum")), names.toString());
    TrainArguments more = fourier.apply(out.resolve("c"));
    more.adapters = List.of(straight.lastCheckpoint());
    more.maxSteps = 1;
    Trainer.Result cont = TinyModels.train(more);
    assertTrue(cont.firstLoss() < straight.firstLoss(), "continued " + cont.firstLoss() + " vs " + straight.firstLoss());
  }

  @Test
  void saveStrategiesEpochAndNo(@TempDir Path out) throws IOException {
    TrainArguments a = args(out.resolve("epoch"), 5, 100);
    a.maxSteps = -1;
    a.numTrainEpochs = 2;
    a.saveStrategy = "epoch";
    Trainer.Result epoch = TinyModels.train(a);
    java.util.List<String> saved = checkpointNames(epoch.runDir());
    long perEpoch = epoch.steps() / 2;
    assertEquals(java.util.List.of("checkpoint-" + perEpoch, "checkpoint-" + epoch.steps()), saved);
    TrainArguments b = args(out.resolve("no"), 4, 1);
    b.saveStrategy = "no";
    Trainer.Result none = TinyModels.train(b);
    assertEquals(java.util.List.of("checkpoint-4"), checkpointNames(none.runDir()), "the final checkpoint only");
  }

  private static java.util.List<String> checkpointNames(Path runDir) throws IOException {
    try (java.util.stream.Stream<Path> s = java.nio.file.Files.list(runDir)) {
      return s.map(p -> p.getFileName().toString()).filter(n -> n.startsWith("checkpoint-"))
          .sorted(java.util.Comparator.comparingInt(n -> Integer.parseInt(n.substring("checkpoint-".length()))))
          .toList();
    }
  }

  @Test
  void saveTotalLimitKeepsTheNewestAndBadInputsAreClear(@TempDir Path out) throws IOException {
    TrainArguments a = args(out, 6, 2);
    a.saveTotalLimit = 2;
    Trainer.Result r = TinyModels.train(a);
    assertFalse(Files.exists(r.runDir().resolve("checkpoint-2")));
    assertTrue(Files.exists(r.runDir().resolve("checkpoint-4")) && Files.exists(r.runDir().resolve("checkpoint-6")));
    TrainArguments bad = args(out, 2, 1);
    bad.dataset = List.of(out.resolve("missing.jsonl").toString());
    IllegalArgumentException missing = assertThrows(IllegalArgumentException.class,
        () -> new Trainer(bad, new PrintWriter(new StringWriter())).close());
    assertTrue(missing.getMessage().contains("missing.jsonl"), missing.getMessage());
    TrainArguments noModel = args(out, 2, 1);
    noModel.model = null;
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> new Trainer(noModel, new PrintWriter(new StringWriter())));
    assertTrue(e.getMessage().contains("--model"), e.getMessage());
  }

  /** "What is your name?" / "I am jswift-bot." encoded with the Qwen3 template through the trainer's path. */
  private static Batch sample() throws IOException {
    try (jswift.tokenizer.Tokenizer tok = jswift.tokenizer.Tokenizer.load(model)) {
      var enc = jswift.template.Templates.create("qwen3", tok, jswift.template.TemplateOptions.DEFAULT)
          .encode(jswift.template.Conversation.fromJson(new ObjectMapper().readTree(Files.readAllLines(data).get(0))));
      return Batch.packed(List.of(enc.inputIds()), List.of(enc.labels()));
    }
  }

  @Test
  void qloraRunTrainsOnAnNf4Base(@TempDir Path out) throws IOException {
    TrainArguments a = args(out, 8, 8);
    a.quantMethod = "bnb";
    a.quantBits = 4;
    Trainer.Result r;
    StringWriter console = new StringWriter();
    try (Trainer t = new Trainer(a, new PrintWriter(console, true))) {
      assertEquals(CausalLM.Quantization.NF4_DOUBLE_QUANT, t.model().quantization());
      r = t.train();
    }
    assertTrue(console.toString().contains("NF4_DOUBLE_QUANT"), console.toString());
    assertTrue(r.lastLoss() < r.firstLoss() * 0.8, "QLoRA trains: " + r.firstLoss() + " -> " + r.lastLoss());
    // Merged into the dense base (as `jswift export --merge_lora` / ms-swift do), the adapter gives the logits of
    // dense base + adapter to fp32 rounding; against the NF4 model it was trained on, the merged model keeps what
    // was learnt: its loss is within a quarter of the training's improvement of the QLoRA model's loss (the rest
    // is NF4's rounding of the base, which the merge does not apply).
    Path merged = out.resolve("merged");
    jswift.tuner.LoraMerge.merge(model, r.lastCheckpoint(), merged, jswift.tuner.LoraMerge.Options.on(Device.CPU));
    Batch b = sample();
    float[] mergedLogits, denseAdapter;
    double mergedLoss, baseLoss, qloraLoss;
    try (CausalLM m = CausalLM.load(merged, Device.CPU)) {
      mergedLogits = m.logits(b);
      mergedLoss = m.loss(b);
    }
    try (CausalLM m = CausalLM.load(model, Device.CPU)) {
      m.loadAdapter("qlora", r.lastCheckpoint());
      m.setActiveAdapter("qlora");
      denseAdapter = m.logits(b);
    }
    try (CausalLM m = CausalLM.load(model, Device.CPU, jswift.tensor.DType.F32,
        CausalLM.Quantization.NF4_DOUBLE_QUANT)) {
      baseLoss = m.loss(b);
      m.loadAdapter("qlora", r.lastCheckpoint());
      m.setActiveAdapter("qlora");
      qloraLoss = m.loss(b);
    }
    jswift.testing.Assert.relNorm("merged vs dense base + adapter", mergedLogits, denseAdapter, 1e-5);
    String losses = "base " + baseLoss + ", QLoRA " + qloraLoss + ", merged " + mergedLoss;
    assertTrue(qloraLoss < baseLoss, losses);
    assertTrue(Math.abs(mergedLoss - qloraLoss) <= 0.25 * (baseLoss - qloraLoss), losses);
    TrainArguments bad = args(out, 2, 1);
    bad.quantMethod = "gptq";
    bad.quantBits = 4;
    assertThrows(IllegalArgumentException.class, () -> new Trainer(bad, new PrintWriter(new StringWriter())));
  }

  @Test
  void fullFineTuneAndPretrainingSaveWholeModels(@TempDir Path out) throws IOException {
    Path text = out.resolve("corpus.txt");
    Files.writeString(text, "The quick brown fox jumps over the lazy dog.\nA journey of a thousand miles begins "
        + "with a single step.\nJava runs on the JVM.\n");
    TrainArguments pt = args(out.resolve("pt"), 6, 3);
    pt.dataset = List.of(text.toString());
    pt.pretrain = true;
    pt.lossScale = "all";
    pt.trainType = "full";
    pt.learningRate = 1e-3;
    pt.loraDropout = 0f;
    Trainer.Result r = TinyModels.train(pt);
    assertTrue(r.lastLoss() < r.firstLoss(), "pre-training lowers the loss: " + r.firstLoss() + " -> " + r.lastLoss());
    Path ckpt = r.lastCheckpoint();
    for (String f : List.of("config.json", "model.safetensors", "tokenizer.json", "optimizer.safetensors"))
      assertTrue(Files.exists(ckpt.resolve(f)), f);
    try (CausalLM before = CausalLM.load(model, Device.CPU); CausalLM after = CausalLM.load(ckpt, Device.CPU)) {
      Batch b = Batch.packed(List.of(new int[] {785, 3974, 13876, 38835, 34208, 916, 279, 15678, 5562, 13}),
          List.of(new int[] {785, 3974, 13876, 38835, 34208, 916, 279, 15678, 5562, 13}));
      assertTrue(after.loss(b) < before.loss(b), "the saved model is the trained one");
    }
    // resuming a full run restores every weight: same result as straight through
    TrainArguments again = args(out.resolve("pt2"), 6, 3);
    again.dataset = pt.dataset;
    again.pretrain = true;
    again.lossScale = "all";
    again.trainType = "full";
    again.learningRate = 1e-3;
    again.loraDropout = 0f;
    again.resumeFromCheckpoint = r.runDir().resolve("checkpoint-3");
    Trainer.Result resumed = TinyModels.train(again);
    assertEquals(r.lastLoss(), resumed.lastLoss(), 0.0);
  }

  @Test
  void pretrainingWithSplitResumesMidDocumentBitIdentically(@TempDir Path out) throws IOException {
    Path text = out.resolve("corpus.txt");
    Files.writeString(text, "The quick brown fox jumps over the lazy dog and runs far away.\nA journey of a thousand "
        + "miles begins with a single step.\nJava runs on the JVM, and so does jswift.\n");
    java.util.function.Function<String, TrainArguments> split = name -> {
      TrainArguments a = args(out.resolve(name), 6, 2);
      a.dataset = List.of(text.toString());
      a.pretrain = true;
      a.lossScale = "all";
      a.truncationStrategy = "split";
      a.maxLength = 4;  // every line is 11-15 tokens: at least three chunks each
      a.perDeviceTrainBatchSize = 1;
      a.gradientAccumulationSteps = 1;  // one chunk a step: checkpoint-2 falls inside the first document
      return a;
    };
    Trainer.Result r = TinyModels.train(split.apply("a"));
    JsonNode state = new ObjectMapper().readTree(r.runDir().resolve("checkpoint-2/trainer_state.json").toFile());
    assertEquals(2, state.path("data_chunk").asInt(), "checkpoint-2 is two chunks into a document: " + state);
    TrainArguments again = split.apply("b");
    again.resumeFromCheckpoint = r.runDir().resolve("checkpoint-2");
    Trainer.Result resumed = TinyModels.train(again);
    assertEquals(r.lastLoss(), resumed.lastLoss(), 0.0);
  }
}
