package jswift.train;

import java.io.IOException;
import java.util.List;
import jswift.model.Batch;
import jswift.model.CausalLM;

/** DPO, CPO, SimPO and ORPO on preference pairs ({@link PreferenceLoss}), logged as TRL logs them. */
final class PreferenceObjective implements Objective {
  private final CausalLM model;
  private final ReferenceModel reference;  // DPO's; null for the reference-free losses
  private final PreferenceLoss.Mix settings;

  PreferenceObjective(CausalLM model, ReferenceModel reference, PreferenceLoss.Mix settings) {
    this.model = model;
    this.reference = reference;
    this.settings = settings;
  }

  @Override
  public String describe() {
    return "rlhf (" + settings.type().name().toLowerCase(java.util.Locale.ROOT) + ", beta " + settings.beta()
        + (settings.single() ? "" : ", " + settings.parts().stream().map(p -> p.variant().name().toLowerCase(
            java.util.Locale.ROOT)).toList() + " x " + java.util.Arrays.toString(settings.weights()) + " + NLL x "
            + settings.nllWeight()) + ")";
  }

  @Override
  public SampleStream.Layout layout() {
    return SampleStream.Layout.PAIRS;
  }

  @Override
  public double normalizer(List<Batch> micro) {
    return pairs(micro);
  }

  static int pairs(List<Batch> micro) {
    int n = 0;
    for (Batch b : micro) n += b.sequences() / 2;
    return n;
  }

  @Override
  public double microStep(List<Batch> micro, int i, long seed, double normalizer, TrainingLog log) {
    Batch b = micro.get(i);
    PreferenceLoss.Scored d = PreferenceLoss.score(model, reference, b, settings, (int) normalizer,
        PreferenceLoss.chosenTokens(micro));
    model.forwardBackward(b.withSequenceWeights(d.weights()), seed, 1.0);  // the weights are normalised
    logRewards(log, "", d.pairs(), d.chosenRewardSum(), d.rejectedRewardSum(), d.accuracySum());
    return d.loss();
  }

  private static final String BCO_MEAN = "bco.running_mean";

  /** bco_pair: the running mean of the rewards and its count (f64), so that a resumed run goes on from them. */
  @Override
  public List<jswift.model.TensorSource> state() {
    PreferenceLoss.RunningMean m = settings.bcoMean();
    if (m == null) return List.of();
    java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(16).order(java.nio.ByteOrder.LITTLE_ENDIAN);
    b.putDouble(m.mean()).putDouble(m.count());
    return List.of(jswift.model.TensorSource.of(BCO_MEAN, jswift.model.SafetensorsDtype.F64, new long[] {2},
        b.array()));
  }

  @Override
  public void restore(jswift.model.SafetensorsFile f) throws java.io.IOException {
    PreferenceLoss.RunningMean m = settings.bcoMean();
    if (m == null) return;
    if (!f.contains(BCO_MEAN))
      throw new java.io.IOException(f.path() + " has no " + BCO_MEAN + ": it was not saved by a bco_pair run");
    java.nio.ByteBuffer b = f.bytes(BCO_MEAN).duplicate().order(java.nio.ByteOrder.LITTLE_ENDIAN);
    m.restore(b.getDouble(0), b.getDouble(8));
  }

  /** TRL's reward metrics of a batch of pairs. */
  static void logRewards(TrainingLog log, String prefix, int pairs, double chosen, double rejected, double accurate) {
    log.metric(prefix + "rewards/chosen", chosen / pairs);
    log.metric(prefix + "rewards/rejected", rejected / pairs);
    log.metric(prefix + "rewards/accuracies", accurate / pairs);
    log.metric(prefix + "rewards/margins", (chosen - rejected) / pairs);
  }

  @Override
  public Evaluation evaluation() {
    return new PairsEvaluation() {
      @Override
      public void add(Batch b) {  // each batch scored as a step of its own (its pairs, its chosen tokens)
        PreferenceLoss.Scored d = PreferenceLoss.score(model, reference, b, settings.frozen(), b.sequences() / 2,
            PreferenceLoss.chosenTokens(List.of(b)));
        add(d.pairs(), d.loss(), d.accuracySum(), d.chosenRewardSum() - d.rejectedRewardSum());
      }
    };
  }

  /** The evaluation of a pairwise loss: its loss, reward accuracy and margin over the pairs. */
  abstract static class PairsEvaluation implements Evaluation {
    private double loss, accurate, margins;
    private int pairs;

    /** A batch of {@code n} pairs: its mean loss, and its summed accuracy and margins. */
    void add(int n, double meanLoss, double accuracySum, double marginSum) {
      loss += meanLoss * n;
      accurate += accuracySum;
      margins += marginSum;
      pairs += n;
    }

    @Override
    public void report(long step, TrainingLog log) throws IOException {
      if (pairs > 0) log.evalPreference(step, loss / pairs, accurate / pairs, margins / pairs);
    }
  }
}
