package jswift.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import jswift.model.Batch;
import jswift.model.CausalLM;
import jswift.nn.Parameter;
import jswift.tensor.Device;
import jswift.testing.Assert;
import jswift.testing.Fixtures;
import jswift.testing.GradientCheck;
import jswift.testing.TinyModels;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * --train_type longlora: a LoRA adapter trained with LongLoRA's shifted sparse attention (ms-swift 3's way: PEFT
 * LoRA, S²-Attn in training steps, groups of max_length / 4). The attention's own arithmetic is checked in
 * ShiftedGroupsTest; here: its place in the model (training steps only, the gradient of what the step computes,
 * groups as long as the sequences being full attention) and the sft run.
 */
class LongLoraTest {
  // two rows of 12 tokens, the second with 3 padding tokens (right padding, as training batches are)
  private static final Batch BATCH = Batch.padded(
      new int[][] {{5, 17, 101, 33, 250, 7, 9, 400, 12, 88, 61, 3}, {44, 2, 19, 301, 8, 76, 150, 11, 6, 0, 0, 0}},
      new int[][] {{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, {1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0}},
      new int[][] {{5, 17, 101, 33, 250, 7, 9, 400, 12, 88, 61, 3}, {44, 2, 19, 301, 8, 76, 150, 11, 6, -100, -100,
          -100}});

  private static List<Parameter> adapter(CausalLM m) {
    List<Parameter> params = GradientCheck.zeroAdapter(m);
    GradientCheck.perturb(params);
    return params;
  }

  private static float[][] stepGradients(CausalLM m, List<Parameter> params, double[] loss) {
    params.forEach(Parameter::zeroGrad);
    loss[0] = m.forwardBackward(BATCH, 1);
    float[][] g = new float[params.size()][];
    for (int i = 0; i < g.length; i++) g[i] = params.get(i).grad().toFloatArray();
    return g;
  }

  @Test
  void groupsAsLongAsTheSequencesAreFullAttention() throws IOException {
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      List<Parameter> params = adapter(m);
      double[] full = new double[1], grouped = new double[1];
      float[][] gFull = stepGradients(m, params, full);
      m.setShiftedSparseAttention(24);  // the shifted half's first group: 12 tokens, the whole row
      float[][] gGrouped = stepGradients(m, params, grouped);
      assertEquals(full[0], grouped[0], 1e-6);
      for (int i = 0; i < gFull.length; i++) Assert.close(params.get(i).name(), gGrouped[i], gFull[i], 1e-5, 1e-6);
    }
  }

  @Test
  void shortGroupsChangeTrainingStepsOnlyAndTheGradientIsTheStepsLossGradient() throws IOException {
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      List<Parameter> params = adapter(m);
      double[] full = new double[1], grouped = new double[1];
      stepGradients(m, params, full);
      double evalLoss = m.loss(BATCH);
      m.setShiftedSparseAttention(4);
      stepGradients(m, params, grouped);
      assertTrue(Math.abs(grouped[0] - full[0]) > 1e-3, "groups of 4 see less: " + full[0] + " vs " + grouped[0]);
      assertEquals(evalLoss, m.loss(BATCH), 0, "evaluation attends in full");
      GradientCheck.check(params, new Random(3), () -> m.forwardBackward(BATCH, 1), "LoRA under S2-Attn");
      m.setGradientCheckpointing(true);  // the recomputed forward takes the same groups
      double[] recomputed = new double[1];
      float[][] gRe = stepGradients(m, params, recomputed);
      m.setGradientCheckpointing(false);
      float[][] gPlain = stepGradients(m, params, grouped);
      assertEquals(grouped[0], recomputed[0], 1e-6);
      for (int i = 0; i < gRe.length; i++) Assert.close(params.get(i).name(), gRe[i], gPlain[i], 1e-5, 1e-6);
    }
  }

  @Test
  void aModelWithAnOddNumberOfKeyValueHeadsIsRefused(@TempDir Path dir) throws IOException {
    try (CausalLM m = CausalLM.load(TinyModels.qwen3(dir.resolve("tiny"), 1), Device.CPU)) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> m.setShiftedSparseAttention(4));
      assertTrue(e.getMessage().contains("2 attention and 1 key / value heads"), e.getMessage());
    }
  }

  @Test
  void sftTrainsALoraAdapterWithShiftedSparseAttention(@TempDir Path dir) throws IOException {
    Path model = Fixtures.tinyChatModel(dir.resolve("model"));
    Path data = TinyModels.chatDataset(dir.resolve("train.jsonl"), TinyModels.IDENTITY_QA);
    TrainArguments a = TinyModels.trainArguments(model, data, dir.resolve("out"), 16, 16);
    a.trainType = "longlora";
    a.maxLength = 16;
    a.learningRate = 1e-2;
    a.lrSchedulerType = "constant";
    a.device = "cpu";
    StringWriter console = new StringWriter();
    Trainer.Result r;
    try (Trainer t = new Trainer(a, new PrintWriter(console, true))) {
      r = t.train();
    }
    assertTrue(console.toString().contains("longlora: training steps attend within groups of 4 tokens"),
        console.toString());
    assertTrue(r.lastLoss() < r.firstLoss(), r.firstLoss() + " -> " + r.lastLoss());
    ObjectMapper json = new ObjectMapper();
    assertEquals("LORA", json.readTree(r.lastCheckpoint().resolve("adapter_config.json").toFile())
        .get("peft_type").asText(), "a PEFT LoRA adapter, as ms-swift 3 saves longlora");
    assertEquals("longlora", json.readTree(r.runDir().resolve("args.json").toFile()).get("train_type").asText());
    try (CausalLM m = CausalLM.load(model, Device.CPU)) {  // it loads and serves as any LoRA adapter
      m.loadAdapter("x", r.lastCheckpoint());
    }
    TrainArguments graphs = TinyModels.trainArguments(model, data, dir.resolve("g"), 1, 1);
    graphs.trainType = "longlora";
    graphs.cudaGraphs = true;
    graphs.maxLength = 16;
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, graphs::validate);
    assertTrue(e.getMessage().contains("--cuda_graphs"), e.getMessage());
  }
}
