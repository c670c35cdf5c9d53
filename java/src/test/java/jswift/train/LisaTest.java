package jswift.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import jswift.model.Checkpoint;
import jswift.testing.TinyModels;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** LISA on a tiny random 4-layer Qwen3: which layers train, what stays bit-identical, and resume. */
class LisaTest {
  static final int LAYERS = 4;
  @TempDir static Path shared;
  static Path model, data;

  @BeforeAll
  static void setUp() throws IOException {
    model = TinyModels.qwen3(shared.resolve("tiny-qwen3-4"), 11, LAYERS);
    data = shared.resolve("corpus.txt");
    Files.writeString(data, "The quick brown fox jumps over the lazy dog.\nA journey of a thousand miles begins "
        + "with a single step.\nJava runs on the JVM.\nLayers take turns to learn.\n");
  }

  private static TrainArguments args(Path out, long maxSteps, int saveSteps, int activated, int interval) {
    TrainArguments a = new TrainArguments();
    a.model = model;
    a.dataset = List.of(data.toString());
    a.pretrain = true;
    a.lossScale = "all";
    a.trainType = "full";
    a.lisaActivatedLayers = activated;
    a.lisaStepInterval = interval;
    a.outputDir = out;
    a.maxSteps = maxSteps;
    a.saveSteps = saveSteps;
    a.loggingSteps = 1;
    a.learningRate = 1e-3;
    a.lrSchedulerType = "constant";
    a.gradientAccumulationSteps = 1;  // the 152K-word tied head dominates a step: keep the runs short
    a.perDeviceTrainBatchSize = 2;
    a.device = "cpu";
    return a;
  }

  private static Trainer.Result run(TrainArguments a) throws IOException {
    return TinyModels.train(a);
  }

  @Test
  void samplingIsSeededDistinctAndUniform() {
    assertArrayEquals(Lisa.sample(42, 3, 8, 3), Lisa.sample(42, 3, 8, 3), "a function of (seed, interval)");
    int[] counts = new int[8];
    Set<String> draws = new HashSet<>();
    for (int i = 0; i < 4000; i++) {
      int[] s = Lisa.sample(42, i, 8, 3);
      assertEquals(3, Arrays.stream(s).distinct().count(), Arrays.toString(s));
      for (int l : s) counts[l]++;
      draws.add(Arrays.toString(s));
    }
    // Each layer is drawn with probability 3/8: 1500 of 4000 expected, sd ~31; all 56 subsets occur.
    for (int c : counts) assertTrue(Math.abs(c - 1500) < 160, Arrays.toString(counts));
    assertEquals(56, draws.size());
    assertFalse(Arrays.equals(Lisa.sample(42, 0, 8, 3), Lisa.sample(43, 0, 8, 3))
        && Arrays.equals(Lisa.sample(42, 1, 8, 3), Lisa.sample(43, 1, 8, 3)), "the seed matters");
  }

  /** Which decoder layers differ between two saved models; the other tensors must be bit-identical. */
  private static Set<Integer> changedLayers(Path before, Path after, Set<String> changedOthers) throws IOException {
    Set<Integer> changed = new TreeSet<>();
    try (Checkpoint a = Checkpoint.open(before); Checkpoint b = Checkpoint.open(after)) {
      assertEquals(a.names(), b.names());
      for (String n : a.names()) {
        boolean same = Arrays.equals(a.file(n).floats(n), b.file(n).floats(n));
        if (n.startsWith("model.layers.")) {
          if (!same) changed.add(Integer.parseInt(n.split("\\.")[2]));
        } else if (!same) {
          changedOthers.add(n);
        }
      }
      // A layer that trained changed in every tensor (Adam moves every entry with a nonzero gradient history).
      for (int l : changed) {
        for (String n : a.names()) {
          if (n.startsWith("model.layers." + l + "."))
            assertFalse(Arrays.equals(a.file(n).floats(n), b.file(n).floats(n)), n + " of a trained layer");
        }
      }
    }
    return changed;
  }

  @Test
  void exactlyTheSampledLayersTrainInEachIntervalAndOthersStayBitIdentical(@TempDir Path out) throws IOException {
    int activated = 2, interval = 2;
    TrainArguments a = args(out, 6, interval, activated, interval);
    Trainer.Result r;
    long stateBytes;
    int[] lastActive;
    try (Trainer t = new Trainer(a, new PrintWriter(new StringWriter()))) {
      r = t.train();
      stateBytes = t.optimizerStateBytes();
      lastActive = t.lisaActiveLayers();
    }
    assertTrue(r.lastLoss() < r.firstLoss(), r.firstLoss() + " -> " + r.lastLoss());
    Path previous = model;
    for (int i = 0; i < 3; i++) {
      Path ckpt = r.runDir().resolve("checkpoint-" + (i + 1) * interval);
      Set<String> others = new TreeSet<>();
      Set<Integer> changed = changedLayers(previous, ckpt, others);
      Set<Integer> expected = new TreeSet<>();
      for (int l : Lisa.sample(a.seed, i, LAYERS, activated)) expected.add(l);
      assertEquals(expected, changed, "interval " + i + ": exactly the sampled layers train");
      // embeddings (tied with the LM head) and the final norm train in every interval
      assertEquals(Set.of("model.embed_tokens.weight", "model.norm.weight"), others, "interval " + i);
      previous = ckpt;
    }
    assertArrayEquals(Lisa.sample(a.seed, 2, LAYERS, activated), lastActive);
    // AdamW state: two fp32 moments for the embeddings, the final norm and the active layers only.
    long embed = 151936L * 32, norm = 32, layer = 2 * 32 + 2 * 16 + (32 * 32 + 16 * 32 * 2 + 32 * 32) + 3 * 64 * 32;
    assertEquals(8 * (embed + norm + activated * layer), stateBytes);
  }

  @Test
  void resumeInsideAndAtTheStartOfAnIntervalIsBitIdentical(@TempDir Path out) throws IOException {
    // Interval 2: steps 1-2, 3-4. checkpoint-3 resumes inside an interval (moments of layers activated at step 3,
    // with their own step count); checkpoint-2 resumes where a new interval starts, so its layers start afresh.
    // 3 of 4 layers: the two intervals share at least two layers, whose saved interval-0 moments must be dropped.
    Trainer.Result straight = run(args(out.resolve("a"), 4, 1, 3, 2));
    for (String from : List.of("checkpoint-2", "checkpoint-3")) {
      TrainArguments resumed = args(out.resolve("b-" + from), 4, 1, 3, 2);
      resumed.resumeFromCheckpoint = straight.runDir().resolve(from);
      Trainer.Result second = run(resumed);
      assertEquals(straight.lastLoss(), second.lastLoss(), 0.0, from + ": same final loss, bit for bit");
      try (Checkpoint x = Checkpoint.open(straight.lastCheckpoint());
          Checkpoint y = Checkpoint.open(second.lastCheckpoint())) {
        for (String n : x.names()) assertArrayEquals(x.file(n).floats(n), y.file(n).floats(n), from + ": " + n);
      }
    }
  }

  @Test
  void badSettingsNameTheFlag(@TempDir Path out) {
    TrainArguments lora = args(out, 2, 1, 2, 20);
    lora.trainType = "lora";
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> new Trainer(lora, new PrintWriter(new StringWriter())));
    assertTrue(e.getMessage().contains("--lisa_activated_layers") && e.getMessage().contains("full"), e.getMessage());
    TrainArguments tooMany = args(out, 2, 1, LAYERS + 1, 20);
    e = assertThrows(IllegalArgumentException.class, () -> new Trainer(tooMany, new PrintWriter(new StringWriter())));
    assertTrue(e.getMessage().contains("--lisa_activated_layers 5") && e.getMessage().contains("4 decoder layers"),
        e.getMessage());
    TrainArguments interval = args(out, 2, 1, 1, 0);
    e = assertThrows(IllegalArgumentException.class, () -> new Trainer(interval, new PrintWriter(new StringWriter())));
    assertTrue(e.getMessage().contains("--lisa_step_interval"), e.getMessage());
  }
}
