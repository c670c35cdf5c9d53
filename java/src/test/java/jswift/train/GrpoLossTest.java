package jswift.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import jswift.infer.ChatCompletion;
import jswift.model.Batch;
import jswift.model.CausalLM;
import jswift.nn.Parameter;
import jswift.template.GenerationPrompt;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * GRPO's arithmetic against its definitions worked out here, and its gradient (the per-token weighted cross-entropy
 * backward the trainer runs) against central finite differences of its surrogate loss along random directions of a
 * LoRA adapter, on the tiny Llama fixture.
 */
class GrpoLossTest {
  @Test
  void advantagesAreGroupNormalisedRewards() {
    double[] r = {1, 0, 0, 1, /* second group: all equal */ 0.5, 0.5, 0.5, 0.5};
    GrpoLoss.Advantages a = GrpoLoss.advantages(r, 4, true);
    double std = Math.sqrt(4 * 0.25 / 3);  // unbiased, as torch.std
    assertEquals(std, a.groupStd()[0], 1e-12);
    assertEquals(0, a.groupStd()[1], 0);
    assertEquals(0.5 / (std + 1e-4), a.advantage()[0], 1e-12);
    assertEquals(-0.5 / (std + 1e-4), a.advantage()[1], 1e-12);
    for (int i = 4; i < 8; i++) assertEquals(0, a.advantage()[i], 0, "a group with one reward teaches nothing");
    assertArrayEquals(new double[] {0.5, -0.5, -0.5, 0.5, 0, 0, 0, 0}, GrpoLoss.advantages(r, 4, false).advantage(), 1e-12);
    assertThrows(IllegalArgumentException.class, () -> GrpoLoss.advantages(r, 3, true));
  }

  @Test
  void completionWeightsFollowTheLossType() {
    int[] tokens = {2, 6, 0, 4};
    assertArrayEquals(new double[] {1 / 8.0, 1 / 24.0, 0, 1 / 16.0},
        GrpoLoss.completionWeights(tokens, GrpoLoss.Normalization.GRPO, 10), 1e-15);
    assertArrayEquals(new double[] {1 / 12.0, 1 / 12.0, 0, 1 / 12.0},
        GrpoLoss.completionWeights(tokens, GrpoLoss.Normalization.BNPO, 10), 1e-15);
    assertArrayEquals(new double[] {1 / 40.0, 1 / 40.0, 0, 1 / 40.0},
        GrpoLoss.completionWeights(tokens, GrpoLoss.Normalization.DR_GRPO, 10), 1e-15);
    assertThrows(IllegalArgumentException.class, () -> GrpoLoss.Normalization.parse("sigmoid"));
  }

  @Test
  void tokenWeightIsMinusTheDerivativeOfTheTokenLoss() {
    Random r = new Random(5);
    for (int trial = 0; trial < 50; trial++) {
      double s = r.nextDouble(), a = r.nextGaussian(), beta = r.nextDouble() * 0.2;
      double logp = -3 * r.nextDouble(), ref = -3 * r.nextDouble(), h = 1e-6;
      assertTrue(GrpoLoss.kl(logp, ref) >= 0);
      // the surrogate whose gradient GRPO takes: s (-A logp + beta KL(logp, ref)) (ratio's derivative is 1 at 1)
      double plus = s * (-a * (logp + h) + beta * GrpoLoss.kl(logp + h, ref));
      double minus = s * (-a * (logp - h) + beta * GrpoLoss.kl(logp - h, ref));
      assertEquals(-(plus - minus) / (2 * h), GrpoLoss.tokenWeight(s, a, beta, logp, ref), 1e-6);
    }
    // with a sampling policy pi_old: the clipped surrogate -min(r A, clip(r) A), r = exp(logp - old)
    GrpoLoss.Clip clip = new GrpoLoss.Clip(0.2, 0.28);
    int clippedSeen = 0;
    for (int trial = 0; trial < 200; trial++) {
      double s = r.nextDouble(), a = r.nextGaussian(), beta = r.nextDouble() * 0.2;
      double logp = -3 * r.nextDouble(), ref = -3 * r.nextDouble(), old = logp + 0.6 * r.nextGaussian(), h = 1e-7;
      double ratio = Math.exp(logp - old);
      if (Math.abs(ratio - 0.8) < 1e-4 || Math.abs(ratio - 1.28) < 1e-4) continue;  // at a kink
      if (clip.clipped(ratio, a)) clippedSeen++;
      double plus = GrpoLoss.tokenLoss(s, a, beta, logp + h, ref, Math.exp(logp + h - old), clip);
      double minus = GrpoLoss.tokenLoss(s, a, beta, logp - h, ref, Math.exp(logp - h - old), clip);
      assertEquals(-(plus - minus) / (2 * h), GrpoLoss.tokenWeight(s, a, beta, logp, ref, ratio, clip), 1e-5);
    }
    assertTrue(clippedSeen > 20, "the clipped side is exercised: " + clippedSeen);
    assertEquals(0, GrpoLoss.kl(-1.3, -1.3), 0);
    assertEquals(-0.25 * 2, GrpoLoss.tokenLoss(0.25, 2, 0.1, -1, -1), 1e-15, "no KL where policy = reference");
  }

  /** Four completions of two prompts (random tokens), with rewards that give both groups non-zero advantages. */
  private static GrpoStep.Rollout rollout(GrpoLoss.Normalization n) {
    Random r = new Random(9);
    List<GrpoStep.Sample> samples = new ArrayList<>();
    double[] rewards = {1, 0, 0.2, 0.9};
    int[] lengths = {3, 5, 4, 2};
    for (int p = 0; p < 2; p++) {
      int[] prompt = new int[5 + p];
      for (int i = 0; i < prompt.length; i++) prompt[i] = 3 + r.nextInt(500);
      RowPrompt gp = new RowPrompt(null, null, new GenerationPrompt(prompt, List.of(), List.of()));
      for (int j = 0; j < 2; j++) {
        int[] answer = new int[lengths[2 * p + j]];
        for (int i = 0; i < answer.length; i++) answer[i] = 3 + r.nextInt(500);
        samples.add(new GrpoStep.Sample(gp, new ChatCompletion.Choice("", answer, ChatCompletion.FinishReason.STOP),
            new double[] {rewards[2 * p + j]}, rewards[2 * p + j]));
      }
    }
    return new GrpoStep.Rollout(samples, GrpoLoss.advantages(rewards, 2, true),
        GrpoLoss.completionWeights(lengths, n, 8));
  }

  @ParameterizedTest
  @EnumSource(GrpoLoss.Normalization.class)
  void gradientIsTheDerivativeOfTheSurrogateLoss(GrpoLoss.Normalization n) throws IOException {
    GrpoStep.Rollout ro = rollout(n);
    double beta = 0.3;  // large enough that the KL term's share of the gradient is checked too
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU, DType.F32, CausalLM.Quantization.NONE)) {
      List<Parameter> params = jswift.testing.GradientCheck.zeroAdapter(m);
      jswift.testing.GradientCheck.perturb(params);
      GrpoStep step = new GrpoStep(m, null, null, new GrpoStep.Settings(2, 8, 1f, 0, 1f, 1f, beta, n, true, List.of(),
          new double[0], 1, new GrpoLoss.Clip(0.2, 0.2)), "default", ReferenceModel.adapterOff(m, "default"), null);
      Batch b = GrpoStep.batch(ro, 0, 4);
      m.setActiveAdapter(null);
      float[] ref = m.targetLogProbs(b);
      m.setActiveAdapter("default");
      GrpoStep.Scored d = step.score(ro, 0, 4);
      assertTrue(d.klSum() > 0, "the adapter moved the policy away from the reference");
      assertEquals(surrogate(m, b, ro, ref, beta), d.loss() + sumAdvantageTerms(m, b, ro), 1e-9,
          "the loss is the surrogate at ratio 1");
      params.forEach(Parameter::zeroGrad);
      m.forwardBackward(d.weighted(), 1, 1.0);
      Random r = new Random(11);
      for (int trial = 0; trial < 3; trial++)
        jswift.testing.GradientCheck.check(params, r, () -> surrogate(m, b, ro, ref, beta), n + " trial " + trial);
    }
  }

  @Test
  void clippedGradientIsTheDerivativeOfTheClippedLoss() throws IOException {
    GrpoStep.Rollout ro = rollout(GrpoLoss.Normalization.GRPO);
    double beta = 0.1;
    GrpoLoss.Clip clip = new GrpoLoss.Clip(0.2, 0.2);
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU, DType.F32, CausalLM.Quantization.NONE)) {
      List<Parameter> params = jswift.testing.GradientCheck.zeroAdapter(m);
      jswift.testing.GradientCheck.perturb(params);
      Batch b = GrpoStep.batch(ro, 0, 4);
      m.setActiveAdapter(null);
      float[] ref = m.targetLogProbs(b);
      m.setActiveAdapter("default");
      // the sampling policy: this one, drifted by +-0.5 per token, so that some ratios leave [0.8, 1.2]
      float[] old = m.targetLogProbs(b);
      Random drift = new Random(2);
      for (int t = 0; t < old.length; t++) if (b.target(t) != Batch.IGNORE) old[t] += (float) (0.5 * drift.nextGaussian());
      GrpoStep.Rollout drifted = new GrpoStep.Rollout(ro.samples(), ro.advantages(), ro.completionWeights(), 4,
          new float[][] {old});
      GrpoStep step = new GrpoStep(m, null, null, new GrpoStep.Settings(2, 8, 1f, 0, 1f, 1f, beta,
          GrpoLoss.Normalization.GRPO, true, List.of(), new double[0], 2, clip), "default",
          ReferenceModel.adapterOff(m, "default"), null);
      GrpoStep.Scored d = step.score(drifted, 0, 4);
      assertTrue(d.clipped() > 0 && d.clipped() < d.tokens(), "some tokens clipped, not all: " + d.clipped());
      params.forEach(Parameter::zeroGrad);
      m.forwardBackward(d.weighted(), 1, 1.0);
      Random r = new Random(13);
      for (int trial = 0; trial < 3; trial++)
        jswift.testing.GradientCheck.check(params, r, () -> GrpoStep.score(drifted, 0, b, m.targetLogProbs(b), ref, old,
            beta, clip).loss(), "trial " + trial);
    }
  }

  /**
   * At a sampling temperature T every log-probability is log softmax(logits / T)[target] (TRL divides the logits by
   * T), and the weighted backward at T is the derivative of the surrogate built from those.
   */
  @Test
  void atASamplingTemperatureLogProbsAndGradientAreThoseOfTheLogitsOverT() throws IOException {
    GrpoStep.Rollout ro = rollout(GrpoLoss.Normalization.GRPO);
    float temperature = 0.7f;
    double beta = 0.3;
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU, DType.F32, CausalLM.Quantization.NONE)) {
      List<Parameter> params = jswift.testing.GradientCheck.zeroAdapter(m);
      jswift.testing.GradientCheck.perturb(params);
      Batch b = GrpoStep.batch(ro, 0, 4);
      float[] logits = m.logits(b), tempered = m.targetLogProbs(b, temperature), plain = m.targetLogProbs(b);
      int v = m.config().vocabSize();
      for (int t = 0; t < b.tokens(); t++) {
        if (b.target(t) == Batch.IGNORE) continue;
        double max = Double.NEGATIVE_INFINITY, sum = 0;
        for (int k = 0; k < v; k++) max = Math.max(max, logits[t * v + k] / temperature);
        for (int k = 0; k < v; k++) sum += Math.exp(logits[t * v + k] / temperature - max);
        double want = logits[t * v + b.target(t)] / temperature - max - Math.log(sum);
        assertEquals(want, tempered[t], 2e-5, "token " + t);
        assertTrue(Math.abs(tempered[t] - plain[t]) > 1e-4, "T = 0.7 changes token " + t + "'s log-probability");
      }
      m.setActiveAdapter(null);
      float[] ref = m.targetLogProbs(b, temperature);
      m.setActiveAdapter("default");
      GrpoStep step = new GrpoStep(m, null, null, new GrpoStep.Settings(2, 8, temperature, 0, 1f, 1f, beta,
          GrpoLoss.Normalization.GRPO, true, List.of(), new double[0], 1, new GrpoLoss.Clip(0.2, 0.2)), "default",
          ReferenceModel.adapterOff(m, "default"), null);
      GrpoStep.Scored d = step.score(ro, 0, 4);
      params.forEach(Parameter::zeroGrad);
      m.forwardBackward(d.weighted(), 1, 1.0, step.logitTemperature());
      Random r = new Random(17);
      for (int trial = 0; trial < 3; trial++)
        jswift.testing.GradientCheck.check(params, r, () -> surrogate(m, b, ro, ref, beta, temperature),
            "T = 0.7 trial " + trial);
    }
  }

  /** sum_i s_i sum_t (-A_i logp_t + beta KL_t): the function whose gradient GRPO follows (at ratio 1). */
  private static double surrogate(CausalLM m, Batch b, GrpoStep.Rollout ro, float[] ref, double beta) {
    return surrogate(m, b, ro, ref, beta, 1f);
  }

  private static double surrogate(CausalLM m, Batch b, GrpoStep.Rollout ro, float[] ref, double beta,
      float temperature) {
    float[] logp = m.targetLogProbs(b, temperature);
    double f = 0;
    for (int q = 0; q < b.sequences(); q++) {
      double a = ro.advantages().advantage()[q], s = ro.completionWeights()[q];
      for (int t = b.sequenceStart(q); t < b.sequenceEnd(q); t++)
        if (b.target(t) != Batch.IGNORE) f += s * (-a * logp[t] + beta * GrpoLoss.kl(logp[t], ref[t]));
    }
    return f;
  }

  /** sum_i s_i sum_t -A_i (logp_t - 1): what the surrogate has beyond the logged loss, whose ratio term is -A_i. */
  private static double sumAdvantageTerms(CausalLM m, Batch b, GrpoStep.Rollout ro) {
    float[] logp = m.targetLogProbs(b);
    double f = 0;
    for (int q = 0; q < b.sequences(); q++) {
      double a = ro.advantages().advantage()[q], s = ro.completionWeights()[q];
      for (int t = b.sequenceStart(q); t < b.sequenceEnd(q); t++)
        if (b.target(t) != Batch.IGNORE) f += s * -a * (logp[t] - 1);
    }
    return f;
  }
}
