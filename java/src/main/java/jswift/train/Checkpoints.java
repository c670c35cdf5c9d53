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
import jswift.model.CausalLM;
import jswift.model.SafetensorsFile;
import jswift.model.SafetensorsWriter;
import jswift.model.TensorSource;
import jswift.nn.Parameter;
import jswift.tuner.LoraConfig;
import jswift.tuner.PeftAdapterWriter;

/**
 * The run's checkpoints: {@code checkpoint-K/} holds the adapter in PEFT's format (loadable with
 * {@code PeftModel.from_pretrained} and {@code jswift infer --adapters}), {@code optimizer.safetensors} (AdamW's
 * fp32 moments) and {@code trainer_state.json} (step, data cursor, log history). A checkpoint is assembled as
 * {@code checkpoint-K.tmp/} and renamed into place in one step, so a process killed at any moment leaves either a
 * complete checkpoint or a leftover .tmp folder (ignored, and removed by the next save). With save_total_limit
 * only the newest checkpoints are kept.
 */
final class Checkpoints {
  static final String STATE = "trainer_state.json";
  static final String OPTIMIZER = "optimizer.safetensors";

  private final Path runDir;
  private final Integer keep;
  private final LoraConfig config;
  private final String base;

  Checkpoints(Path runDir, Integer keep, LoraConfig config, String base) {
    this.runDir = runDir;
    this.keep = keep;
    this.config = config;
    this.base = base;
  }

  Path save(long step, CausalLM model, List<Parameter> params, AdamW optimizer, SampleStream samples, TrainingLog log)
      throws IOException {
    Path dir = runDir.resolve("checkpoint-" + step), tmp = runDir.resolve("checkpoint-" + step + ".tmp");
    deleteTree(tmp);
    Files.createDirectories(tmp);
    try {
      PeftAdapterWriter.save(model, "default", config, base, tmp, true);
      // ms-swift keeps the run's arguments in every checkpoint: infer / export find the base model there.
      Path args = runDir.resolve("args.json");
      if (Files.exists(args)) Files.copy(args, tmp.resolve("args.json"));
      List<TensorSource> moments = new ArrayList<>();
      for (Parameter p : params) {
        moments.add(TensorSource.of(p.name() + ".exp_avg", optimizer.moments(p)[0]));
        moments.add(TensorSource.of(p.name() + ".exp_avg_sq", optimizer.moments(p)[1]));
      }
      SafetensorsWriter.write(tmp.resolve(OPTIMIZER), moments, Map.of("step", Long.toString(optimizer.stepCount())));
      ObjectNode state = TrainingLog.JSON.createObjectNode();
      state.put("global_step", step);
      state.put("optimizer_steps", optimizer.stepCount());
      state.put("data_epoch", samples.epoch());
      state.put("data_position", samples.position());
      state.put("epoch", samples.epochProgress());
      state.put("skipped_too_long", samples.skippedTooLong());
      ArrayNode history = state.putArray("log_history");
      log.history.forEach(history::add);
      AtomicFile.writeString(tmp.resolve(STATE), TrainingLog.JSON.writerWithDefaultPrettyPrinter().writeValueAsString(state));
      deleteTree(dir);
      Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
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
    for (int i = 0; i < all.size() - keep; i++) deleteTree(all.get(i));
  }

  /** Loads a checkpoint into a run whose adapter and optimizer were just created; returns the saved state. */
  static JsonNode restore(Path checkpoint, List<Parameter> params, AdamW optimizer) throws IOException {
    Path state = checkpoint.resolve(STATE);
    if (!Files.exists(state))
      throw new IOException(checkpoint + " is not a complete jswift checkpoint (no " + STATE + ")");
    try (SafetensorsFile adapter = SafetensorsFile.open(checkpoint.resolve(PeftAdapterWriter.WEIGHTS));
        SafetensorsFile moments = SafetensorsFile.open(checkpoint.resolve(OPTIMIZER))) {
      for (Parameter p : params) {
        if (!adapter.contains(p.name()))
          throw new IOException(checkpoint + ": the adapter has no " + p.name() + " (different LoRA settings?)");
        float[] v = adapter.floats(p.name());
        p.master().copyFrom(v);
        if (p.master() != p.value()) p.value().copyFrom(v);
        optimizer.moments(p)[0].copyFrom(moments.floats(p.name() + ".exp_avg"));
        optimizer.moments(p)[1].copyFrom(moments.floats(p.name() + ".exp_avg_sq"));
      }
    }
    JsonNode s = TrainingLog.JSON.readTree(state.toFile());
    optimizer.restoreStepCount(s.path("optimizer_steps").asLong());
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
