package jswift.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import jswift.model.Batch;
import jswift.model.CausalLM;
import jswift.model.ScoreHead;
import jswift.nn.Parameter;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.testing.Fixtures;
import org.junit.jupiter.api.Test;

/**
 * Reward modelling: the Bradley-Terry loss against its formula, and the whole gradient (score head on the last
 * hidden state, then the model's backward from there) against central finite differences along random directions
 * of the LoRA adapter and the head, on the tiny Llama fixture.
 */
class RewardLossTest {
  @Test
  void lossFollowsItsDefinition() {
    double[] r = {1.0, 0.2, -0.5, 0.3}, margins = {0.5, 0.5, 0, 0};
    RewardLoss.Scored d = RewardLoss.score(r, margins, 0, 2);
    double expected = (-Math.log(1 / (1 + Math.exp(-(0.8 - 0.5)))) - Math.log(1 / (1 + Math.exp(-(-0.8))))) / 2;
    assertEquals(expected, d.loss(), 1e-12);
    assertEquals(1, d.accuracySum(), 0);
    RewardLoss.Scored c = RewardLoss.score(r, margins, 0.01, 2);
    assertEquals(expected + 0.01 * (1.2 * 1.2 + 0.2 * 0.2) / 2, c.loss(), 1e-12, "centering adds c (r_c + r_r)^2");
    for (double[] m : new double[][] {margins, null}) {
      for (int i = 0; i < r.length; i++) {  // dRewards is the loss's derivative
        double[] plus = r.clone(), minus = r.clone();
        plus[i] += 1e-6;
        minus[i] -= 1e-6;
        double numeric = (RewardLoss.score(plus, m, 0.01, 2).loss() - RewardLoss.score(minus, m, 0.01, 2).loss()) / 2e-6;
        assertEquals(numeric, RewardLoss.score(r, m, 0.01, 2).dRewards()[i], 1e-6);
      }
    }
  }

  private static Batch pairs() {
    Random r = new Random(4);
    List<int[]> ids = new ArrayList<>(), labels = new ArrayList<>();
    for (int s = 0; s < 4; s++) {
      int[] seq = new int[5 + s];
      for (int i = 0; i < seq.length; i++) seq[i] = 3 + r.nextInt(500);
      ids.add(seq);
      labels.add(seq.clone());
    }
    return Batch.packed(ids, labels).withSequenceValues(new double[] {0.2, 0.2, 0, 0});
  }

  @Test
  void gradientIsTheDerivativeOfTheLoss() throws IOException {
    Batch b = pairs();
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU, DType.F32, CausalLM.Quantization.NONE);
        ScoreHead head = ScoreHead.create(m.config().hiddenSize(), 5, Device.CPU, ScoreHead.ADAPTER_KEY)) {
      List<Parameter> params = jswift.testing.GradientCheck.zeroAdapter(m);
      jswift.testing.GradientCheck.perturb(params);
      head.weight().setTrainable(true);
      params.add(head.weight());
      params.forEach(p -> p.setTrainable(true));
      params.forEach(Parameter::zeroGrad);
      double[] margins = {0.2, 0.2, 0, 0};
      m.forwardBackwardLastHidden(b, 1, h -> head.backward(h, RewardLoss.score(head.scores(h), margins, 0.05, 2).dRewards()));
      Random r = new Random(8);
      // along all parameters, the head alone, the adapter alone
      for (List<Parameter> along : List.of(params, params.subList(params.size() - 1, params.size()),
          params.subList(0, params.size() - 1)))
        jswift.testing.GradientCheck.check(along, r, () -> RewardLoss.score(head.scores(m.lastHiddenStates(b)),
            margins, 0.05, 2).loss(), along.size() + " parameters");
    }
  }
}
