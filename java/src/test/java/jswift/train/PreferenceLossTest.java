package jswift.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import jswift.model.Batch;
import jswift.model.CausalLM;
import jswift.nn.Parameter;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The preference losses: their values against the papers' formulas worked out here, and their gradients (the
 * weighted cross-entropy backward the trainer runs) against central finite differences of the loss along random
 * directions of a LoRA adapter's weights, on the tiny Llama fixture.
 */
class PreferenceLossTest {
  /** Two pairs: a shared prompt (no labels) then a chosen or a rejected answer (labelled). */
  private static Batch pairs() {
    Random r = new Random(7);
    List<int[]> ids = new ArrayList<>(), labels = new ArrayList<>();
    for (int pair = 0; pair < 2; pair++) {
      int[] prompt = new int[6 + pair];
      for (int i = 0; i < prompt.length; i++) prompt[i] = 3 + r.nextInt(500);
      for (int side = 0; side < 2; side++) {
        int[] answer = new int[4 + side + pair];
        for (int i = 0; i < answer.length; i++) answer[i] = 3 + r.nextInt(500);
        int[] seq = new int[prompt.length + answer.length], lab = new int[seq.length];
        System.arraycopy(prompt, 0, seq, 0, prompt.length);
        System.arraycopy(answer, 0, seq, prompt.length, answer.length);
        for (int i = 0; i < seq.length; i++) lab[i] = i < prompt.length ? Batch.IGNORE : seq[i];
        ids.add(seq);
        labels.add(lab);
      }
    }
    return Batch.packed(ids, labels);
  }

  private static PreferenceLoss.Settings settings(PreferenceLoss.Type t) {
    return new PreferenceLoss.Settings(t, t == PreferenceLoss.Type.SIMPO ? 2.0 : 0.5, 0.7, 0.3);
  }

  private static PreferenceLoss.Scored score(CausalLM m, Batch b, PreferenceLoss.Settings s) {
    return PreferenceLoss.score(m, ReferenceModel.adapterOff(m, "default"), b, s, 2, PreferenceLoss.chosenTokens(List.of(b)));
  }

  @Test
  void lossesFollowTheirDefinitions() {
    double[] logp = {-3.0, -5.0, -8.0, -6.0}, ref = {-3.5, -4.0, -7.0, -7.5};
    int[] tokens = {3, 5, 4, 2};
    long chosen = 3 + 4;
    double nll = (3.0 + 8.0) / chosen;  // the chosen answers' cross-entropy, per chosen token
    // DPO: -log sigmoid(beta (log-ratio chosen - log-ratio rejected)), mean over pairs
    double dpo = (-logSig(0.5 * ((-3 + 3.5) - (-5 + 4))) - logSig(0.5 * ((-8 + 7) - (-6 + 7.5)))) / 2;
    PreferenceLoss.Settings plainDpo = new PreferenceLoss.Settings(PreferenceLoss.Type.DPO, 0.5, 0.7, 0);
    assertEquals(dpo, PreferenceLoss.score(logp, ref, tokens, plainDpo, 2, chosen).loss(), 1e-12);
    // RPO (--rpo_alpha 0.3): DPO plus alpha times the chosen answers' NLL
    assertEquals(dpo + 0.3 * nll, PreferenceLoss.score(logp, ref, tokens, settings(PreferenceLoss.Type.DPO), 2, chosen).loss(), 1e-12);
    double cpo = (-logSig(0.5 * (-3 + 5)) - logSig(0.5 * (-8 + 6))) / 2 + 0.3 * nll;
    assertEquals(cpo, PreferenceLoss.score(logp, null, tokens, settings(PreferenceLoss.Type.CPO), 2, chosen).loss(), 1e-12);
    double simpo = (-logSig(2.0 * (-3 / 3.0 + 5 / 5.0) - 0.7) - logSig(2.0 * (-8 / 4.0 + 6 / 2.0) - 0.7)) / 2 + 0.3 * nll;
    assertEquals(simpo, PreferenceLoss.score(logp, null, tokens, settings(PreferenceLoss.Type.SIMPO), 2, chosen).loss(), 1e-12);
    double orpo = -0.5 * (logSig(odds(-1.0) - odds(-1.0)) + logSig(odds(-2.0) - odds(-3.0))) / 2 + nll;
    assertEquals(orpo, PreferenceLoss.score(logp, null, tokens, settings(PreferenceLoss.Type.ORPO), 2, chosen).loss(), 1e-12);
  }

  @Test
  void dpoVariantsFollowTheirDefinitions() {
    double[] logp = {-3.0, -5.0, -8.0, -6.0}, ref = {-3.5, -4.0, -7.0, -7.5};
    int[] tokens = {3, 5, 4, 2};
    double b = 0.5, e = 0.1;
    double[] rc = {-3 + 3.5, -8 + 7.0}, rr = {-5 + 4.0, -6 + 7.5};
    java.util.function.BiFunction<PreferenceLoss.DpoVariant, Double, Double> score = (v, ls) -> PreferenceLoss.score(logp,
        ref, tokens, new PreferenceLoss.Settings(PreferenceLoss.Type.DPO, b, 0, 0, v, ls), 2, 7).loss();
    double sigmoid = 0, robust = 0, hinge = 0, apoZero = 0, apoDown = 0, ipo = 0;
    for (int i = 0; i < 2; i++) {
      double z = rc[i] - rr[i];
      sigmoid += (-(1 - e) * logSig(b * z) - e * logSig(-b * z)) / 2;
      robust += ((-(1 - e) * logSig(b * z) + e * logSig(-b * z)) / (1 - 2 * e)) / 2;
      hinge += Math.max(0, 1 - b * z) / 2;
      apoZero += (1 - sig(b * rc[i]) + sig(b * rr[i])) / 2;
      apoDown += (sig(b * rc[i]) + 1 - sig(b * z)) / 2;
    }
    // IPO on per-token averages, of the policy and of the reference
    double[] zIpo = {(-3.0 / 3 + 3.5 / 3) - (-5.0 / 5 + 4.0 / 5), (-8.0 / 4 + 7.0 / 4) - (-6.0 / 2 + 7.5 / 2)};
    for (double z : zIpo) ipo += (z - 1 / (2 * b)) * (z - 1 / (2 * b)) / 2;
    assertEquals(sigmoid, score.apply(PreferenceLoss.DpoVariant.SIGMOID, e), 1e-12);
    assertEquals(robust, score.apply(PreferenceLoss.DpoVariant.ROBUST, e), 1e-12);
    assertEquals(hinge, score.apply(PreferenceLoss.DpoVariant.HINGE, 0.0), 1e-12);
    assertEquals(ipo, score.apply(PreferenceLoss.DpoVariant.IPO, 0.0), 1e-12);
    assertEquals(apoZero, score.apply(PreferenceLoss.DpoVariant.APO_ZERO, 0.0), 1e-12);
    assertEquals(apoDown, score.apply(PreferenceLoss.DpoVariant.APO_DOWN, 0.0), 1e-12);
    // TRL's other pairwise losses, written out from its dpo_loss
    double exo = 0, nca = 0, sppo = 0, disco = 0;
    for (int i = 0; i < 2; i++) {
      double t = b * (rc[i] - rr[i]), eps = 1e-3;
      exo += (sig(t) * (logSig(t) - Math.log(1 - eps)) + sig(-t) * (logSig(-t) - Math.log(eps))) / 2;
      nca += (-logSig(b * rc[i]) - 0.5 * logSig(-b * rc[i]) - 0.5 * logSig(-b * rr[i])) / 2;
      sppo += (Math.pow(rc[i] - 0.5 / b, 2) + Math.pow(rr[i] + 0.5 / b, 2)) / 2;
      double m = sig(t / 0.05);
      disco += (-logSig(t) * (1 - m) + Math.exp(-t) * m) / 2;
    }
    assertEquals(exo, score.apply(PreferenceLoss.DpoVariant.EXO_PAIR, 0.0), 1e-12);
    assertEquals(nca, score.apply(PreferenceLoss.DpoVariant.NCA_PAIR, 0.0), 1e-12);
    assertEquals(sppo, score.apply(PreferenceLoss.DpoVariant.SPPO_HARD, 0.0), 1e-12);
    assertEquals(disco, score.apply(PreferenceLoss.DpoVariant.DISCOPOP, 0.0), 1e-12);
    // AOT: the i-th smallest of one list against the i-th smallest of the other. Here rc = {0.5, -1.0} and
    // rr = {-1.0, 1.5}: sorted {-1.0, 0.5} - {-1.0, 1.5} = {0, -1}; policy pi = {2, -2}, reference {0.5, 0.5}:
    // sorted {-2, 2} - {0.5, 0.5} = {-2.5, 1.5}.
    double aotPair = (-(1 - e) * logSig(0) - e * logSig(0) - (1 - e) * logSig(b * -1.0) - e * logSig(b * 1.0)) / 2;
    double aot = (-logSig(b * -2.5) - logSig(b * 1.5)) / 2;
    assertEquals(aotPair, score.apply(PreferenceLoss.DpoVariant.AOT_PAIR, e), 1e-12);
    assertEquals(aot, score.apply(PreferenceLoss.DpoVariant.AOT, 0.0), 1e-12);
    // BCO: the running mean of the batches' mean rewards, here after its first batch: this batch's mean
    double delta = b * (rc[0] + rc[1] + rr[0] + rr[1]) / 4, bco = 0;
    for (int i = 0; i < 2; i++) bco += (-logSig(b * rc[i] - delta) - logSig(-(b * rr[i] - delta))) / 2;
    assertEquals(bco, score.apply(PreferenceLoss.DpoVariant.BCO_PAIR, 0.0), 1e-12);
    // a second batch moves the mean half way to its own mean (TRL's count-weighted update)
    PreferenceLoss.Settings twice = new PreferenceLoss.Settings(PreferenceLoss.Type.DPO, b, 0, 0,
        PreferenceLoss.DpoVariant.BCO_PAIR, 0);
    PreferenceLoss.score(logp, ref, tokens, twice, 2, 7);
    double[] shifted = ref.clone();
    for (int i = 0; i < 4; i++) shifted[i] -= 1;  // every log-ratio up by 1: the batch mean reward up by beta
    PreferenceLoss.score(logp, shifted, tokens, twice, 2, 7);
    assertEquals(delta + b / 2, twice.bcoMean().mean(), 1e-12);
    for (PreferenceLoss.DpoVariant v : PreferenceLoss.DpoVariant.values()) {  // each derivative against its loss
      if (v.coupled()) continue;  // batch-coupled: checked through the model in dpoVariantGradientIsTheDerivativeOfTheLoss
      double[] d = PreferenceLoss.dpo(v, b, v == PreferenceLoss.DpoVariant.ROBUST ? e : 0, 0.3, -0.4), h = {1e-6};
      double[] pc = PreferenceLoss.dpo(v, b, v == PreferenceLoss.DpoVariant.ROBUST ? e : 0, 0.3 + h[0], -0.4);
      double[] mc = PreferenceLoss.dpo(v, b, v == PreferenceLoss.DpoVariant.ROBUST ? e : 0, 0.3 - h[0], -0.4);
      double[] pr = PreferenceLoss.dpo(v, b, v == PreferenceLoss.DpoVariant.ROBUST ? e : 0, 0.3, -0.4 + h[0]);
      double[] mr = PreferenceLoss.dpo(v, b, v == PreferenceLoss.DpoVariant.ROBUST ? e : 0, 0.3, -0.4 - h[0]);
      assertEquals((pc[0] - mc[0]) / 2e-6, d[1], 1e-6, v + " d/d chosen");
      assertEquals((pr[0] - mr[0]) / 2e-6, d[2], 1e-6, v + " d/d rejected");
    }
  }

  @ParameterizedTest
  @EnumSource(PreferenceLoss.DpoVariant.class)
  void dpoVariantGradientIsTheDerivativeOfTheLoss(PreferenceLoss.DpoVariant v) throws IOException {
    Batch b = pairs();
    PreferenceLoss.Settings s = new PreferenceLoss.Settings(PreferenceLoss.Type.DPO, 0.5, 0, 0.2, v,
        v == PreferenceLoss.DpoVariant.SIGMOID || v == PreferenceLoss.DpoVariant.ROBUST
            || v == PreferenceLoss.DpoVariant.AOT_PAIR ? 0.1 : 0);
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU, DType.F32, CausalLM.Quantization.NONE)) {
      List<Parameter> params = jswift.testing.GradientCheck.zeroAdapter(m);
      jswift.testing.GradientCheck.perturb(params);
      PreferenceLoss.Scored d = score(m, b, s);
      params.forEach(Parameter::zeroGrad);
      m.forwardBackward(b.withSequenceWeights(d.weights()), 1, 1.0);
      Random r = new Random(12);
      PreferenceLoss.Settings fixed = s.frozen();  // BCO's running mean is a constant to the gradient
      for (int trial = 0; trial < 2; trial++)
        jswift.testing.GradientCheck.check(params, r, () -> score(m, b, fixed).loss(), v + " trial " + trial);
    }
  }

  /** TRL's mixed loss (MPO): the weighted sum of its parts, each without NLL, plus the NLL weight times the NLL. */
  @Test
  void aMixIsTheWeightedSumOfItsPartsAndTheNll() {
    double[] logp = {-3.0, -5.0, -8.0, -6.0}, ref = {-3.5, -4.0, -7.0, -7.5};
    int[] tokens = {3, 5, 4, 2};
    long chosen = 3 + 4;
    double nll = (3.0 + 8.0) / chosen;
    PreferenceLoss.Settings sigmoid = new PreferenceLoss.Settings(PreferenceLoss.Type.DPO, 0.5, 0, 0);
    PreferenceLoss.Settings hinge = new PreferenceLoss.Settings(PreferenceLoss.Type.DPO, 0.5, 0, 0,
        PreferenceLoss.DpoVariant.HINGE, 0);
    PreferenceLoss.Mix mix = new PreferenceLoss.Mix(List.of(sigmoid, hinge), new double[] {0.8, 0.2}, 1.3, 0.5);
    PreferenceLoss.Scored a = PreferenceLoss.score(logp, ref, tokens, sigmoid, 2, chosen);
    PreferenceLoss.Scored h = PreferenceLoss.score(logp, ref, tokens, hinge, 2, chosen);
    PreferenceLoss.Scored got = PreferenceLoss.score(logp, ref, tokens, mix, 2, chosen);
    assertEquals(0.8 * a.loss() + 0.2 * h.loss() + 1.3 * nll, got.loss(), 1e-12);
    for (int i = 0; i < 4; i++) {
      double want = 0.8 * a.weights()[i] + 0.2 * h.weights()[i] + (i % 2 == 0 ? 1.3 / chosen : 0);
      assertEquals(want, got.weights()[i], 1e-12, "weight " + i);
    }
    assertEquals(0.8 * a.chosenRewardSum() + 0.2 * h.chosenRewardSum(), got.chosenRewardSum(), 1e-12);
    assertEquals(a.accuracySum(), got.accuracySum(), 0.0);
    // "sft" alone is the chosen answers' NLL, pushing the rejected ones nowhere
    PreferenceLoss.Scored sft = PreferenceLoss.score(logp, null, tokens, new PreferenceLoss.Mix(List.of(), new double[0],
        1.0, 0.5), 2, chosen);
    assertEquals(nll, sft.loss(), 1e-12);
    assertEquals(0.0, sft.weights()[1], 0.0);
    // one part of weight 1 and no NLL is the part itself, bit for bit
    PreferenceLoss.Scored one = PreferenceLoss.score(logp, ref, tokens, PreferenceLoss.Mix.of(hinge), 2, chosen);
    assertEquals(h.loss(), one.loss(), 0.0);
  }

  private static double sig(double x) {
    return 1 / (1 + Math.exp(-x));
  }

  private static double logSig(double x) {
    return Math.log(1 / (1 + Math.exp(-x)));
  }

  private static double odds(double avgLogp) {
    double p = Math.exp(avgLogp);
    return Math.log(p / (1 - p));
  }

  @ParameterizedTest
  @EnumSource(PreferenceLoss.Type.class)
  void gradientIsTheDerivativeOfTheLoss(PreferenceLoss.Type type) throws IOException {
    Batch b = pairs();
    PreferenceLoss.Settings s = settings(type);
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU, DType.F32, CausalLM.Quantization.NONE)) {
      List<Parameter> params = jswift.testing.GradientCheck.zeroAdapter(m);
      if (type == PreferenceLoss.Type.DPO)
        assertEquals(Math.log(2), score(m, b, new PreferenceLoss.Settings(type, s.beta(), 0, 0)).loss(), 1e-12,
            "with B = 0 the policy is the reference: z = 0");
      jswift.testing.GradientCheck.perturb(params);
      PreferenceLoss.Scored d = score(m, b, s);
      params.forEach(Parameter::zeroGrad);
      m.forwardBackward(b.withSequenceWeights(d.weights()), 1, 1.0);
      Random r = new Random(11);
      for (int trial = 0; trial < 3; trial++)
        jswift.testing.GradientCheck.check(params, r, () -> score(m, b, s).loss(), type + " trial " + trial);
    }
  }
}
