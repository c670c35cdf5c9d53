package jswift.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.ArrayList;
import java.util.List;
import jswift.model.Batch;
import jswift.model.CausalLM;
import jswift.nn.Parameter;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Kernels;
import jswift.testing.Fixtures;
import jswift.tuner.LoraConfig;
import jswift.tuner.LoraTuner;
import org.junit.jupiter.api.Test;

/**
 * --cuda_graphs on the CPU, whose graphs are recordings of the engine's calls under CUDA's rules: a QLoRA micro-step
 * replayed from a graph gives bit for bit what the same padded step gives eagerly (losses, gradients, the weights
 * after AdamW), with dropout, over batches of different lengths and a batch that needs a larger shape (a second
 * capture); and it matches the unpadded eager step up to rounding (padding changes no result).
 */
class GraphedMicroStepsTest {
  private static final int TOKENS = 48, SEQ_LEN = 24;
  private static final long SEED = 7_000_003L;

  private static CausalLM qloraModel() throws java.io.IOException {
    CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU, DType.F32, CausalLM.Quantization.NF4_DOUBLE_QUANT);
    return m;
  }

  private static List<Parameter> lora(CausalLM m) {
    return LoraTuner.apply(m, "default", LoraConfig.defaults().withTargetModules(List.of("all-linear"))
        .withLoraDropout(0.1), 3);
  }

  /** Packed sequences of these lengths with random ids (labels = ids). */
  private static Batch batch(int vocab, long seed, int... lengths) {
    java.util.Random r = new java.util.Random(seed);
    List<int[]> ids = new ArrayList<>();
    for (int len : lengths) {
      int[] s = new int[len];
      for (int t = 0; t < len; t++) s[t] = r.nextInt(vocab);
      ids.add(s);
    }
    return Batch.packed(ids, ids);
  }

  private static float[] grads(List<Parameter> ps) {
    List<float[]> all = new ArrayList<>();
    int n = 0;
    for (Parameter p : ps) {
      float[] g = p.grad().toFloatArray();
      all.add(g);
      n += g.length;
    }
    float[] out = new float[n];
    int o = 0;
    for (float[] g : all) {
      System.arraycopy(g, 0, out, o, g.length);
      o += g.length;
    }
    return out;
  }

  private static float[] values(List<Parameter> ps) {
    float[][] v = ps.stream().map(p -> p.master().toFloatArray()).toArray(float[][]::new);
    return java.util.Arrays.stream(v).reduce(new float[0], (a, b) -> {
      float[] c = java.util.Arrays.copyOf(a, a.length + b.length);
      System.arraycopy(b, 0, c, a.length, b.length);
      return c;
    });
  }

  @Test
  void aReplayedMicroStepIsTheEagerPaddedStepBitForBit() throws Exception {
    try (CausalLM graphed = qloraModel(); CausalLM eager = qloraModel(); CausalLM plain = qloraModel()) {
      int vocab = graphed.config().vocabSize();
      List<Parameter> pg = lora(graphed), pe = lora(eager), pp = lora(plain);
      // 5 micro-steps: lengths vary; the fourth has more sequences than the first shape holds (recapture).
      Batch[] batches = {batch(vocab, 1, 10, 14), batch(vocab, 2, 20, 3, 9), batch(vocab, 3, 24, 24),
          batch(vocab, 4, 5, 5, 5, 5, 5, 6), batch(vocab, 5, 7, 11)};
      StringWriter log = new StringWriter();
      try (GraphedMicroSteps steps = new GraphedMicroSteps(graphed, TOKENS, SEQ_LEN, new PrintWriter(log, true));
          CausalLM.StepInputs in = eager.stepInputs(TOKENS, SEQ_LEN);
          AdamW og = new AdamW(pg, 0.9f, 0.999f, 1e-8f, 0f, 1f);
          AdamW oe = new AdamW(pe, 0.9f, 0.999f, 1e-8f, 0f, 1f);
          AdamW op = new AdamW(pp, 0.9f, 0.999f, 1e-8f, 0f, 1f)) {
        int shapeSequences = 0;
        for (int i = 0; i < batches.length; i++) {
          Batch b = batches[i];
          double normalizer = b.targetWeight();
          long dropoutStep = i + 1;
          double lossGraphed = steps.forwardBackward(b, SEED, dropoutStep, normalizer);

          // the same padded step, eagerly
          int needed = b.paddedSequences(TOKENS, SEQ_LEN);
          if (needed > shapeSequences) shapeSequences = GraphedMicroSteps.shapeSequences(needed);
          Batch fixed = b.padTo(TOKENS, shapeSequences, SEQ_LEN, 0);
          in.stage(fixed, normalizer);
          Kernels.setDropoutStep(Device.CPU, dropoutStep);
          eager.forwardBackward(in, SEED);
          double lossEager = eager.stagedLoss(in, fixed, normalizer);

          // the unpadded step
          Kernels.setDropoutStep(Device.CPU, dropoutStep);
          double lossPlain = plain.forwardBackward(b, SEED, normalizer);

          // Tolerance: none between replay and eager (the same calls on the same data); rounding only against the
          // unpadded step (other GEMM shapes, other summation orders).
          assertEquals(lossEager, lossGraphed, 0.0, "loss of micro-step " + i);
          assertArrayEquals(grads(pe), grads(pg), "LoRA gradients of micro-step " + i);
          assertEquals(lossPlain, lossGraphed, 1e-5 * Math.abs(lossPlain), "loss vs the unpadded step " + i);
          float[] gp = grads(pp), gg = grads(pg);
          for (int k = 0; k < gp.length; k++)
            assertEquals(gp[k], gg[k], 1e-4f * (1f + Math.abs(gp[k])), "gradient " + k + " vs the unpadded step " + i);
          og.step(1e-2f);
          oe.step(1e-2f);
          op.step(1e-2f);
          og.zeroGrad();
          oe.zeroGrad();
          op.zeroGrad();
        }
        assertArrayEquals(values(pe), values(pg), "the adapters after 5 AdamW steps");
        // Shapes: micro-steps 0-2 need 3, 4 and 2 sequences (a shape of 4: warm-up, capture, replay), 3 needs 7
        // (a shape of 8: warm-up), 4 needs 4 (capture).
        assertEquals(2, steps.captures(), log.toString());
        assertEquals(2, steps.eagerSteps(), "one warm-up per shape");
        assertEquals(3, steps.replays());
        assertTrue(log.toString().contains("captured the micro-step"), log.toString());
      }
    }
  }

  @Test
  void theMasksFollowTheDropoutStepAndTheSeedMustNotChange() throws Exception {
    try (CausalLM m = qloraModel()) {
      List<Parameter> ps = lora(m);
      Batch b = batch(m.config().vocabSize(), 9, 12, 12);
      try (GraphedMicroSteps steps = new GraphedMicroSteps(m, TOKENS, SEQ_LEN, new PrintWriter(new StringWriter()))) {
        // Steps 1, 1, 2, 2 on one batch and one fresh adapter (no optimizer step). B starts at zero, so the loss
        // does not see the LoRA path's dropout yet; B's gradient (dy^T drop(x) A^T) does.
        float[][] g = new float[4][];
        for (int i = 0; i < 4; i++) {
          steps.forwardBackward(b, SEED, 1 + i / 2, b.targetWeight());
          g[i] = grads(ps);
          for (Parameter p : ps) p.grad().zero();
        }
        assertEquals(1, steps.captures());
        assertArrayEquals(g[0], g[1], "eager and replay at step 1");
        assertArrayEquals(g[2], g[3], "two replays at step 2");
        assertTrue(!java.util.Arrays.equals(g[1], g[2]), "another step draws other dropout masks");
        IllegalStateException e = assertThrows(IllegalStateException.class,
            () -> steps.forwardBackward(b, SEED + 1, 3, b.targetWeight()));
        assertTrue(e.getMessage().contains("dropout step"), e.getMessage());
      }
    }
  }
}
