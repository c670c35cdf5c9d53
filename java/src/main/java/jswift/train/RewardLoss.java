package jswift.train;

/**
 * Reward modelling (TRL's RewardTrainer, ms-swift's {@code --rlhf_type rm}): a scalar head scores each answer of a
 * preference pair, and the Bradley-Terry loss -log sigmoid(r(chosen) - r(rejected) - margin) teaches it to rank them
 * (the row's {@code margin} column, 0 when absent), plus {@code --center_rewards_coefficient} c times
 * (r(chosen) + r(rejected))^2, which keeps the rewards centred on 0 (Eisenstein et al. 2023). Averaged over the
 * step's pairs.
 */
final class RewardLoss {
  private RewardLoss() {}

  /**
   * A micro-batch of pairs scored: its part of the step's loss, dLoss/d(reward) of each sequence (sequence 2i the
   * chosen answer, 2i + 1 the rejected one), and the summed rewards and ranking accuracy.
   */
  record Scored(int pairs, double loss, double[] dRewards, double chosenRewardSum, double rejectedRewardSum,
      double accuracySum) {}

  static Scored score(double[] rewards, double[] margins, double center, int stepPairs) {
    int pairs = rewards.length / 2;
    double[] d = new double[rewards.length];
    double loss = 0, chosen = 0, rejected = 0, accurate = 0;
    for (int i = 0; i < pairs; i++) {
      int c = 2 * i, r = 2 * i + 1;
      double z = rewards[c] - rewards[r] - (margins == null ? 0 : margins[c]);
      loss -= PreferenceLoss.logSigmoid(z) / stepPairs;
      double g = -PreferenceLoss.sigmoid(-z) / stepPairs;  // d(-log sigmoid(z))/dz
      d[c] += g;
      d[r] -= g;
      if (center > 0) {
        double sum = rewards[c] + rewards[r];
        loss += center * sum * sum / stepPairs;
        d[c] += 2 * center * sum / stepPairs;
        d[r] += 2 * center * sum / stepPairs;
      }
      chosen += rewards[c];
      rejected += rewards[r];
      if (rewards[c] > rewards[r]) accurate++;
    }
    return new Scored(pairs, loss, d, chosen, rejected, accurate);
  }
}
