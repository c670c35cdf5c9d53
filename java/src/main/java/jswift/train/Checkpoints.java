package jswift.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import jswift.model.AtomicFile;
import jswift.model.CheckpointWriter;
import jswift.model.ModelConfig;
import jswift.tensor.DType;
import jswift.model.CausalLM;
import jswift.model.SafetensorsFile;
import jswift.model.SafetensorsWriter;
import jswift.model.TensorSource;
import jswift.nn.Parameter;
import jswift.tuner.LoraConfig;
import jswift.tuner.ConvertedAdapter;
import jswift.tuner.PeftAdapterWriter;
import jswift.tuner.ResidualInit;

/**
 * The run's checkpoints: {@code checkpoint-K/} holds the adapter in PEFT's format (loadable with
 * {@code PeftModel.from_pretrained} and {@code jswift infer --adapters}), {@code optimizer.safetensors} (AdamW's
 * fp32 moments; GaLore's are low-rank and come with their projectors) and {@code trainer_state.json} (step, data
 * cursor, log history). A checkpoint is assembled as
 * {@code checkpoint-K.tmp/} and renamed into place in one step, so a process killed at any moment leaves either a
 * complete checkpoint or a leftover .tmp folder (ignored, and removed by the next save). With save_total_limit
 * only the newest checkpoints are kept; an old one is renamed to a .tmp name before it is deleted, for the same
 * reason.
 */
final class Checkpoints {
  static final String STATE = "trainer_state.json";
  static final String OPTIMIZER = "optimizer.safetensors";
  /** The suffix of a parameter's fp32 master weight in {@link #OPTIMIZER} (whole models stored narrower than fp32). */
  static final String MASTER = ".master";

  /** Files of the base model folder a full checkpoint carries along (it is a complete Hugging Face folder). */
  private static final List<String> MODEL_FILES = List.of("config.json", "generation_config.json", "tokenizer.json",
      "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja");

  private final Path runDir;
  private final Integer keep;
  private boolean modelOnly;  // --save_only_model: no optimizer file (a resume can then only take the weights)

  /** --save_only_model: checkpoints hold the model (or adapter) and trainer_state.json, no optimizer state. */
  void saveOnlyModel(boolean on) {
    modelOnly = on;
  }
  private final LoraConfig config;   // null: full-parameter training
  private java.util.function.Supplier<LoraConfig> savedConfig;  // the config as each checkpoint saves it
  private final Path base;
  private final ModelConfig modelConfig;

  // transformers' best_model_checkpoint: the checkpoint saved at the best evaluation so far (never rotated away)
  private Path best;
  private double bestMetric;

  /** The best checkpoint so far (saved at the step of the best evaluation), or null. */
  Path best() {
    return best;
  }

  /** A resumed run's best checkpoint, from its trainer_state.json (transformers' best_model_checkpoint / best_metric). */
  void restoreBest(JsonNode state) {
    JsonNode b = state.get("best_model_checkpoint");
    if (b == null || !b.isTextual()) return;
    // the same-named folder of this run (a resume into the same folder), else where the earlier run saved it
    Path recorded = Path.of(b.asText()), here = runDir.resolve(recorded.getFileName());
    Path p = Files.isDirectory(here) ? here : recorded;
    if (Files.isDirectory(p)) {
      best = p;
      bestMetric = state.path("best_metric").asDouble();
    }
  }

  Checkpoints(Path runDir, Integer keep, LoraConfig config, Path base, ModelConfig modelConfig) {
    this.runDir = runDir;
    this.keep = keep;
    this.config = config;
    this.savedConfig = () -> config;
    this.base = base;
    this.modelConfig = modelConfig;
  }

  /**
   * The whole model as a Hugging Face folder, every weight once (tied embeddings are one Parameter) in the model's
   * order: a trained weight's fp32 master, a frozen one's value (LISA's resting layers, LLaMA-Pro's original
   * blocks), stored in the base checkpoint's dtype.
   */
  private void saveModel(Path dir, CausalLM model) throws IOException {
    DType stored = storedDtype();
    List<TensorSource> sources = new ArrayList<>();
    java.util.Set<Parameter> seen = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
    for (Parameter p : model.parameters().values()) {
      if (!seen.add(p)) continue;   // a tied lm_head is the embedding
      if (p.isInt8()) {
        // Q-GaLore's INT8 weight: its dequantized values (what the model computes with), in the stored dtype
        sources.add(TensorSource.computed(p.name(), stored, p.value().shape(), () -> {
          jswift.tensor.Tensor d = jswift.tensor.Tensor.allocate(stored, p.value().device(), p.value().shape());
          p.dequantizeInt8Into(d);
          return d;
        }));
        continue;
      }
      jswift.tensor.Tensor t = p.isTrainable() ? p.master() : p.value();
      if (t.dtype() == stored) sources.add(TensorSource.of(p.name(), t));
      else sources.add(TensorSource.computed(p.name(), stored, t.shape(), () -> t.to(stored)));
    }
    for (Parameter p : extras) sources.add(TensorSource.of(p.name(), p.master()));  // fp32, as trained
    CheckpointWriter.write(dir, sources, jswift.model.ShardPlan.parseSize(jswift.model.ShardPlan.DEFAULT_MAX_SHARD_SIZE));
    for (String f : MODEL_FILES) if (Files.exists(base.resolve(f))) Files.copy(base.resolve(f), dir.resolve(f));
    if (!extras.isEmpty())
      sequenceClassifierConfig(dir.resolve("config.json"), (int) extras.get(0).value().shape()[0], problemType);
  }

  /** config.json of a sequence classifier (a reward model: one label, the score): see ScoreHead.classifierConfig. */
  private static void sequenceClassifierConfig(Path file, int labels, jswift.model.ProblemType type)
      throws IOException {
    com.fasterxml.jackson.databind.node.ObjectNode c =
        (com.fasterxml.jackson.databind.node.ObjectNode) TrainingLog.JSON.readTree(file.toFile());
    jswift.model.ScoreHead.classifierConfig(c, labels, type);
    jswift.model.AtomicFile.writeString(file, TrainingLog.JSON.writerWithDefaultPrettyPrinter().writeValueAsString(c));
  }

  private DType storedDtype() {
    try {
      DType d = DType.parse(modelConfig.torchDtype());
      return d.isFloatingPoint() ? d : DType.F32;
    } catch (IllegalArgumentException e) {
      return DType.F32;
    }
  }

  private List<Parameter> extras = List.of();

  /**
   * Parameters saved in each checkpoint beside the model's own (a reward model's score head): inside the adapter, or
   * in the whole model's safetensors, whose config.json then names a *ForSequenceClassification with the head's
   * labels and {@code type}.
   */
  void saveBeside(List<Parameter> parameters, jswift.model.ProblemType type) {
    extras = List.copyOf(parameters);
    problemType = type;
  }

  private jswift.model.ProblemType problemType = jswift.model.ProblemType.REGRESSION;

  private final List<java.util.function.Supplier<List<TensorSource>>> extraState = new ArrayList<>();

  /** State saved beside the optimizer's moments in each checkpoint (AdaLoRA's scores, BCO's running mean). */
  void addState(java.util.function.Supplier<List<TensorSource>> state) {
    extraState.add(state);
  }

  /** Writes a model's tuner into a checkpoint folder. */
  interface TunerSaver {
    void save(CausalLM model, Path dir) throws IOException;
  }

  private TunerSaver tunerSaver;

  /**
   * Checkpoints hold the model's "default" tuner as {@code saver} writes it: ms-swift's own tuner format (--train_type
   * adapter, reft) rather than a PEFT adapter or a whole model.
   */
  void saveTunerWith(TunerSaver saver) {
    tunerSaver = saver;
  }

  /** Where each checkpoint takes the adapter config it saves (AdaLoRA's: with the rank pattern of the moment). */
  void saveConfigFrom(java.util.function.Supplier<LoraConfig> source) {
    savedConfig = source;
  }

  Path save(long step, CausalLM model, List<Parameter> params, AdamW optimizer, DataCursor samples, TrainingLog log)
      throws IOException {
    Path dir = runDir.resolve("checkpoint-" + step), tmp = runDir.resolve("checkpoint-" + step + ".tmp");
    removeStale();
    Files.createDirectories(tmp);
    try {
      if (config != null) {
        PeftAdapterWriter.save(model, "default", savedConfig.get(), base.toString(), tmp, true, extras);
        // PiSSA / OLoRA: also the plain-LoRA conversion relative to the original base, as ms-swift saves it.
        if (ResidualInit.changesBase(config.fields().get("init_lora_weights")))
          ConvertedAdapter.saveConverted(model, "default", config, base.toString(),
              runDir.resolve(ResidualInit.INITIAL_MODEL), tmp);
      } else if (tunerSaver != null) {
        tunerSaver.save(model, tmp);
      } else {
        saveModel(tmp, model);
      }
      testDelay();
      // ms-swift keeps the run's arguments in every checkpoint: infer / export find the base model there.
      Path args = runDir.resolve("args.json");
      if (Files.exists(args)) Files.copy(args, tmp.resolve("args.json"));
      // The moments of the parameters that hold state (LISA: only the layers training now); a parameter whose own
      // step count differs from the run's (a LISA layer activated mid-run) has it in the metadata.
      List<TensorSource> moments = new ArrayList<>();
      // exp_avg, exp_avg_sq and, for GaLore weights, galore_projector (resuming mid-interval needs that P)
      Map<String, String> metadata = new java.util.LinkedHashMap<>();
      metadata.put("step", Long.toString(optimizer.stepCount()));
      // A whole model stored in a narrower dtype than its fp32 masters (a bf16 model trained in fp32 on the CPU, or
      // with fp32 masters on a GPU): the masters go here too, so that a resumed run goes on from them exactly.
      boolean narrowed = config == null && tunerSaver == null && storedDtype() != DType.F32;
      // AdaLoRA's adapter file holds only the surviving singular values: its full A, B and E go here.
      if (config != null && config.isAdaLora()) narrowed = true;
      for (Parameter p : params) {
        if (narrowed && !p.isInt8() && !extras.contains(p)) {  // also LISA's resting layers, trained before
          jswift.tensor.Tensor full = p.master() != null ? p.master() : p.value().dtype() == DType.F32 ? p.value() : null;
          if (full != null) moments.add(TensorSource.of(p.name() + MASTER, full));
        }
        if (!optimizer.hasState(p)) continue;
        for (Map.Entry<String, jswift.tensor.Tensor> e : optimizer.stateTensors(p).entrySet())
          moments.add(TensorSource.of(p.name() + "." + e.getKey(), e.getValue()));
        if (optimizer.parameterSteps(p) != optimizer.stepCount())
          metadata.put(p.name() + ".step", Long.toString(optimizer.parameterSteps(p)));
      }
      for (var state : extraState) moments.addAll(state.get());
      if (!modelOnly) SafetensorsWriter.write(tmp.resolve(OPTIMIZER), moments, metadata);
      ObjectNode state = TrainingLog.JSON.createObjectNode();
      state.put("global_step", step);
      state.put("optimizer_steps", optimizer.stepCount());
      state.put("data_epoch", samples.epoch());
      state.put("data_position", samples.position());
      if (samples.chunk() > 0) state.put("data_chunk", samples.chunk());
      state.put("epoch", samples.epochProgress());
      state.put("skipped_too_long", samples.skippedTooLong());
      Double metric = log.evalMetricAt(step);
      if (metric != null && !Double.isNaN(metric) && (best == null
          || (log.greaterIsBetter() ? metric > bestMetric : metric < bestMetric))) {
        best = dir;
        bestMetric = metric;
      }
      if (best != null) {
        state.put("best_model_checkpoint", best.toString());
        state.put("best_metric", bestMetric);
      } else {
        state.putNull("best_model_checkpoint");
      }
      ArrayNode history = state.putArray("log_history");
      log.history.forEach(history::add);
      AtomicFile.writeString(tmp.resolve(STATE), TrainingLog.JSON.writerWithDefaultPrettyPrinter().writeValueAsString(state));
      Path old = discard(dir);   // a checkpoint of the same step (a resumed run redoing it) steps aside first
      Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
      if (old != null) deleteTree(old);
    } catch (IOException | RuntimeException e) {
      try {
        deleteTree(tmp);
      } catch (IOException suppressed) {
        e.addSuppressed(suppressed);
      }
      throw e;
    }
    rotate();
    return dir;
  }

  private void rotate() throws IOException {
    if (keep == null) return;
    List<Path> all = new ArrayList<>();
    try (var s = Files.list(runDir)) {
      s.filter(p -> p.getFileName().toString().matches("checkpoint-\\d+")).forEach(all::add);
    }
    all.sort(Comparator.comparingLong(p -> Long.parseLong(p.getFileName().toString().substring(11))));
    for (Path p : rotated(all, best, keep)) deleteTree(discard(p));
  }

  /**
   * The checkpoints (oldest first) a limit of {@code keep} removes, as transformers rotates them: the best one moves
   * to the second-newest place, so older ones go first; with a limit of 1 the newest is kept beside the best.
   */
  static List<Path> rotated(List<Path> oldestFirst, Path best, int keep) {
    List<Path> all = new ArrayList<>(oldestFirst);
    int limit = keep;
    int at = best == null ? -1 : all.indexOf(best);
    if (at >= 0) {
      if (at < all.size() - 2) {
        all.remove(at);
        all.add(all.size() - 1, best);
      }
      if (keep == 1 && !all.get(all.size() - 1).equals(best)) limit = 2;
    }
    return all.subList(0, Math.max(0, all.size() - limit));
  }

  // --- kill -9 safety: a folder named checkpoint-K is complete; anything being built or deleted ends in .tmp ---

  /**
   * Renames a checkpoint out of sight (checkpoint-K.old.tmp) in one step, so that deleting it file by file can be
   * interrupted without leaving a half-deleted folder under a checkpoint's name. Returns the new name, or null.
   */
  private static Path discard(Path checkpoint) throws IOException {
    if (!Files.exists(checkpoint)) return null;
    Path old = checkpoint.resolveSibling(checkpoint.getFileName() + ".old.tmp");
    deleteTree(old);
    Files.move(checkpoint, old, StandardCopyOption.ATOMIC_MOVE);
    return old;
  }

  /** Removes what killed runs left behind: checkpoint folders being assembled or deleted (*.tmp). */
  private void removeStale() throws IOException {
    List<Path> stale = new ArrayList<>();
    try (var s = Files.list(runDir)) {
      s.filter(p -> p.getFileName().toString().matches("checkpoint-\\d+(\\.old)?\\.tmp")).forEach(stale::add);
    }
    for (Path p : stale) deleteTree(p);
  }

  /**
   * Test hook: with -Djswift.test.checkpoint_delay_ms=N a save pauses N ms half-way (the weights written, the
   * optimizer and state not yet), so that a test can kill the process in the middle of a save.
   */
  private static void testDelay() {
    long ms = Long.getLong("jswift.test.checkpoint_delay_ms", 0);
    if (ms <= 0) return;
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** The last optimizer step a checkpoint saved (its trainer_state.json's global_step). */
  static long savedStep(Path checkpoint) throws IOException {
    Path state = checkpoint.resolve(STATE);
    if (!Files.exists(state))
      throw new IOException(checkpoint + " is not a complete jswift checkpoint (no " + STATE + ")");
    return TrainingLog.JSON.readTree(state.toFile()).path("global_step").asLong();
  }

  /** Loads a checkpoint into a run whose adapter and optimizer were just created; returns the saved state. */
  static JsonNode restore(Path checkpoint, List<Parameter> params, AdamW optimizer) throws IOException {
    return restore(checkpoint, params, optimizer, java.util.Set.of());
  }

  /**
   * As {@link #restore(Path, List, AdamW)}; the weights of frozen parameters are restored too, and the moments of
   * every parameter trainable now except those in {@code fresh} (LISA layers whose interval starts at the resumed
   * step: a straight run drops their state there, so any saved moments are stale).
   */
  static JsonNode restore(Path checkpoint, List<Parameter> params, AdamW optimizer, java.util.Set<Parameter> fresh)
      throws IOException {
    return restore(checkpoint, params, optimizer, fresh, false);
  }

  /**
   * As {@link #restore(Path, List, AdamW, java.util.Set)}, or with {@code weightsOnly} (--resume_only_model) the
   * weights alone: the optimizer starts afresh (no moments, step count 0).
   */
  static JsonNode restore(Path checkpoint, List<Parameter> params, AdamW optimizer, java.util.Set<Parameter> fresh,
      boolean weightsOnly) throws IOException {
    Path state = checkpoint.resolve(STATE);
    if (!Files.exists(state))
      throw new IOException(checkpoint + " is not a complete jswift checkpoint (no " + STATE + ")");
    // an adapter's weights (PEFT's file, or ms-swift's tuner folder), else a whole model's
    Path adapterFile = jswift.tuner.SwiftAdapterFolder.isSwiftTuner(checkpoint)
        ? jswift.tuner.SwiftAdapterFolder.weights(checkpoint) : checkpoint.resolve(PeftAdapterWriter.WEIGHTS);
    boolean lora = Files.exists(adapterFile);
    JsonNode s = TrainingLog.JSON.readTree(state.toFile());
    boolean hasOptimizer = Files.exists(checkpoint.resolve(OPTIMIZER));
    if (!hasOptimizer && !weightsOnly)
      throw new IOException(checkpoint + " has no " + OPTIMIZER + " (saved with --save_only_model?): its optimizer "
          + "state is gone; resume it with --resume_only_model true");
    long globalSteps = s.path("optimizer_steps").asLong();
    try (jswift.model.Checkpoint weights = lora ? null : jswift.model.Checkpoint.open(checkpoint);
        SafetensorsFile adapter = lora ? SafetensorsFile.open(adapterFile) : null;
        SafetensorsFile moments = hasOptimizer ? SafetensorsFile.open(checkpoint.resolve(OPTIMIZER)) : null) {
      for (Parameter p : params) {
        boolean present = lora ? adapter.contains(p.name()) : weights.contains(p.name());
        if (!present)
          throw new IOException(checkpoint + ": no " + p.name() + " (was it saved by a run with other settings?)");
        if (p.isInt8() && weightsOnly)
          throw new IOException(checkpoint + ": " + p.name() + " is a Q-GaLore INT8 weight, whose exact codes are "
              + "optimizer state: resume it in full (drop --resume_only_model)");
        if (!p.isInt8()) {   // an INT8 weight's exact codes come with its optimizer state below
          // the fp32 master when the checkpoint kept one (its model file holds it rounded), else the model file's
          String master = p.name() + MASTER;
          float[] v = moments != null && moments.contains(master) ? moments.floats(master)
              : lora ? jswift.tuner.PeftLayout.read(adapter, p) : weights.file(p.name()).floats(p.name());
          p.value().copyFrom(v);
          if (p.isTrainable() && p.master() != p.value()) p.master().copyFrom(v);
        }
        if (!p.isTrainable() || fresh.contains(p) || weightsOnly) continue;
        optimizer.moments(p);  // created if the parameter has none yet
        for (Map.Entry<String, jswift.tensor.Tensor> e : optimizer.stateTensors(p).entrySet()) {
          String key = p.name() + "." + e.getKey();
          long[] want = e.getValue().shape();
          if (!moments.contains(key) || !java.util.Arrays.equals(moments.entry(key).shape(), want))
            throw new IOException(checkpoint.resolve(OPTIMIZER) + ": " + key + " is "
                + (moments.contains(key) ? java.util.Arrays.toString(moments.entry(key).shape()) : "missing")
                + ", this run needs " + java.util.Arrays.toString(want) + " (resume with the settings the checkpoint"
                + " was saved with: --use_galore, --galore_rank, --galore_target_modules, LISA)");
          // Q-GaLore's INT4 projector codes are bytes; every other state tensor is fp32
          if (e.getValue().dtype() == jswift.tensor.DType.U8) e.getValue().copyFrom(moments.bytes(key));
          else e.getValue().copyFrom(moments.floats(key));
        }
        String own = moments.metadata().get(p.name() + ".step");
        optimizer.restoreParameterSteps(p, own != null ? Long.parseLong(own) : globalSteps);
      }
    }
    if (!weightsOnly) optimizer.restoreStepCount(globalSteps);
    return s;
  }

  static void deleteTree(Path p) throws IOException {
    if (!Files.exists(p)) return;
    try (var walk = Files.walk(p)) {
      List<Path> all = new ArrayList<>();
      walk.forEach(all::add);
      all.sort(Comparator.reverseOrder());
      for (Path q : all) Files.delete(q);
    }
  }
}
