package jswift.train;

import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import jswift.model.Batch;
import jswift.model.CausalLM;

/** KTO on answers labelled desirable or not ({@link KtoLoss}), logged as TRL logs it. */
final class KtoObjective implements Objective {
  private final CausalLM model;
  private final ReferenceModel reference;
  private final KtoLoss.Settings settings;

  KtoObjective(CausalLM model, ReferenceModel reference, KtoLoss.Settings settings) {
    this.model = model;
    this.reference = reference;
    this.settings = settings;
  }

  @Override
  public String describe() {
    return "rlhf (kto, beta " + settings.beta() + ")";
  }

  @Override
  public SampleStream.Layout layout() {
    return SampleStream.Layout.KTO;
  }

  @Override
  public double normalizer(List<Batch> micro) {
    return PreferenceObjective.pairs(micro);  // the rows, each with its KL twin
  }

  @Override
  public double microStep(List<Batch> micro, int i, long seed, double normalizer, TrainingLog log) {
    Batch b = micro.get(i);
    KtoLoss.Scored d = KtoLoss.score(model, reference, b, settings, (int) normalizer);
    // only the rows' own answers train; their KL twins were read for the reference point z0
    model.forwardBackward(b.firstSequences(d.rows()).withSequenceWeights(d.weights()), seed, 1.0);
    if (d.chosen() > 0) log.metric("rewards/chosen", d.chosenRewardSum() / d.chosen());
    if (d.rejected() > 0) log.metric("rewards/rejected", d.rejectedRewardSum() / d.rejected());
    if (d.chosen() > 0 && d.rejected() > 0)
      log.metric("rewards/margins", d.chosenRewardSum() / d.chosen() - d.rejectedRewardSum() / d.rejected());
    log.metric("kl", d.kl());
    return d.loss();
  }

  @Override
  public Evaluation evaluation() {
    return new Evaluation() {
      private double loss, chosenReward, rejectedReward;
      private int rows, chosen, rejected;

      @Override
      public void add(Batch b) {  // each batch a step of its own; its KL estimate from its own rows, as in training
        KtoLoss.Scored d = KtoLoss.score(model, reference, b, settings, b.sequences() / 2);
        loss += d.loss() * d.rows();
        rows += d.rows();
        chosenReward += d.chosenRewardSum();
        chosen += d.chosen();
        rejectedReward += d.rejectedRewardSum();
        rejected += d.rejected();
      }

      @Override
      public void report(long step, TrainingLog log) throws IOException {
        if (rows == 0) return;
        Map<String, Double> m = new LinkedHashMap<>();
        m.put("eval_loss", loss / rows);
        if (chosen > 0) m.put("eval_rewards/chosen", chosenReward / chosen);
        if (rejected > 0) m.put("eval_rewards/rejected", rejectedReward / rejected);
        log.evalMetrics(step, m);
      }
    };
  }
}
