package jswift.train;

import java.util.Locale;

/**
 * GRPO's arithmetic (Shao et al. 2024, DeepSeekMath; TRL's GRPOTrainer, which ms-swift runs):
 * <ul>
 *   <li>advantages: each completion's reward minus the mean of its group (the completions of one prompt), divided by
 *       the group's standard deviation (unbiased, + 1e-4) unless {@code --scale_rewards false};
 *   <li>per token t of completion i: -min(ratio_t A_i, clip(ratio_t, 1 - eps, 1 + eps_high) A_i) + beta KL_t, with
 *       ratio_t = pi(t) / pi_old(t), pi_old the policy that sampled the completions (with {@code num_iterations 1},
 *       ms-swift's default, the policy itself: ratio 1, and the clipping never bites; with more, each generation
 *       trains num_iterations steps and the ratio drifts) and KL_t = exp(ref_t - logp_t) - (ref_t - logp_t) - 1 (Schulman's k3 estimator, >= 0), ref being the
 *       {@link ReferenceModel} (the base without the adapter, or a separate copy);
 *   <li>the step's loss: those terms summed with a weight s_i per completion: {@code grpo} 1 / (N |o_i|) (each
 *       completion's token mean, then the mean over the step's N completions), {@code bnpo} 1 / (total completion
 *       tokens), {@code dr_grpo} 1 / (N max_completion_length).
 * </ul>
 * The gradient needs no new kernel: dL/d logp_t = s_i (-ratio_t A_i [where unclipped] + beta (1 - exp(ref_t -
 * logp_t))), so it is the ordinary cross-entropy backward (CE_t = -logp_t) with the per-token weight
 * {@link #tokenWeight}.
 */
final class GrpoLoss {
  private GrpoLoss() {}

  /** How the per-token terms are averaged into the step's loss ({@code --loss_type}). */
  enum Normalization {
    GRPO, BNPO, DR_GRPO;

    static Normalization parse(String name) {
      for (Normalization n : values()) if (n.name().toLowerCase(Locale.ROOT).equals(name)) return n;
      throw new IllegalArgumentException("--loss_type " + name + " is not a GRPO loss type (grpo, bnpo or dr_grpo)");
    }
  }

  /** The advantages and each group's reward standard deviation. */
  record Advantages(double[] advantage, double[] groupStd) {}

  /**
   * The advantages of {@code rewards}, in groups of {@code groupSize} consecutive completions (one prompt's).
   * A group whose rewards are all equal has advantages 0: it teaches nothing (TRL's frac_reward_zero_std).
   */
  static Advantages advantages(double[] rewards, int groupSize, boolean scaleRewards) {
    if (groupSize < 1 || rewards.length % groupSize != 0)
      throw new IllegalArgumentException(rewards.length + " rewards do not form groups of " + groupSize);
    double[] a = new double[rewards.length], std = new double[rewards.length / groupSize];
    for (int g = 0; g < std.length; g++) {
      int from = g * groupSize;
      double mean = 0;
      for (int i = 0; i < groupSize; i++) mean += rewards[from + i];
      mean /= groupSize;
      double ss = 0;
      for (int i = 0; i < groupSize; i++) ss += (rewards[from + i] - mean) * (rewards[from + i] - mean);
      std[g] = groupSize > 1 ? Math.sqrt(ss / (groupSize - 1)) : 0;  // torch.std: unbiased
      for (int i = 0; i < groupSize; i++)
        a[from + i] = (rewards[from + i] - mean) / (scaleRewards ? std[g] + 1e-4 : 1);
    }
    return new Advantages(a, std);
  }

  /**
   * The weight s_i of each completion's per-token terms in the step's loss; {@code tokens[i]} is |o_i|,
   * {@code maxCompletionLength} is dr_grpo's constant.
   */
  static double[] completionWeights(int[] tokens, Normalization n, int maxCompletionLength) {
    double[] s = new double[tokens.length];
    long total = 0;
    for (int t : tokens) total += t;
    for (int i = 0; i < s.length; i++) {
      if (tokens[i] == 0) continue;
      s[i] = switch (n) {
        case GRPO -> 1.0 / ((double) tokens.length * tokens[i]);
        case BNPO -> 1.0 / total;
        case DR_GRPO -> 1.0 / ((double) tokens.length * maxCompletionLength);
      };
    }
    return s;
  }

  /** k3: exp(ref - logp) - (ref - logp) - 1, an unbiased, non-negative estimate of KL(pi || ref). */
  static double kl(double logp, double ref) {
    double d = ref - logp;
    return Math.expm1(d) - d;
  }

  /** PPO's clip range: ratios outside [1 - low, 1 + high] stop pulling (TRL's epsilon and epsilon_high). */
  record Clip(double low, double high) {
    /** Whether the ratio's term is the clipped one, whose gradient is 0: A > 0 above 1 + high, A < 0 below 1 - low. */
    boolean clipped(double ratio, double advantage) {
      return advantage > 0 ? ratio > 1 + high : advantage < 0 && ratio < 1 - low;
    }
  }

  /** The loss term of one token at ratio 1 (one update per generation): s (-A + beta KL). */
  static double tokenLoss(double s, double advantage, double beta, double logp, double ref) {
    return tokenLoss(s, advantage, beta, logp, ref, 1, null);
  }

  /** The loss term of one token: s (-min(ratio A, clip(ratio) A) + beta KL); clip may be null at ratio 1. */
  static double tokenLoss(double s, double advantage, double beta, double logp, double ref, double ratio, Clip clip) {
    double surrogate = ratio * advantage;
    if (clip != null) surrogate = Math.min(surrogate, Math.max(1 - clip.low(), Math.min(1 + clip.high(), ratio)) * advantage);
    return s * (-surrogate + (beta == 0 ? 0 : beta * kl(logp, ref)));
  }

  /** The cross-entropy weight of one token at ratio 1: -dL/d logp = s (A - beta (1 - exp(ref - logp))). */
  static double tokenWeight(double s, double advantage, double beta, double logp, double ref) {
    return tokenWeight(s, advantage, beta, logp, ref, 1, null);
  }

  /**
   * The cross-entropy weight of one token: -dL/d logp = s (ratio A [0 where clipped] - beta (1 - exp(ref - logp)))
   * (d ratio / d logp = ratio).
   */
  static double tokenWeight(double s, double advantage, double beta, double logp, double ref, double ratio, Clip clip) {
    double pg = clip != null && clip.clipped(ratio, advantage) ? 0 : ratio * advantage;
    return s * (pg + (beta == 0 ? 0 : beta * Math.expm1(ref - logp)));
  }
}
