package jswift.train;

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
import jswift.testing.TinyModels;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What the trainer does to keep the host off the device's critical path changes nothing a run produces.
 * --dataloader_num_workers: preparing the next step's batches on a background thread keeps losses, gradient norms,
 * saved adapter and optimizer bytes and the checkpoint's data cursor bit-identical; a bad row met on that thread
 * fails the run with the row's file:line message; the thread is gone when train() returns or throws. The gradient
 * norm, read from the device only on the steps the log writes, is the value a per-step read gives.
 */
class PrefetchTrainingTest {
  @TempDir static Path shared;
  static Path model, data;
  static final String[][] QA = {{"What is your name?", "I am jswift-bot."}, {"Who made you?", "The jswift team."},
      {"Say hello.", "Hello from jswift!"}, {"Two plus two?", "Four."}, {"Favourite colour?", "Green, like a leaf."}};

  @BeforeAll
  static void setUp() throws IOException {
    model = TinyModels.qwen3(shared.resolve("tiny-qwen3"), 11);
    data = TinyModels.chatDataset(shared.resolve("train.jsonl"), QA);
  }

  private static TrainArguments args(Path out, int workers, boolean packing) {
    TrainArguments a = new TrainArguments();
    a.model = model;
    a.dataset = List.of(data.toString());
    a.outputDir = out;
    a.maxSteps = 6;  // 5 rows, 2 x 2 samples a step (unpacked): the saves fall mid-epoch and across epochs
    a.saveSteps = 3;
    a.loggingSteps = 1;
    a.learningRate = 3e-2;
    a.lrSchedulerType = "constant";
    a.gradientAccumulationSteps = 2;
    a.perDeviceTrainBatchSize = 2;
    a.loraRank = 4;
    a.loraAlpha = 8;
    a.loraDropout = 0.1f;  // dropout masks are seeded per micro-step: a shifted batch order would show
    a.packing = packing;
    a.maxLength = packing ? 48 : null;  // packing: about two samples a row, so a sample is held back across steps
    a.dataloaderNumWorkers = workers;
    a.device = "cpu";
    return a;
  }

  private static Trainer.Result run(TrainArguments a) throws IOException {
    return TinyModels.train(a);
  }

  /** Every logged training step's (loss, grad_norm, epoch) as exact doubles. */
  private static List<List<Double>> steps(Path runDir) throws IOException {
    List<List<Double>> out = new ArrayList<>();
    ObjectMapper json = new ObjectMapper();
    for (String line : Files.readAllLines(runDir.resolve("logging.jsonl"))) {
      JsonNode n = json.readTree(line);
      if (n.has("loss") && n.has("grad_norm"))
        out.add(List.of(n.get("loss").asDouble(), n.get("grad_norm").asDouble(), n.get("epoch").asDouble()));
    }
    return out;
  }

  private static JsonNode state(Path checkpoint) throws IOException {
    return new ObjectMapper().readTree(checkpoint.resolve(Checkpoints.STATE).toFile());
  }

  @Test
  void prefetchedRunIsBitIdenticalToTheSequentialOne(@TempDir Path out) throws IOException {
    for (boolean packing : new boolean[] {false, true}) {
      Path base = out.resolve(packing ? "packed" : "plain");
      Trainer.Result sequential = run(args(base.resolve("seq"), 0, packing));
      Trainer.Result prefetched = run(args(base.resolve("pre"), 1, packing));
      List<List<Double>> s = steps(sequential.runDir()), p = steps(prefetched.runDir());
      assertEquals(6, s.size(), "one logged step each");
      assertEquals(s, p, "packing=" + packing + ": losses, grad norms and epochs bit for bit");
      for (String ckpt : List.of("checkpoint-3", "checkpoint-6")) {
        for (String file : List.of("adapter_model.safetensors", Checkpoints.OPTIMIZER))
          assertArrayEquals(Files.readAllBytes(sequential.runDir().resolve(ckpt).resolve(file)),
              Files.readAllBytes(prefetched.runDir().resolve(ckpt).resolve(file)), ckpt + "/" + file);
        // The saved cursor is the one after the checkpoint's step, though the prefetch thread was a step further.
        JsonNode a = state(sequential.runDir().resolve(ckpt)), b = state(prefetched.runDir().resolve(ckpt));
        for (String f : List.of("data_epoch", "data_position", "data_chunk", "epoch", "skipped_too_long"))
          assertEquals(a.path(f).toString(), b.path(f).toString(), ckpt + " " + f);
      }
      assertTrue(state(sequential.runDir().resolve("checkpoint-3")).has("data_position"));
    }
  }

  @Test
  void resumingAPrefetchedRunGivesTheUninterruptedResult(@TempDir Path out) throws IOException {
    // Packed rows hold a sample back across steps: the cursor saved at step 3 must point at it, not past the step
    // the prefetch thread had already prepared.
    Trainer.Result straight = run(args(out.resolve("a"), 1, true));
    TrainArguments resumed = args(out.resolve("b"), 1, true);
    resumed.resumeFromCheckpoint = straight.runDir().resolve("checkpoint-3");
    Trainer.Result second = run(resumed);
    assertEquals(straight.lastLoss(), second.lastLoss(), 0.0);
    assertArrayEquals(Files.readAllBytes(straight.lastCheckpoint().resolve("adapter_model.safetensors")),
        Files.readAllBytes(second.lastCheckpoint().resolve("adapter_model.safetensors")));
  }

  @Test
  void aBadRowMetOnThePrefetchThreadFailsWithItsLocationAndTheThreadEnds(@TempDir Path out) throws IOException {
    // Row 4 passes loading (a messages row with roles and contents) but not templating: it ends with a user turn.
    Path bad = out.resolve("bad.jsonl");
    Files.writeString(bad, Files.readString(data).replaceFirst("(?s)^((?:[^\n]*\n){3})",
        "$1{\"messages\": [{\"role\": \"user\", \"content\": \"q\"}, {\"role\": \"assistant\", \"content\": "
            + "\"a\"}, {\"role\": \"user\", \"content\": \"and then?\"}]}\n"));
    for (int workers : new int[] {0, 1}) {
      TrainArguments a = args(out.resolve("run" + workers), workers, false);
      a.dataset = List.of(bad.toString());
      a.datasetShuffle = false;
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> run(a));
      assertTrue(e.getMessage().startsWith(bad + ":4: "), "workers=" + workers + ": " + e.getMessage());
      assertTrue(e.getMessage().contains("ends with a user turn"), e.getMessage());
      assertFalse(prefetchThreadAlive(), "the prefetch thread ended with the failed run");
    }
  }

  @Test
  void theThreadEndsWithTheRunAndANegativeWorkerCountIsRefused(@TempDir Path out) throws IOException {
    run(args(out.resolve("a"), 1, false));
    assertFalse(prefetchThreadAlive(), "the prefetch thread ended with the run");
    TrainArguments a = args(out.resolve("b"), -1, false);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> run(a));
    assertTrue(e.getMessage().contains("--dataloader_num_workers"), e.getMessage());
  }

  @Test
  void theGradNormReadOnlyAtLoggedStepsIsTheOneEveryStepWouldLog(@TempDir Path out) throws IOException {
    // logging_steps 4: the trainer reads the norm from the device at steps 1, 4 and 6 only, after the AdamW kernels
    // are queued; the values (and the trained adapter) must be those of the run that reads it every step.
    Trainer.Result every = run(args(out.resolve("every"), 1, false));
    TrainArguments a = args(out.resolve("sparse"), 1, false);
    a.loggingSteps = 4;
    Trainer.Result sparse = run(a);
    List<List<Double>> all = steps(every.runDir()), some = steps(sparse.runDir());
    assertEquals(3, some.size(), "records at steps 1, 4 and 6");
    int[] logged = {1, 4, 6};
    for (int i = 0; i < logged.length; i++)
      assertEquals(all.get(logged[i] - 1).get(1), some.get(i).get(1), "grad_norm at step " + logged[i]);
    assertArrayEquals(Files.readAllBytes(every.lastCheckpoint().resolve("adapter_model.safetensors")),
        Files.readAllBytes(sparse.lastCheckpoint().resolve("adapter_model.safetensors")));
  }

  private static boolean prefetchThreadAlive() {
    return Thread.getAllStackTraces().keySet().stream()
        .anyMatch(t -> t.isAlive() && t.getName().equals(BatchPrefetcher.THREAD_NAME));
  }
}
