package jswift.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import jswift.model.Batch;
import jswift.model.CausalLM;
import jswift.model.SafetensorsFile;
import jswift.nn.Parameter;
import jswift.tensor.Device;
import jswift.tensor.Kernels;
import jswift.testing.Rand;
import jswift.testing.TinyModels;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code --galore_optim_per_parameter}: GaLore's per-layer update, each weight stepped inside the backward as soon as
 * its gradient is complete and that gradient freed. On a tiny random Qwen3 (hidden 32, intermediate 64, 2 layers,
 * tied 151936 x 32 embedding), three GaLore steps taken that way leave every weight bit-identical to the usual step
 * (each weight's update is independent of the others' without clipping), while the gradients that coexist shrink from
 * all the decoder's to one layer's: counted exactly, and seen in the CPU allocator's peak.
 */
class GaLorePerParameterTest {
  @TempDir static Path shared;
  static Path model, data;

  @BeforeAll
  static void setUp() throws IOException {
    model = TinyModels.qwen3(shared.resolve("tiny-qwen3"), 7);
    data = TinyModels.chatDataset(shared.resolve("train.jsonl"), TinyModels.IDENTITY_QA);
  }

  private static Batch batch(int step) {
    int[] ids = Rand.ints(24, 100 + step, 0, 151936);
    int[] labels = ids.clone();
    labels[0] = Batch.IGNORE;
    int[] mask = new int[24];
    java.util.Arrays.fill(mask, 1);
    return Batch.padded(new int[][] {ids}, new int[][] {mask}, new int[][] {labels});
  }

  private static AdamW galoreAdamW(CausalLM m, List<Parameter> trainable) {
    GaLoreConfig config = new GaLoreConfig(4, 2, 0.25f, List.of(), false);
    AdamW opt = new AdamW(trainable, 0.9f, 0.95f, 1e-8f, 0.1f, 0f, config, config.select(trainable));
    List<Parameter> exempt = new ArrayList<>();
    for (Parameter p : trainable) if (!AdamW.decaysLike(p)) exempt.add(p);
    return opt.withoutDecay(exempt);
  }

  private static long gradBytes(List<Parameter> ps) {
    long b = 0;
    for (Parameter p : ps) if (p.holdsGrad()) b += p.grad().byteSize();
    return b;
  }

  @Test
  void perParameterStepsEqualTheUsualStepWithOneLayersGradientsAtATime() throws IOException {
    long emb = 4L * 151936 * 32, layer = 4L * (2 * 32 * 32 + 2 * 16 * 32 + 3 * 64 * 32 + 2 * 32 + 2 * 16), norm = 4 * 32;
    try (CausalLM a = CausalLM.load(model, Device.CPU); CausalLM b = CausalLM.load(model, Device.CPU)) {
      List<Parameter> ta = new ArrayList<>(a.parameters().values()), tb = new ArrayList<>(b.parameters().values());
      ta.forEach(p -> p.setTrainable(true));
      tb.forEach(p -> p.setTrainable(true));
      long[] seen = new long[1];
      try (AdamW oa = galoreAdamW(a, ta); AdamW ob = galoreAdamW(b, tb)) {
        b.onGradientsReady(ready -> {
          seen[0] = Math.max(seen[0], gradBytes(tb));   // what coexists when a group completes, before it steps
          ob.stepParameters(ready);
        });
        long peakUsual = 0, peakSplit = 0;
        for (int s = 1; s <= 3; s++) {   // refreshes at steps 1 and 3
          float lr = 1e-2f / s;
          Kernels.resetPeakMemory(Device.CPU);
          double la = a.forwardBackward(batch(s), s);
          assertEquals(emb + 2 * layer + norm, gradBytes(ta), "the usual backward holds every gradient");
          oa.step(lr);
          oa.zeroGrad();
          peakUsual = Math.max(peakUsual, Kernels.memoryStats(Device.CPU)[2]);
          Kernels.resetPeakMemory(Device.CPU);
          ob.beginSplitStep(lr);
          double lb = b.forwardBackward(batch(s), s);
          ob.finishSplitStep();
          peakSplit = Math.max(peakSplit, Kernels.memoryStats(Device.CPU)[2]);
          assertEquals(la, lb, 0.0, "step " + s + ": same loss");
          assertEquals(0, gradBytes(tb), "every gradient freed after its step");
          for (int i = 0; i < ta.size(); i++)
            assertArrayEquals(ta.get(i).master().toFloatArray(), tb.get(i).master().toFloatArray(), 0f,
                "step " + s + ": " + ta.get(i).name());
        }
        assertEquals(oa.stepCount(), ob.stepCount());
        // The tied embedding's gradient is complete only at the end (lm_head's part comes first), so it spans the
        // backward; of the decoder, only the layer being stepped holds its gradients.
        assertEquals(emb + layer, seen[0], "gradients coexisting at most (per-parameter)");
        // The allocator's peak: the usual step keeps all gradients allocated throughout; the split step never holds
        // more than one layer's and the final norm's at once besides the embedding's, so it peaks at least one
        // layer's gradients lower (GaLore's SVD temporaries during the backward are a few KB; a layer is 37 KB).
        System.out.printf("per-parameter GaLore: peak CPU allocation %d -> %d bytes (-%d); gradients coexisting %d"
            + " -> %d bytes%n", peakUsual, peakSplit, peakUsual - peakSplit, emb + 2 * layer + norm, seen[0]);
        assertTrue(peakUsual - peakSplit >= layer, "peak " + peakUsual + " -> " + peakSplit);
      }
    }
  }

  private static TrainArguments args(Path out, boolean perParameter) {
    TrainArguments a = TinyModels.trainArguments(model, data, out, 3, 3);
    a.trainType = "full";
    a.useGalore = true;
    a.galoreRank = 4;
    a.galoreUpdateProjGap = 2;
    a.galoreOptimPerParameter = perParameter;
    a.maxGradNorm = 0;
    a.learningRate = 1e-2;
    a.gradientAccumulationSteps = 1;
    a.perDeviceTrainBatchSize = 2;
    a.device = "cpu";
    return a;
  }

  @Test
  void theFlagTrainsLikeTheUsualStep(@TempDir Path out) throws IOException {
    Trainer.Result usual, split;
    usual = TinyModels.train(args(out.resolve("a"), false));
    split = TinyModels.train(args(out.resolve("b"), true));
    assertEquals(usual.lastLoss(), split.lastLoss(), 0.0);
    for (String f : List.of("model.safetensors", Checkpoints.OPTIMIZER))
      try (SafetensorsFile x = SafetensorsFile.open(usual.lastCheckpoint().resolve(f));
          SafetensorsFile y = SafetensorsFile.open(split.lastCheckpoint().resolve(f))) {
        for (String n : x.names()) assertEquals(x.bytes(n), y.bytes(n), f + ": " + n);
      }
  }

  @Test
  void clippingAndAccumulationAreRefused() {
    TrainArguments clip = args(shared, true);
    clip.maxGradNorm = 1.0;
    assertTrue(assertThrows(IllegalArgumentException.class, clip::validate).getMessage().contains("--max_grad_norm 0"));
    TrainArguments acc = args(shared, true);
    acc.gradientAccumulationSteps = null;
    assertTrue(assertThrows(IllegalArgumentException.class, acc::validate).getMessage()
        .contains("--gradient_accumulation_steps 1"));
    TrainArguments q = args(shared, true);
    q.galoreQuantization = true;
    assertTrue(assertThrows(IllegalArgumentException.class, q::validate).getMessage().contains("--galore_quantization"));
  }
}
