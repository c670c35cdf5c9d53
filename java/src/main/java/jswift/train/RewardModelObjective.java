package jswift.train;

import java.util.List;
import jswift.model.Batch;
import jswift.model.CausalLM;
import jswift.model.ScoreHead;

/** Reward modelling on preference pairs ({@link RewardLoss}): the score head reads each answer's last hidden state. */
final class RewardModelObjective implements Objective {
  private final CausalLM model;
  private final ScoreHead head;
  private final double center;

  /** {@code head} is trained (it is one of the run's parameters) and closed with this objective. */
  RewardModelObjective(CausalLM model, ScoreHead head, double centerRewardsCoefficient) {
    this.model = model;
    this.head = head;
    this.center = centerRewardsCoefficient;
  }

  @Override
  public String describe() {
    return "rlhf (rm)";
  }

  @Override
  public SampleStream.Layout layout() {
    return SampleStream.Layout.PAIRS;
  }

  @Override
  public double normalizer(List<Batch> micro) {
    return PreferenceObjective.pairs(micro);
  }

  @Override
  public double microStep(List<Batch> micro, int i, long seed, double normalizer, TrainingLog log) {
    Batch b = micro.get(i);
    RewardLoss.Scored[] scored = new RewardLoss.Scored[1];
    model.forwardBackwardLastHidden(b, seed, h -> {
      scored[0] = RewardLoss.score(head.scores(h), margins(b), center, (int) normalizer);
      return head.backward(h, scored[0].dRewards());
    });
    RewardLoss.Scored d = scored[0];
    PreferenceObjective.logRewards(log, "", d.pairs(), d.chosenRewardSum(), d.rejectedRewardSum(), d.accuracySum());
    return d.loss();
  }

  /** Each sequence's margin (its pair's margin column) in a batch of pairs. */
  private static double[] margins(Batch b) {
    double[] m = new double[b.sequences()];
    for (int s = 0; s < m.length; s++) m[s] = b.sequenceValue(s);
    return m;
  }

  @Override
  public Evaluation evaluation() {
    return new PreferenceObjective.PairsEvaluation() {
      @Override
      public void add(Batch b) {
        RewardLoss.Scored d = RewardLoss.score(head.scores(model.lastHiddenStates(b)), margins(b), center,
            b.sequences() / 2);
        add(d.pairs(), d.loss(), d.accuracySum(), d.chosenRewardSum() - d.rejectedRewardSum());
      }
    };
  }

  @Override
  public void close() {
    head.close();
  }
}
