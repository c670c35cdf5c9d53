package jswift.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import jswift.model.Batch;
import jswift.model.CausalLM;
import jswift.nn.Parameter;
import jswift.template.Encoded;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.testing.Fixtures;
import org.junit.jupiter.api.Test;

/**
 * KTO: its loss against the paper's formula worked out here, the batch layout of its KL pairs, and its gradient
 * (the weighted cross-entropy backward the trainer runs) against central finite differences of the loss with the
 * reference point z0 held fixed (TRL detaches it), on the tiny Llama fixture.
 */
class KtoLossTest {
  private static double sig(double x) {
    return 1 / (1 + Math.exp(-x));
  }

  @Test
  void lossFollowsItsDefinition() {
    // rows 0..2 (desirable, undesirable, desirable), then their KL twins 3..5
    double[] logp = {-3, -5, -4, -6, -7, -5}, ref = {-3.5, -4.5, -4.2, -6.4, -7.1, -5.4};
    boolean[] desirable = {true, false, true};
    KtoLoss.Settings s = new KtoLoss.Settings(0.5, 1.0, 1.5);
    double z0 = ((-6 + 6.4) + (-7 + 7.1) + (-5 + 5.4)) / 3;
    double expected = (1.0 * (1 - sig(0.5 * (0.5 - z0))) + 1.5 * (1 - sig(0.5 * (z0 - -0.5)))
        + 1.0 * (1 - sig(0.5 * (0.2 - z0)))) / 4;  // a step of 4 rows
    KtoLoss.Scored d = KtoLoss.score(logp, ref, desirable, s, 4);
    assertEquals(z0, d.kl(), 1e-12);
    assertEquals(expected, d.loss(), 1e-12);
    assertEquals(0.5 * 0.5 + 0.5 * 0.2, d.chosenRewardSum(), 1e-12);
    assertEquals(2, d.chosen());
    assertEquals(1, d.rejected());
    assertTrue(d.weights()[0] > 0 && d.weights()[1] < 0, "desirable answers are pushed up, undesirable down");
    // apo_zero_unpaired: the same with no reference point
    KtoLoss.Scored apo = KtoLoss.score(logp, ref, desirable, new KtoLoss.Settings(0.5, 1.0, 1.5, true), 4);
    assertEquals((1 - sig(0.5 * 0.5) + 1.5 * sig(0.5 * -0.5) + 1 - sig(0.5 * 0.2)) / 4, apo.loss(), 1e-12);
    assertEquals(0, apo.kl(), 0);
    double[] above = {-3, -5, -4, -1, -1, -1}, refBelow = {-3, -5, -4, -9, -9, -9};
    assertEquals(8, KtoLoss.score(above, refBelow, desirable, s, 4).kl(), 1e-12);
    assertEquals(0, KtoLoss.score(refBelow, above, desirable, s, 4).kl(), 0, "z0 is clamped at 0");
  }

  @Test
  void klPairsJoinEachPromptWithThePreviousRowsAnswer() {
    int ig = Encoded.IGNORE;
    List<Encoded> rows = List.of(new Encoded(new int[] {1, 2, 10, 11}, new int[] {ig, ig, 10, 11}, null),
        new Encoded(new int[] {3, 20}, new int[] {ig, 20}, null),
        new Encoded(new int[] {4, 5, 6, 30, 31, 32}, new int[] {ig, ig, ig, 30, 31, 32}, null));
    Batch b = SampleStream.ktoBatch(rows, new boolean[] {true, false, true});
    assertEquals(6, b.sequences());
    assertTrue(b.sequenceValue(0) == 1 && b.sequenceValue(1) == 0 && b.sequenceValue(2) == 1);
    // KL twin of row 0: its prompt {1, 2} with row 2's answer {30, 31, 32}; of row 1: {3} + {10, 11}
    assertArrayEquals(new int[] {1, 2, 30, 31, 32}, ids(b, 3));
    assertArrayEquals(new int[] {3, 10, 11}, ids(b, 4));
    assertArrayEquals(new int[] {4, 5, 6, 20}, ids(b, 5));
    assertEquals(3, b.targetCount(3), "only the borrowed answer is scored");
    Batch first = b.firstSequences(3);
    assertEquals(3, first.sequences());
    assertEquals(12, first.tokens());
    assertEquals(0, first.sequenceValue(1));
  }

  private static int[] ids(Batch b, int s) {
    int[] out = new int[b.sequenceEnd(s) - b.sequenceStart(s)];
    for (int t = 0; t < out.length; t++) out[t] = b.id(b.sequenceStart(s) + t);
    return out;
  }

  private static Batch batch() {
    Random r = new Random(3);
    List<Encoded> rows = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      int prompt = 4 + i, answer = 3 + i;
      int[] ids = new int[prompt + answer], labels = new int[ids.length];
      for (int t = 0; t < ids.length; t++) {
        ids[t] = 3 + r.nextInt(500);
        labels[t] = t < prompt ? Encoded.IGNORE : ids[t];
      }
      rows.add(new Encoded(ids, labels, null));
    }
    return SampleStream.ktoBatch(rows, new boolean[] {true, false, true});
  }

  @Test
  void gradientIsTheDerivativeOfTheLossAtAFixedReferencePoint() throws IOException {
    Batch b = batch();
    KtoLoss.Settings s = new KtoLoss.Settings(0.5, 1.0, 1.3);
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU, DType.F32, CausalLM.Quantization.NONE)) {
      List<Parameter> params = jswift.testing.GradientCheck.zeroAdapter(m);
      assertEquals(0.5, KtoLoss.score(m, ReferenceModel.adapterOff(m, "default"), b, s, 3).loss() / ((1.0 + 1.3 + 1.0) / 3), 1e-9,
          "with B = 0 the policy is the reference: every row's loss is 1 - sigmoid(0)");
      jswift.testing.GradientCheck.perturb(params);
      KtoLoss.Scored d = KtoLoss.score(m, ReferenceModel.adapterOff(m, "default"), b, s, 3);
      m.setActiveAdapter(null);
      double[] ref = m.sequenceLogProbs(b);
      m.setActiveAdapter("default");
      double[] atStart = m.sequenceLogProbs(b);
      params.forEach(Parameter::zeroGrad);
      m.forwardBackward(b.firstSequences(3).withSequenceWeights(d.weights()), 1, 1.0);
      Random r = new Random(11);
      for (int trial = 0; trial < 3; trial++)
        jswift.testing.GradientCheck.check(params, r, () -> lossAtFixedZ0(m, b, s, ref, atStart), "trial " + trial);
    }
  }

  /** The loss with the KL twins' log-probabilities kept at their values before any move (z0 fixed). */
  private static double lossAtFixedZ0(CausalLM m, Batch b, KtoLoss.Settings s, double[] ref, double[] atStart) {
    double[] logp = m.sequenceLogProbs(b);
    System.arraycopy(atStart, 3, logp, 3, 3);
    return KtoLoss.score(logp, ref, new boolean[] {true, false, true}, s, 3).loss();
  }
}
