package jswift.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.List;
import jswift.model.SafetensorsFile;
import jswift.nn.Parameter;
import jswift.tensor.DType;
import jswift.testing.TinyModels;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code --use_galore true --galore_quantization true --galore_proj_quant true} (Q-GaLore) on a tiny random Qwen3
 * (hidden 32, intermediate 64, 2 layers, tied 151936 x 32 embedding): the 14 projected linear weights are stored
 * INT8 (the model's weight bytes say so, exactly), the loss falls, and a run resumed mid-interval ends with the same
 * bytes as a straight one (the stochastic rounding is seeded by step and weight, the INT8 codes checkpointed).
 */
class QGaLoreTrainingTest {
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
    a.galoreUpdateProjGap = 4;   // refreshes at steps 1, 5 (a queue of 5 cosines never fills in these runs)
    a.galoreScale = 0.25;
    a.galoreQuantization = true;
    a.galoreProjQuant = true;
    a.galoreProjGroupSize = 64;
    a.learningRate = 1e-2;
    a.lrSchedulerType = "constant";
    a.gradientAccumulationSteps = 1;
    a.perDeviceTrainBatchSize = 2;
    a.device = "cpu";
    return a;
  }

  @Test
  void qgaloreRunStoresInt8WeightsAndLowersTheLoss(@TempDir Path out) throws IOException {
    StringWriter console = new StringWriter();
    Trainer.Result r;
    try (Trainer t = new Trainer(args(out, 10, 10), new PrintWriter(console, true))) {
      int int8 = 0;
      for (Parameter p : t.trainableParameters()) {
        if (!p.isInt8()) continue;
        int8++;
        assertEquals(DType.U8, p.value().dtype(), p.name());
        assertTrue(p.name().contains(".layers.") && p.name().endsWith("_proj.weight"), p.name());
      }
      assertEquals(14, int8, "q, k, v, o, gate, up, down of 2 layers");
      // Per layer 9216 linear weights in 36 groups of 256 (q, o: 4; k, v: 2; gate, up, down: 8): one byte each
      // plus a scale and a zero per group, instead of 4 bytes; the norms and the tied embedding stay fp32.
      long layerWeights = 2 * 32 * 32 + 2 * 16 * 32 + 3 * 64 * 32, norms = 2 * 32 + 2 * 16;
      long fp32 = 4 * (151936L * 32 + 32 + 2 * (norms + layerWeights));
      long want = fp32 - 2 * (4 * layerWeights - (layerWeights + 36 * 8));
      assertEquals(want, t.model().weightBytes(), "INT8 storage of the projected weights, in bytes");
      // Optimizer state per layer: GaLore's low-rank moments (2560 floats, as in GaLoreTrainingTest); INT4
      // projectors in groups of 64: q, o, gate, up P [4, 32] and down [32, 4] 64 code bytes + 2 groups x 8, k, v
      // [16, 4] 32 + 8; the lazy state, 3 + queue 5 + the first vector (q, o, gate, up: 32; k, v: 16; down: 32)
      // floats each. The rest (norms, tied embedding) keeps two fp32 moments; the INT8 codes are weights, not state.
      long perLayer = 4 * 2560 + (5 * (64 + 16) + 2 * (32 + 8)) + 4 * (7 * 8 + 32 * 5 + 16 * 2);
      assertEquals(2 * perLayer + 8 * (2 * norms + 32 + 151936L * 32), t.optimizerStateBytes());
      r = t.train();
    }
    assertTrue(console.toString().contains("Q-GaLore: 14 linear weights stored INT8"), console.toString());
    assertTrue(r.lastLoss() < r.firstLoss() * 0.8, "Q-GaLore learns: " + r.firstLoss() + " -> " + r.lastLoss());
    try (SafetensorsFile opt = SafetensorsFile.open(r.lastCheckpoint().resolve(Checkpoints.OPTIMIZER));
        SafetensorsFile weights = SafetensorsFile.open(r.lastCheckpoint().resolve("model.safetensors"))) {
      String q = "model.layers.1.self_attn.q_proj.weight";
      assertEquals("U8", opt.entry(q + ".weight_int8_codes").dtype());
      assertEquals("U8", opt.entry(q + ".galore_projector_codes").dtype());
      assertEquals(64, opt.entry(q + ".galore_projector_codes").numel(), "[4, 32] INT4: 64 bytes");
      // the saved model holds the dequantized weight, a float tensor users load as usual
      assertEquals(32 * 32, weights.floats(q).length);
    }
  }

  @Test
  void resumeMidIntervalIsBitIdentical(@TempDir Path out) throws IOException {
    Trainer.Result straight = TinyModels.train(args(out.resolve("a"), 6, 3));
    // checkpoint-3 sits inside the first interval (P from step 1 serves steps 1-4)
    TrainArguments resumed = args(out.resolve("b"), 6, 3);
    resumed.resumeFromCheckpoint = straight.runDir().resolve("checkpoint-3");
    Trainer.Result second = TinyModels.train(resumed);
    assertEquals(straight.lastLoss(), second.lastLoss(), 0.0, "same final loss, bit for bit");
    for (String f : List.of("model.safetensors", Checkpoints.OPTIMIZER))
      try (SafetensorsFile a = SafetensorsFile.open(straight.lastCheckpoint().resolve(f));
          SafetensorsFile b = SafetensorsFile.open(second.lastCheckpoint().resolve(f))) {
        assertEquals(a.names(), b.names());
        for (String n : a.names()) assertEquals(a.bytes(n), b.bytes(n), f + ": " + n);
      }
  }

  @Test
  void qgaloreFlagsAreCheckedUpFront() {
    TrainArguments lisa = args(shared, 1, 1);
    lisa.lisaActivatedLayers = 1;
    assertTrue(assertThrows(IllegalArgumentException.class, lisa::validate).getMessage().contains("LISA"));
    TrainArguments bits = args(shared, 1, 1);
    bits.galoreProjBits = 2;
    assertTrue(assertThrows(IllegalArgumentException.class, bits::validate).getMessage().contains("--galore_proj_bits"));
    TrainArguments queue = args(shared, 1, 1);
    queue.galoreQueueSize = 0;
    assertTrue(assertThrows(IllegalArgumentException.class, queue::validate).getMessage().contains("--galore_queue_size"));
  }
}
