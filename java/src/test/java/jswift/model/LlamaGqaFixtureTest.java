package jswift.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import jswift.tensor.Arena;
import jswift.testing.Assert;
import jswift.testing.Fixtures;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The llama-gqa fixture (fixtures/hf-tiny/llama-gqa/README.md: outputs of transformers 4.57 + PEFT 0.21) reproduced
 * by a decoder stack assembled from the engine's ops: hidden states after every layer, logits, loss, greedy
 * tokens, LoRA / rsLoRA gradients, one AdamW step and the loss after it.
 *
 * <p>Tolerances: the issue asks for hidden states and logits within relative error 1e-5 (||got - ref|| / ||ref||);
 * the fixture README suggests abs 1e-4 for logits and hidden states, abs 1e-5 for losses, abs 1e-5 / rel 1e-3 for
 * gradients (fp32 with a different summation order than torch's), abs 1e-6 after the AdamW step for entries
 * whose gradient is not tiny (the first step moves each entry by about lr * sign(g), so an entry with |g| near
 * eps can legitimately land elsewhere), and exact greedy tokens (smallest top-1/top-2 logit gap 1e-3).
 */
class LlamaGqaFixtureTest {
  private static final int BATCH = 2, SEQ = 12;
  private static SafetensorsFile reference;
  private static int[] ids, mask, positions, targets;

  @BeforeAll
  static void load() throws IOException {
    reference = SafetensorsFile.open(Fixtures.llamaGqa().resolve("reference.safetensors"));
    ids = toInts(reference.longs("input_ids"));
    mask = toInts(reference.longs("attention_mask"));
    int[] labels = toInts(reference.longs("labels"));
    positions = new int[BATCH * SEQ];
    targets = new int[BATCH * SEQ];
    for (int b = 0; b < BATCH; b++) {
      for (int t = 0; t < SEQ; t++) {
        positions[b * SEQ + t] = t;  // no position_ids were passed: every row uses 0..11
        targets[b * SEQ + t] = t + 1 < SEQ ? labels[b * SEQ + t + 1] : -100;  // causal-LM shift
      }
    }
  }

  @AfterAll
  static void close() throws IOException {
    reference.close();
  }

  private static int[] toInts(long[] v) {
    return Arrays.stream(v).mapToInt(Math::toIntExact).toArray();
  }

  private static void closeTo(String what, float[] got, float[] want, double relNorm, double abs) {
    Assert.relNorm(what, got, want, relNorm);
    Assert.close(what, got, want, abs, 0);
  }

  @Test
  void baseModelHiddenStatesLogitsAndLoss() throws IOException {
    try (TinyLlamaFromKernels model = new TinyLlamaFromKernels(Fixtures.llamaGqa()); Arena a = new Arena()) {
      TinyLlamaFromKernels.Forward f = model.forward(a, ids, mask, positions, targets, SEQ);
      closeTo("embed", f.hidden.get(0).toFloatArray(), reference.floats("base.hidden.embed"), 0, 0);
      closeTo("layer0", f.hidden.get(1).toFloatArray(), reference.floats("base.hidden.layer0"), 1e-5, 1e-4);
      closeTo("layer1", f.hidden.get(2).toFloatArray(), reference.floats("base.hidden.layer1"), 1e-5, 1e-4);
      closeTo("final_norm", f.finalNorm.toFloatArray(), reference.floats("base.hidden.final_norm"), 1e-5, 1e-4);
      closeTo("logits", f.logits.toFloatArray(), reference.floats("base.logits"), 1e-5, 1e-4);
      assertEquals(15, f.targets);
      assertEquals(6.618367671966553, f.loss, 1e-5);
      // per-token CE: reference is [2, 11] (position t against label t+1), ours [2, 12] with 0 at the last position
      float[] per = f.lossPerToken.toFloatArray(), ref = reference.floats("base.per_token_ce");
      float[] ours = new float[BATCH * (SEQ - 1)];
      for (int b = 0; b < BATCH; b++) System.arraycopy(per, b * SEQ, ours, b * (SEQ - 1), SEQ - 1);
      Assert.close("per-token CE", ours, ref, 1e-5, 0);
    }
  }

  @Test
  void ropeFrequenciesMatchTransformers() throws IOException {
    ModelConfig cfg = ModelConfig.load(Fixtures.llamaGqa());
    float[] inv = jswift.tensor.Kernels.ropeInvFreq(cfg.headDim(), cfg.ropeTheta());
    Assert.close("inv_freq", inv, reference.floats("rope.inv_freq"), 0, 2e-7);
  }

  @Test
  void greedyGenerationReproducesTheTokens() throws IOException {
    assertArrayEquals(reference.longs("gen.sequences"), greedy(null, 0, false, 8));
  }

  @Test
  void loraForwardBackwardAndAdamWStep() throws IOException {
    checkAdapter("lora", false, 6.940145969390869, 6.76500129699707);
  }

  @Test
  void rsLoraForwardBackwardAndAdamWStep() throws IOException {
    checkAdapter("rslora", true, 6.759782791137695, 6.37109899520874);
  }

  @Test
  void loraGreedyGeneration() throws IOException {
    assertArrayEquals(reference.longs("lora.gen.sequences"), greedy("lora", 4, false, 8));
    assertArrayEquals(reference.longs("rslora.gen.sequences"), greedy("rslora", 4, true, 8));
  }

  private void checkAdapter(String name, boolean rslora, double loss, double lossAfterStep) throws IOException {
    Path adapterDir = Fixtures.llamaGqa().resolve("adapters/" + name);
    try (TinyLlamaFromKernels model = new TinyLlamaFromKernels(Fixtures.llamaGqa())) {
      model.loadAdapter(adapterDir, 4, 8, rslora);
      try (Arena a = new Arena()) {
        TinyLlamaFromKernels.Forward f = model.forward(a, ids, mask, positions, targets, SEQ);
        closeTo(name + " logits", f.logits.toFloatArray(), reference.floats(name + ".logits"), 1e-5, 1e-4);
        assertEquals(loss, f.loss, 1e-5, name + " loss");
        model.backward(a, f, mask, positions, targets, SEQ);
      }
      assertEquals(28, model.adapterGrad.size());
      for (String k : model.adapterGrad.keySet()) {
        float[] got = model.adapterGrad.get(k).toFloatArray(), want = reference.floats(name + ".grad." + k);
        Assert.close(name + " grad " + k, got, want, 1e-5, 1e-3);
      }
      model.adamwStep(1e-3f, 0.9f, 0.999f, 1e-8f, 0f);
      for (String k : model.adapter.keySet()) {
        float[] got = model.adapter.get(k).toFloatArray(), want = reference.floats(name + ".after_step." + k);
        float[] grad = reference.floats(name + ".grad." + k);
        for (int i = 0; i < got.length; i++) {
          if (Math.abs(grad[i]) < 1e-5) continue;  // see the class comment: sign-sensitive entries
          assertEquals(want[i], got[i], 1e-6, name + " after step " + k + "[" + i + "]");
        }
      }
      try (Arena a = new Arena()) {
        assertEquals(lossAfterStep, model.forward(a, ids, mask, positions, targets, SEQ).loss, 1e-5,
            name + " loss after one AdamW step");
      }
    }
  }

  /** Greedy decoding by recomputing the whole prefix each step (no KV cache yet): batch 1, no padding. */
  private long[] greedy(String adapter, int rank, boolean rslora, int newTokens) throws IOException {
    long[] prompt = reference.longs("gen.prompt_ids");
    try (TinyLlamaFromKernels model = new TinyLlamaFromKernels(Fixtures.llamaGqa())) {
      if (adapter != null) model.loadAdapter(Fixtures.llamaGqa().resolve("adapters/" + adapter), rank, 8, rslora);
      int[] seq = Arrays.copyOf(toInts(prompt), prompt.length + newTokens);
      int len = prompt.length;
      for (int step = 0; step < newTokens; step++, len++) {
        int[] cur = Arrays.copyOf(seq, len), ones = new int[len], pos = new int[len], none = new int[len];
        Arrays.fill(ones, 1);
        Arrays.fill(none, -100);
        for (int i = 0; i < len; i++) pos[i] = i;
        try (Arena a = new Arena()) {
          float[] logits = model.forward(a, cur, ones, pos, none, len).logits.toFloatArray();
          int vocab = model.cfg.vocabSize(), best = 0;
          for (int v = 1; v < vocab; v++) if (logits[(len - 1) * vocab + v] > logits[(len - 1) * vocab + best]) best = v;
          seq[len] = best;
        }
      }
      return Arrays.stream(seq).asLongStream().toArray();
    }
  }
}
