package jswift.train;

/**
 * PPO's arithmetic for language models as TRL's PPOTrainer computes it (the trainer ms-swift's {@code --rlhf_type ppo}
 * runs; Huang et al., "The N implementation details of RLHF with PPO"), on one rollout of N sampled responses:
 * <ul>
 *   <li>positions t = 0 .. G-1 of the rollout's responses, G its longest; response i has L_i tokens (its stop token
 *       included), so its last real position is s_i = L_i - 1; the policy's terms cover t <= s_i, the value's
 *       t <= s_i + 1 (the position after the last token, whose value is read from the last token's hidden state);
 *   <li>per-token rewards: -kl_coef (logp_t - ref_t) (the k1 estimate of the KL to the reference), plus the reward
 *       model's score at position s_i + 1 (s_i when that is past G); with {@code whiten_rewards} whitened over the
 *       value's positions (mean kept);
 *   <li>GAE (gamma, lam) with the values V_t (0 past s_i + 1) backwards from G - 1: delta_t = r_t + gamma V_{t+1} -
 *       V_t, A_t = delta_t + gamma lam A_{t+1}; returns R_t = A_t + V_t; the advantages whitened over every policy
 *       position of the rollout (unbiased variance, + 1e-8) and 0 elsewhere;
 *   <li>per micro-batch: the policy loss, the mean over its policy positions of max(-A r, -A clip(r, 1 - c, 1 + c))
 *       (r = exp(logp - logp_old)); the value loss, 0.5 times the mean over its value positions of max((V' - R)^2,
 *       (clip(V', V - cv, V + cv) - R)^2) for the new values V'; loss = policy + vf_coef value.
 * </ul>
 */
final class PpoLoss {
  private PpoLoss() {}

  /** ms-swift's PPO flags (TRL's PPOConfig names and defaults). */
  record Settings(double klCoef, double cliprange, double vfCoef, double cliprangeValue, double gamma, double lam,
      boolean whitenRewards, Double missingEosPenalty) {
    static Settings defaults() {
      return new Settings(0.05, 0.2, 0.1, 0.2, 1.0, 0.95, false, null);
    }
  }

  /**
   * One sampled response: its length L (stop token included), the sampling policy's and the reference's
   * log-probabilities of its tokens [L], the value model's values at positions 0 .. min(L, G - 1) (read before the
   * update) and the reward model's score; {@code stopped} is false when it ran out of tokens (no stop token).
   */
  record Sample(int length, float[] logprobs, float[] refLogprobs, float[] values, double score, boolean stopped) {}

  /** The rollout's per-position arrays [N][G] and its summary numbers. */
  record Rollout(int gen, double[][] advantages, double[][] returns, double[][] values, double[] scores,
      double[] klSum, double[] nonScoreReward) {}

  /** The number of value positions of a response of length L in a rollout of longest response G: min(L + 1, G). */
  static int valuePositions(int length, int gen) {
    return Math.min(length + 1, gen);
  }

  /** Rewards, GAE and whitening for the rollout's samples. */
  static Rollout rollout(java.util.List<Sample> samples, Settings s) {
    int n = samples.size(), gen = 0;
    for (Sample x : samples) {
      if (x.length() < 1) throw new IllegalArgumentException("a PPO response needs at least one token");
      gen = Math.max(gen, x.length());
    }
    double[][] rewards = new double[n][gen], values = new double[n][gen], adv = new double[n][gen],
        ret = new double[n][gen];
    double[] scores = new double[n], klSum = new double[n], nonScore = new double[n];
    for (int i = 0; i < n; i++) {
      Sample x = samples.get(i);
      int vp = valuePositions(x.length(), gen);
      if (x.values().length != vp)
        throw new IllegalArgumentException("response " + i + ": " + x.values().length + " values for " + vp + " positions");
      for (int t = 0; t < vp; t++) values[i][t] = x.values()[t];
      for (int t = 0; t < x.length(); t++) {
        double kl = (double) x.logprobs()[t] - x.refLogprobs()[t];
        rewards[i][t] = -s.klCoef() * kl;
        klSum[i] += kl;
        nonScore[i] += rewards[i][t];
      }
      double score = x.score();
      if (s.missingEosPenalty() != null && !x.stopped()) score -= s.missingEosPenalty();
      scores[i] = score;
      int end = x.length() < gen ? x.length() : x.length() - 1;  // s_i + 1, or s_i past the rollout's end
      rewards[i][end] += score;
    }
    if (s.whitenRewards()) {
      boolean[][] mask = mask(samples, gen, 1);
      whiten(rewards, mask, false);
      for (int i = 0; i < n; i++) for (int t = 0; t < gen; t++) if (!mask[i][t]) rewards[i][t] = 0;
    }
    for (int i = 0; i < n; i++) {
      double last = 0;
      for (int t = gen - 1; t >= 0; t--) {
        double next = t < gen - 1 ? values[i][t + 1] : 0;
        double delta = rewards[i][t] + s.gamma() * next - values[i][t];
        last = delta + s.gamma() * s.lam() * last;
        adv[i][t] = last;
        ret[i][t] = last + values[i][t];
      }
    }
    boolean[][] policy = mask(samples, gen, 0);
    whiten(adv, policy, true);
    for (int i = 0; i < n; i++) for (int t = 0; t < gen; t++) if (!policy[i][t]) adv[i][t] = 0;
    return new Rollout(gen, adv, ret, values, scores, klSum, nonScore);
  }

  /** Positions t <= s_i + extra of each response (extra 0: the policy's, 1: the value's). */
  static boolean[][] mask(java.util.List<Sample> samples, int gen, int extra) {
    boolean[][] m = new boolean[samples.size()][gen];
    for (int i = 0; i < m.length; i++)
      for (int t = 0; t < gen && t <= samples.get(i).length() - 1 + extra; t++) m[i][t] = true;
    return m;
  }

  /** TRL's masked_whiten: (x - mean) / sqrt(var + 1e-8) over the masked entries (unbiased var); mean kept if asked. */
  static void whiten(double[][] x, boolean[][] mask, boolean shiftMean) {
    double sum = 0;
    long count = 0;
    for (int i = 0; i < x.length; i++) for (int t = 0; t < x[i].length; t++) if (mask[i][t]) {
      sum += x[i][t];
      count++;
    }
    if (count < 2) throw new IllegalArgumentException("whitening needs at least two positions, got " + count);
    double mean = sum / count, ss = 0;
    for (int i = 0; i < x.length; i++) for (int t = 0; t < x[i].length; t++) if (mask[i][t])
      ss += (x[i][t] - mean) * (x[i][t] - mean);
    double var = ss / count * count / (count - 1);  // torch's masked_var with Bessel's correction
    double scale = 1 / Math.sqrt(var + 1e-8);
    for (int i = 0; i < x.length; i++)
      for (int t = 0; t < x[i].length; t++) x[i][t] = (x[i][t] - mean) * scale + (shiftMean ? 0 : mean);
  }

  /** The clip of the policy ratio, [1 - c, 1 + c]. */
  static GrpoLoss.Clip clip(Settings s) {
    return new GrpoLoss.Clip(s.cliprange(), s.cliprange());
  }

  /**
   * The value term of one position: its loss contribution (before the 0.5 / count and vf_coef factors) and
   * d/dV' of it: max((V' - R)^2, (clip(V', V - cv, V + cv) - R)^2).
   */
  static double[] valueTerm(double vpred, double oldValue, double ret, double cv) {
    double clipped = Math.max(oldValue - cv, Math.min(oldValue + cv, vpred));
    double l1 = (vpred - ret) * (vpred - ret), l2 = (clipped - ret) * (clipped - ret);
    boolean inside = vpred >= oldValue - cv && vpred <= oldValue + cv;  // clip's derivative is 1 there, else 0
    double g1 = 2 * (vpred - ret), g2 = inside ? 2 * (clipped - ret) : 0;
    // torch.maximum splits the gradient of a tie evenly (inside the clip both terms are the same, either way g1)
    double grad = l1 > l2 ? g1 : l1 < l2 ? g2 : 0.5 * (g1 + g2);
    return new double[] {Math.max(l1, l2), grad, l2 > l1 ? 1 : 0};
  }
}
