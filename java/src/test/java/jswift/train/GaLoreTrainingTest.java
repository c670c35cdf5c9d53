package jswift.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import jswift.model.SafetensorsFile;
import jswift.testing.TinyModels;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code --train_type full --use_galore true} runs on a tiny random Qwen3 (hidden 32, intermediate 64, 2 layers,
 * tied 151936 x 32 embedding): the loss falls, the reported optimizer state is exactly the low-rank moments and
 * projectors of the 14 projected weights plus full moments for the rest, and a run resumed between two projector
 * refreshes ends bit-identical to a straight one.
 */
class GaLoreTrainingTest {
  @TempDir static Path shared;
  static Path model, data;

  @BeforeAll
  static void setUp() throws IOException {
    model = TinyModels.qwen3(shared.resolve("tiny-qwen3"), 7);
    data = TinyModels.chatDataset(shared.resolve("train.jsonl"), TinyModels.IDENTITY_QA);
  }

  private static TrainArguments args(Path out, long maxSteps, int saveSteps) {
    TrainArguments a = TinyModels.trainArguments(model, data, out, maxSteps, saveSteps);
    a.trainType = "full";
    a.useGalore = true;
    a.galoreRank = 4;
    a.galoreUpdateProjGap = 4;   // refreshes at steps 1, 5, 9
    a.galoreScale = 0.25;
    a.learningRate = 1e-2;
    a.lrSchedulerType = "constant";
    a.gradientAccumulationSteps = 1;
    a.perDeviceTrainBatchSize = 2;
    a.device = "cpu";
    return a;
  }

  @Test
  void galoreRunLowersTheLossAndReportsItsSmallerState(@TempDir Path out) throws IOException {
    StringWriter console = new StringWriter();
    Trainer.Result r;
    try (Trainer t = new Trainer(args(out, 10, 10), new PrintWriter(console, true))) {
      r = t.train();
    }
    assertTrue(r.lastLoss() < r.firstLoss() * 0.8, "GaLore learns: " + r.firstLoss() + " -> " + r.lastLoss());
    // Expected bytes from the shapes alone. Per layer (hidden 32, 2 heads x 16, 1 kv head, intermediate 64), rank 4:
    //   q, o [32, 32] -> moments [32, 4] x 2 + P [4, 32]: 384 floats each
    //   k, v [16, 32] (wide) -> moments [4, 32] x 2 + P [16, 4]: 320 floats each
    //   gate, up [64, 32] -> moments [64, 4] x 2 + P [4, 32]: 640 floats each
    //   down [32, 64] (wide) -> moments [4, 64] x 2 + P [32, 4]: 640 floats
    // Unprojected, two full moments: 4 norms of 32 per layer (input, post-attention, q_norm and k_norm of 16),
    // the final norm and the tied embedding.
    long perLayerGalore = 2 * 384 + 2 * 320 + 2 * 640 + 640;
    long perLayerNorms = 2 * 32 + 2 * 16;
    long galoreFloats = 2 * perLayerGalore + 2 * (2 * perLayerNorms + 32 + 151936L * 32);
    long layerWeights = 2 * 32 * 32 + 2 * 16 * 32 + 3 * 64 * 32;
    long adamwFloats = 2 * (2 * (layerWeights + perLayerNorms) + 32 + 151936L * 32);
    Matcher mm = Pattern.compile("optimizer state: (\\d+) bytes .* full AdamW would keep (\\d+) bytes")
        .matcher(console.toString());
    assertTrue(mm.find(), console.toString());
    assertEquals(4 * galoreFloats, Long.parseLong(mm.group(1)), "moments + projectors, in bytes");
    assertEquals(4 * adamwFloats, Long.parseLong(mm.group(2)));
    // On the projected weights alone: 2 m n floats became 2 r max(m, n) + r min(m, n): 18432 -> 3328 floats per
    // layer, 5.5x less (the tied embedding's full moments dominate this tiny model's total).
    assertEquals(18432, 2 * layerWeights);
    assertEquals(3328, perLayerGalore);
    assertTrue(Files.readString(r.runDir().resolve("logging.jsonl")).contains("optimizer state: " + 4 * galoreFloats));
    try (SafetensorsFile opt = SafetensorsFile.open(r.lastCheckpoint().resolve(Checkpoints.OPTIMIZER))) {
      assertArrayEquals(new long[] {4, 32}, opt.entry("model.layers.1.self_attn.q_proj.weight.galore_projector").shape());
      assertArrayEquals(new long[] {4, 64}, opt.entry("model.layers.1.mlp.down_proj.weight.exp_avg").shape());
      assertArrayEquals(new long[] {32}, opt.entry("model.norm.weight.exp_avg").shape());
    }
  }

  @Test
  void resumeBetweenRefreshesIsBitIdentical(@TempDir Path out) throws IOException {
    Trainer.Result straight = TinyModels.train(args(out.resolve("a"), 7, 3));
    // checkpoint-3 sits inside the first interval (P from step 1 serves steps 1-4; step 5 refreshes it)
    TrainArguments resumed = args(out.resolve("b"), 7, 3);
    resumed.resumeFromCheckpoint = straight.runDir().resolve("checkpoint-3");
    Trainer.Result second = TinyModels.train(resumed);
    assertEquals(straight.lastLoss(), second.lastLoss(), 0.0, "same final loss, bit for bit");
    for (String f : List.of("model.safetensors", Checkpoints.OPTIMIZER))
      try (SafetensorsFile a = SafetensorsFile.open(straight.lastCheckpoint().resolve(f));
          SafetensorsFile b = SafetensorsFile.open(second.lastCheckpoint().resolve(f))) {
        assertEquals(a.names(), b.names());
        for (String n : a.names()) assertArrayEquals(a.floats(n), b.floats(n), f + ": " + n);
      }
    // a GaLore checkpoint does not resume into a plain full run: the moments' shapes say why
    TrainArguments plain = args(out.resolve("c"), 7, 3);
    plain.useGalore = false;
    plain.resumeFromCheckpoint = straight.runDir().resolve("checkpoint-3");
    IOException e = assertThrows(IOException.class, () -> new Trainer(plain, new PrintWriter(new StringWriter())));
    assertTrue(e.getMessage().contains("--use_galore"), e.getMessage());
  }

  @Test
  void galoreFlagsAreCheckedUpFront() {
    TrainArguments lora = args(shared, 1, 1);
    lora.trainType = "lora";
    assertTrue(assertThrows(IllegalArgumentException.class, lora::validate).getMessage().contains("--train_type full"));
    TrainArguments q = args(shared, 1, 1);
    q.galoreProjQuant = true;
    assertTrue(assertThrows(IllegalArgumentException.class, q::validate).getMessage().contains("--galore_quantization"));
    TrainArguments per = args(shared, 1, 1);
    per.galoreOptimPerParameter = true;   // with the default clipping (max_grad_norm 1)
    assertTrue(assertThrows(IllegalArgumentException.class, per::validate).getMessage()
        .contains("--galore_optim_per_parameter"));
    TrainArguments off = args(shared, 1, 1);
    off.useGalore = false;
    off.galoreWithEmbedding = true;
    assertTrue(assertThrows(IllegalArgumentException.class, off::validate).getMessage().contains("--use_galore"));
  }
}
