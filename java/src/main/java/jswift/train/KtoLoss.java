package jswift.train;

import jswift.model.Batch;
import jswift.model.CausalLM;

/**
 * KTO (Ethayarajh et al. 2024), as TRL's KTOTrainer computes it (loss_type kto) and ms-swift runs it, on unpaired
 * answers labelled desirable or undesirable. With r(y) = log pi(y) - log ref(y) ({@link ReferenceModel}: the model
 * with its LoRA adapter switched off, or a separate copy) and z0 = max(0, mean over the batch's mismatched prompt/answer pairs of r), a reference point that
 * carries no gradient:
 * <ul>
 *   <li>a desirable answer's loss is w_d (1 - sigmoid(beta (r(y) - z0))),
 *   <li>an undesirable one's w_u (1 - sigmoid(beta (z0 - r(y)))),
 * </ul>
 * averaged over the step's rows ({@code --desirable_weight} w_d and {@code --undesirable_weight} w_u, 1.0 each).
 * {@code --loss_type apo_zero_unpaired} (TRL's) drops the reference point: w_d (1 - sigmoid(beta r(y))) and w_u
 * sigmoid(beta r(y)).
 * As with {@link PreferenceLoss}, the gradient is the cross-entropy backward with one weight per answer,
 * -dL/d log pi(y); the log-probabilities come from forward passes without dropout.
 */
final class KtoLoss {
  /** beta, the two class weights, and whether the loss is apo_zero_unpaired (no reference point) instead of kto. */
  record Settings(double beta, double desirableWeight, double undesirableWeight, boolean apoZeroUnpaired) {
    Settings(double beta, double desirableWeight, double undesirableWeight) {
      this(beta, desirableWeight, undesirableWeight, false);
    }
  }

  /**
   * A micro-batch scored: its part of the step's loss, the cross-entropy weight of each of its rows' answers (the
   * first half of the batch's sequences, normalised over the step's rows), summed rewards (beta r(y)) and counts of
   * each class, and the batch's KL estimate z0.
   */
  record Scored(int rows, double loss, double[] weights, double chosenRewardSum, int chosen, double rejectedRewardSum,
      int rejected, double kl) {}

  private KtoLoss() {}

  /** Scores a KTO batch ({@link SampleStream.Layout#KTO}) for a step of {@code stepRows} rows. */
  static Scored score(CausalLM model, ReferenceModel reference, Batch b, Settings s, int stepRows) {
    double[] ref = reference.sequenceLogProbs(b);
    int n = b.sequences() / 2;
    boolean[] desirable = new boolean[n];
    for (int i = 0; i < n; i++) desirable[i] = b.sequenceValue(i) == 1;
    return score(model.sequenceLogProbs(b), ref, desirable, s, stepRows);
  }

  /** The arithmetic of {@link #score(CausalLM, ReferenceModel, Batch, Settings, int)}: logp and ref over all 2n sequences. */
  static Scored score(double[] logp, double[] ref, boolean[] desirable, Settings s, int stepRows) {
    int n = desirable.length;
    double kl = 0;
    for (int i = n; i < 2 * n; i++) kl += logp[i] - ref[i];
    kl = s.apoZeroUnpaired() ? 0 : Math.max(0, kl / n);
    double loss = 0, chosenReward = 0, rejectedReward = 0, beta = s.beta();
    int chosen = 0, rejected = 0;
    double[] weights = new double[n];
    for (int i = 0; i < n; i++) {
      double r = logp[i] - ref[i];
      if (desirable[i]) {
        double z = beta * (r - kl);
        loss += s.desirableWeight() * (1 - PreferenceLoss.sigmoid(z)) / stepRows;
        // d/dr of 1 - sigmoid(beta (r - z0)) = -beta sigmoid(z) sigmoid(-z); the CE weight is -dL/dr
        weights[i] = s.desirableWeight() * beta * PreferenceLoss.sigmoid(z) * PreferenceLoss.sigmoid(-z) / stepRows;
        chosenReward += beta * r;
        chosen++;
      } else {
        double z = beta * (kl - r);
        loss += s.undesirableWeight() * (1 - PreferenceLoss.sigmoid(z)) / stepRows;
        weights[i] = -s.undesirableWeight() * beta * PreferenceLoss.sigmoid(z) * PreferenceLoss.sigmoid(-z) / stepRows;
        rejectedReward += beta * r;
        rejected++;
      }
    }
    return new Scored(n, loss, weights, chosenReward, chosen, rejectedReward, rejected, kl);
  }
}
