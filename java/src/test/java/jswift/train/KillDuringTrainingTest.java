package jswift.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import jswift.model.Batch;
import jswift.model.CausalLM;
import jswift.model.SafetensorsFile;
import jswift.tensor.Device;
import jswift.testing.TinyModels;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * kill -9 at random moments, during saves included: a forked JVM runs {@code jswift sft} saving every step (with
 * save_total_limit, so old checkpoints are deleted too), and is killed with destroyForcibly(); after each kill every
 * folder named {@code checkpoint-K} must be complete and load (anything half-written or half-deleted ends in .tmp),
 * the next run resumes from the newest one, and the chain of killed-and-resumed runs ends with exactly the adapter
 * of an uninterrupted run.
 */
class KillDuringTrainingTest {
  private static final int STEPS = 10;

  @Test
  void killedRunsLeaveOnlyCompleteCheckpointsAndResumeToTheSameAdapter(@TempDir Path tmp) throws Exception {
    Path model = TinyModels.qwen3(tmp.resolve("tiny"), 11);
    Path data = tmp.resolve("train.jsonl");
    Files.writeString(data, """
        {"messages": [{"role": "user", "content": "What is your name?"}, {"role": "assistant", "content": "I am jswift-bot."}]}
        {"messages": [{"role": "user", "content": "Who made you?"}, {"role": "assistant", "content": "The jswift team."}]}
        {"messages": [{"role": "user", "content": "Say hello."}, {"role": "assistant", "content": "Hello from jswift!"}]}
        """);
    Path out = tmp.resolve("out"), runDir = out.resolve("tiny");
    long seed = System.nanoTime();
    Random random = new Random(seed);
    String context = "random seed " + seed;
    // The uninterrupted reference run, alongside (one thread each).
    Path straightLog = tmp.resolve("straight.log");
    Process straight = start(model, data, tmp.resolve("straight"), null, 0, straightLog);
    try {
      try (CausalLM loaded = CausalLM.load(model, Device.CPU)) {
        for (int attempt = 0; attempt < 3; attempt++) {
          boolean duringSave = attempt % 2 == 0;
          Path resume = newest(runDir);
          Path log = tmp.resolve("attempt-" + attempt + ".log");
          long from = resume == null ? 0 : step(resume);
          Process p = start(model, data, out, resume, duringSave ? 600 : 0, log);
          try {
            // During a save: the adapter of the second checkpoint this run saves is in checkpoint-K.tmp, and the
            // save is paused before the optimizer state. Otherwise: a random moment (0-40 ms) after a random one of
            // its first new checkpoints, early enough that the next attempt still has two saves to make (a fast
            // machine otherwise ran through to the last steps before the kill came).
            int pause = random.nextInt(40);
            long target = from + 1 + random.nextInt((int) Math.max(1, STEPS - 4 - from));
            long[] seen = {-1};
            BooleanSupplier trigger = duringSave ? () -> halfSaved(runDir, from + 2) : () -> {
              if (seen[0] < 0 && newest(runDir) != null && step(newest(runDir)) >= target) seen[0] = System.nanoTime();
              return seen[0] >= 0 && System.nanoTime() - seen[0] >= TimeUnit.MILLISECONDS.toNanos(pause);
            };
            long limit = System.nanoTime() + TimeUnit.SECONDS.toNanos(40);
            while (!trigger.getAsBoolean() && p.isAlive()) {
              if (System.nanoTime() > limit) fail("attempt " + attempt + " never reached its kill point\n" + Files.readString(log));
              Thread.sleep(2);
            }
            assertTrue(p.isAlive(), "attempt " + attempt + " ended before it was killed (" + context + "):\n"
                + Files.readString(log));
          } finally {
            p.destroyForcibly();
            p.waitFor();
          }
          if (duringSave) assertTrue(stale(runDir), "the kill left a half-written checkpoint behind, under a .tmp name");
          checkVisibleCheckpoints(runDir, loaded, context + ", after kill " + attempt);
        }
        // The last run resumes from the newest checkpoint and finishes.
        Path log = tmp.resolve("final.log");
        Process p = start(model, data, out, newest(runDir), 0, log);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the final run finishes");
        assertEquals(0, p.exitValue(), Files.readString(log));
        assertTrue(Files.readString(log).contains("resuming from"), Files.readString(log));
        checkVisibleCheckpoints(runDir, loaded, context + ", at the end");
        assertFalse(stale(runDir), "the resumed run's saves removed the leftovers");
      }
      // Same adapter, bit for bit, as one uninterrupted run with the same settings (forked the same way: the same
      // thread counts, so the same sums).
      assertTrue(straight.waitFor(60, TimeUnit.SECONDS), "the uninterrupted run finishes");
      assertEquals(0, straight.exitValue(), Files.readString(straightLog));
      Path reference = tmp.resolve("straight/tiny/checkpoint-" + STEPS + "/adapter_model.safetensors");
      try (SafetensorsFile x = SafetensorsFile.open(reference);
          SafetensorsFile y = SafetensorsFile.open(runDir.resolve("checkpoint-" + STEPS + "/adapter_model.safetensors"))) {
        assertEquals(x.names(), y.names());
        for (String n : x.names()) assertArrayEquals(x.floats(n), y.floats(n), n + " (" + context + ")");
      }
      // Each resume carried the log history on: the last checkpoint lists steps 1..STEPS once, with the losses
      // of the uninterrupted run.
      assertEquals(losses(tmp.resolve("straight/tiny/checkpoint-" + STEPS)), losses(runDir.resolve("checkpoint-" + STEPS)));
    } finally {
      if (straight.isAlive()) straight.destroyForcibly();   // a failure above must not leave it running
    }
  }

  /** The run's flags: LoRA on a tiny model, a checkpoint every step, the newest three kept. */
  private static List<String> flags(Path model, Path data, Path out) {
    return List.of("--model", model.toString(), "--dataset", data.toString(), "--output_dir", out.toString(),
        "--add_version", "false", "--max_steps", Integer.toString(STEPS), "--save_steps", "1", "--save_total_limit", "3",
        "--logging_steps", "1", "--per_device_train_batch_size", "2", "--gradient_accumulation_steps", "1",
        "--lora_rank", "4", "--learning_rate", "1e-2", "--device", "cpu");
  }

  /** {@code java -cp <the test classpath> jswift.cli.Main sft ...}, output to {@code log}. */
  private static Process start(Path model, Path data, Path out, Path resume, long saveDelayMs, Path log)
      throws IOException {
    List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-cp", System.getProperty("java.class.path"), "-XX:+UseSerialGC", "-Xshare:auto"));
    // The same native-library cache as this JVM (no second extraction), and the save pause.
    for (String k : System.getProperties().stringPropertyNames())
      if (k.startsWith("org.bytedeco.")) cmd.add("-D" + k + "=" + System.getProperty(k));
    if (saveDelayMs > 0) cmd.add("-Djswift.test.checkpoint_delay_ms=" + saveDelayMs);
    cmd.add("jswift.cli.Main");
    cmd.add("sft");
    cmd.addAll(flags(model, data, out));
    if (resume != null) cmd.addAll(List.of("--resume_from_checkpoint", resume.toString()));
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
    // One thread: the child's speed and sums do not depend on how busy the machine's cores are.
    pb.environment().put("OMP_NUM_THREADS", "1");
    pb.environment().put("OPENBLAS_NUM_THREADS", "1");
    return pb.start();
  }

  /** The save of step {@code >= minStep} is half done: its adapter is in checkpoint-K.tmp, its optimizer not yet. */
  private static boolean halfSaved(Path runDir, long minStep) {
    for (Path p : list(runDir))
      if (p.getFileName().toString().matches("checkpoint-\\d+\\.tmp") && step(p) >= minStep
          && Files.exists(p.resolve("adapter_config.json"))
          && !Files.exists(p.resolve(Checkpoints.OPTIMIZER)))
        return true;
    return false;
  }

  /** "step: loss" for each training entry of a checkpoint's log_history. */
  private static List<String> losses(Path checkpoint) throws IOException {
    List<String> l = new ArrayList<>();
    for (JsonNode n : new ObjectMapper().readTree(checkpoint.resolve(Checkpoints.STATE).toFile()).path("log_history"))
      if (n.has("loss")) l.add(n.path("global_step/max_steps").asText() + ": " + n.get("loss").asDouble());
    assertEquals(STEPS, l.size(), checkpoint + ": " + l);
    return l;
  }

  /** K of checkpoint-K (or checkpoint-K.tmp). */
  private static long step(Path checkpoint) {
    String n = checkpoint.getFileName().toString().substring(11);
    return Long.parseLong(n.endsWith(".tmp") ? n.substring(0, n.length() - 4) : n);
  }

  private static boolean stale(Path runDir) {
    return list(runDir).stream().anyMatch(p -> p.getFileName().toString().endsWith(".tmp")
        && p.getFileName().toString().startsWith("checkpoint-"));
  }

  private static List<Path> list(Path dir) {
    if (!Files.isDirectory(dir)) return List.of();
    try (var s = Files.list(dir)) {
      return s.toList();
    } catch (IOException e) {
      return List.of();   // a folder renamed while listed: look again next time
    }
  }

  private static List<Path> checkpoints(Path runDir) {
    return list(runDir).stream().filter(p -> p.getFileName().toString().matches("checkpoint-\\d+"))
        .sorted(Comparator.comparingLong(p -> Long.parseLong(p.getFileName().toString().substring(11)))).toList();
  }

  private static Path newest(Path runDir) {
    List<Path> all = checkpoints(runDir);
    return all.isEmpty() ? null : all.get(all.size() - 1);
  }

  /** Every visible checkpoint is complete: its state, adapter, optimizer moments and args all read back. */
  private static void checkVisibleCheckpoints(Path runDir, CausalLM model, String when) throws IOException {
    Batch probe = Batch.packed(List.of(new int[] {785, 3974, 13876, 38835, 34208}),
        List.of(new int[] {785, 3974, 13876, 38835, 34208}));
    for (Path c : checkpoints(runDir)) {
      String what = c + " (" + when + ")";
      JsonNode state = new ObjectMapper().readTree(c.resolve(Checkpoints.STATE).toFile());
      assertEquals(Long.parseLong(c.getFileName().toString().substring(11)), state.path("global_step").asLong(), what);
      assertTrue(Files.exists(c.resolve("args.json")), what);
      try (SafetensorsFile adapter = SafetensorsFile.open(c.resolve("adapter_model.safetensors"));
          SafetensorsFile moments = SafetensorsFile.open(c.resolve(Checkpoints.OPTIMIZER))) {
        assertEquals(2 * adapter.names().size(), moments.names().size(), "exp_avg and exp_avg_sq per tensor: " + what);
        for (String n : adapter.names()) assertTrue(adapter.floats(n).length > 0, what);
        for (String n : moments.names()) assertTrue(moments.floats(n).length > 0, what);
      }
      String name = "ckpt" + c.getFileName().toString().substring(11) + "x" + System.nanoTime();
      model.loadAdapter(name, c);
      model.setActiveAdapter(name);
      assertTrue(Double.isFinite(model.loss(probe)), what + " loads and computes");
    }
  }
}
