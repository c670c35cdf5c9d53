package jswift.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import jswift.model.Batch;
import jswift.model.CausalLM;
import jswift.nn.Parameter;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.testing.Fixtures;
import jswift.tuner.LoraConfig;
import jswift.tuner.LoraTuner;
import org.junit.jupiter.api.Test;

/**
 * DPO's loss and its gradient on the tiny Llama fixture with a LoRA adapter: the loss is -log sigmoid of beta times
 * the difference of the answers' log-ratios to the adapter-free reference, computed here from the model's own
 * sequence log-probabilities; the gradient (a weighted cross-entropy backward) is the loss's derivative, checked
 * against central finite differences along random directions of the adapter's weights.
 */
class DpoTest {
  private static final double BETA = 0.5;

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

  private static double loss(CausalLM m, Batch b) {
    Dpo.Scored d = Dpo.score(m, b, BETA, "default");
    return d.lossSum() / d.pairs();
  }

  @Test
  void lossIsTheLogSigmoidOfTheRewardMarginAndItsGradientIsItsDerivative() throws IOException {
    Batch b = pairs();
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU, DType.F32, CausalLM.Quantization.NONE)) {
      List<Parameter> params = LoraTuner.apply(m, "default",
          LoraConfig.defaults().withTargetModules(List.of("all-linear")).withLoraDropout(0), 3);
      params.forEach(p -> p.setTrainable(true));
      assertEquals(Math.log(2), loss(m, b), 1e-12, "with B = 0 the policy is the reference: z = 0");
      for (Parameter p : params)
        if (p.name().contains("lora_B")) p.value().copyFrom(jswift.testing.Rand.normal(p.value().numel(), p.name().hashCode(), 0.05f));
      // The loss from its definition, with the sequences' log-probabilities under the adapter and without it.
      m.setActiveAdapter(null);
      double[] ref = m.sequenceLogProbs(b);
      m.setActiveAdapter("default");
      double[] pol = m.sequenceLogProbs(b);
      double want = 0;
      for (int i = 0; i < 2; i++) {
        double z = BETA * ((pol[2 * i] - ref[2 * i]) - (pol[2 * i + 1] - ref[2 * i + 1]));
        want += -Math.log(1 / (1 + Math.exp(-z))) / 2;
      }
      double l0 = loss(m, b);
      assertEquals(want, l0, 1e-12);
      assertTrue(Math.abs(l0 - Math.log(2)) > 1e-3, "the adapter moved the policy away from the reference: " + l0);
      // The gradient: the weighted cross-entropy backward the trainer runs.
      Dpo.Scored d = Dpo.score(m, b, BETA, "default");
      params.forEach(Parameter::zeroGrad);
      m.forwardBackward(b.withSequenceWeights(d.weights()), 1, d.pairs());
      Random r = new Random(11);
      for (int trial = 0; trial < 3; trial++) {
        Map<Parameter, float[]> direction = new java.util.LinkedHashMap<>();
        double analytic = 0;
        for (Parameter p : params) {
          float[] v = new float[(int) p.value().numel()], g = p.grad().toFloatArray();
          for (int i = 0; i < v.length; i++) {
            v[i] = (float) r.nextGaussian();
            analytic += (double) g[i] * v[i];
          }
          direction.put(p, v);
        }
        double eps = 1e-3, plus = shifted(m, b, direction, eps), minus = shifted(m, b, direction, -eps);
        double numeric = (plus - minus) / (2 * eps);
        assertEquals(numeric, analytic, 0.02 * Math.abs(numeric) + 1e-5, "trial " + trial);
      }
    }
  }

  /** The loss with every adapter weight moved by eps times its direction (then moved back). */
  private static double shifted(CausalLM m, Batch b, Map<Parameter, float[]> direction, double eps) {
    Map<Parameter, float[]> saved = new java.util.HashMap<>();
    for (Map.Entry<Parameter, float[]> e : direction.entrySet()) {
      float[] w = e.getKey().value().toFloatArray();
      saved.put(e.getKey(), w.clone());
      for (int i = 0; i < w.length; i++) w[i] += (float) (eps * e.getValue()[i]);
      e.getKey().value().copyFrom(w);
    }
    double l = loss(m, b);
    saved.forEach((p, w) -> p.value().copyFrom(w));
    return l;
  }
}
