package jswift.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import jswift.testing.TinyModels;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@code --cuda_graphs} end to end on the CPU (its graphs are recordings of the engine's calls under CUDA's rules):
 * a packed LoRA run with dropout and gradient accumulation logs the losses and gradient norms of the eager run
 * (padding and replay change only rounding), says what it captured and replayed, and the flags it cannot work
 * with are refused before anything loads.
 */
class CudaGraphsTrainingTest {
  @TempDir static Path shared;
  static Path model, data;

  @BeforeAll
  static void setUp() throws IOException {
    model = TinyModels.qwen3(shared.resolve("tiny-qwen3"), 12);
    data = TinyModels.chatDataset(shared.resolve("train.jsonl"), TinyModels.IDENTITY_QA);
  }

  private static TrainArguments args(Path out, boolean graphs) {
    return args(out, graphs, "lora");
  }

  private static TrainArguments args(Path out, boolean graphs, String trainType) {
    TrainArguments a = TinyModels.trainArguments(model, data, out, 6, 100);
    a.trainType = trainType;
    a.fourierNFrequency = 40;  // fourierft: its coefficients are expanded into [c; c] by kernels inside the step
    a.fourierScaling = 20;
    a.learningRate = 3e-2;
    a.lrSchedulerType = "constant";
    a.gradientAccumulationSteps = 2;
    a.perDeviceTrainBatchSize = 2;
    a.loraRank = 4;
    a.loraAlpha = 8;
    a.loraDropout = 0.1f;  // the masks of each micro-step must be the eager run's
    a.packing = true;
    a.maxLength = 48;
    a.cudaGraphs = graphs;
    a.device = "cpu";
    return a;
  }

  /** Every logged training step's loss, grad_norm and token_acc. */
  private static List<double[]> steps(Path runDir) throws IOException {
    List<double[]> out = new ArrayList<>();
    ObjectMapper json = new ObjectMapper();
    for (String line : Files.readAllLines(runDir.resolve("logging.jsonl"))) {
      JsonNode n = json.readTree(line);
      if (n.has("loss") && n.has("grad_norm"))
        out.add(new double[] {n.get("loss").asDouble(), n.get("grad_norm").asDouble(), n.get("token_acc").asDouble(-1)});
    }
    return out;
  }

  @ParameterizedTest
  @ValueSource(strings = {"lora", "fourierft"})
  void aGraphReplayedRunLogsTheEagerRunsLossesAndNorms(String trainType) throws IOException {
    Trainer.Result eager = TinyModels.train(args(shared.resolve("eager-" + trainType), false, trainType));
    StringWriter console = new StringWriter();
    Trainer.Result graphed;
    try (Trainer t = new Trainer(args(shared.resolve("graphs-" + trainType), true, trainType),
        new PrintWriter(console, true))) {
      graphed = t.train();
    }
    List<double[]> e = steps(eager.runDir()), g = steps(graphed.runDir());
    assertEquals(6, e.size());
    assertEquals(e.size(), g.size());
    for (int i = 0; i < e.size(); i++) {
      // Tolerance: rounding only; the padded step multiplies more (zero-gradient) rows, in other GEMM shapes.
      assertEquals(e.get(i)[0], g.get(i)[0], 1e-5 * Math.abs(e.get(i)[0]), "loss of step " + (i + 1));
      assertEquals(e.get(i)[1], g.get(i)[1], 1e-4 * Math.abs(e.get(i)[1]), "grad_norm of step " + (i + 1));
      // the staged step's argmax, read after the replay, with the padding's rows left out
      assertTrue(e.get(i)[2] >= 0 && Math.abs(e.get(i)[2] - g.get(i)[2]) < 0.02,
          "token_acc of step " + (i + 1) + ": " + e.get(i)[2] + " vs " + g.get(i)[2]);
    }
    assertTrue(e.get(5)[0] < e.get(0)[0], "the run learns");
    String out = console.toString();
    assertTrue(out.contains("padded to 2 x 48 = 96 tokens"), out);
    assertTrue(out.contains("captured the micro-step"), out);
    java.util.regex.Matcher m = java.util.regex.Pattern.compile("cuda_graphs: (\\d+) micro-steps replayed, (\\d+) run "
        + "eagerly, (\\d+) captures").matcher(out);
    assertTrue(m.find(), out);
    int replayed = Integer.parseInt(m.group(1)), eagerly = Integer.parseInt(m.group(2));
    assertEquals(12, replayed + eagerly, "6 steps x 2 micro-steps");
    assertTrue(replayed >= 8, "most micro-steps are replays: " + out);
  }

  @Test
  void flagsThatCannotWorkWithGraphsAreRefused() {
    TrainArguments a = args(shared.resolve("bad"), true);
    a.maxLength = null;
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, a::validate);
    assertTrue(e.getMessage().contains("--max_length"), e.getMessage());
    a = args(shared.resolve("bad"), true);
    a.trainType = "full";
    a.lisaActivatedLayers = 1;
    e = assertThrows(IllegalArgumentException.class, a::validate);
    assertTrue(e.getMessage().contains("LISA"), e.getMessage());
  }
}
