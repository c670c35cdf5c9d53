package jswift.train;

import jswift.model.Batch;
import jswift.model.CausalLM;

/**
 * Direct Preference Optimization (Rafailov et al. 2023; TRL's and ms-swift's default {@code loss_type sigmoid}):
 * for a pair of answers to one prompt, z = beta ((log pi(chosen) - log ref(chosen)) - (log pi(rejected) -
 * log ref(rejected))) and the loss is -log sigmoid(z), where log pi(answer) sums the answer tokens'
 * log-probabilities under the model being trained and ref is the same model with its LoRA adapter switched off
 * (PEFT's reference for adapters: no second copy of the weights).
 *
 * <p>The gradient needs no new kernel: d(-log sigmoid(z)) / d log pi(chosen) = -beta sigmoid(-z), and log pi(answer)
 * is minus the summed cross-entropy of its tokens, so the step is the ordinary weighted cross-entropy backward with
 * weight +beta sigmoid(-z) on the chosen answer's tokens and -beta sigmoid(-z) on the rejected one's. z is computed
 * first by two forward passes (reference and policy, without dropout).
 */
final class Dpo {
  private Dpo() {}

  /**
   * A micro-batch's pairs scored: the summed loss, each sequence's cross-entropy weight for the backward, and
   * TRL's reward metrics (rewards are beta times the log-ratio to the reference), summed over the pairs.
   */
  record Scored(int pairs, double lossSum, double[] weights, double chosenRewardSum, double rejectedRewardSum,
      double accuracySum) {}

  /**
   * Scores a batch of pairs (sequence 2i the chosen answer, 2i + 1 the rejected one); the model's adapter
   * {@code adapter} is active again afterwards.
   */
  static Scored score(CausalLM model, Batch b, double beta, String adapter) {
    if (b.sequences() % 2 != 0) throw new IllegalStateException("a preference batch holds pairs, got " + b.sequences());
    double[] ref;
    model.setActiveAdapter(null);
    try {
      ref = model.sequenceLogProbs(b);
    } finally {
      model.setActiveAdapter(adapter);
    }
    double[] policy = model.sequenceLogProbs(b);
    int pairs = b.sequences() / 2;
    double[] weights = new double[b.sequences()];
    double loss = 0, chosen = 0, rejected = 0, accurate = 0;
    for (int i = 0; i < pairs; i++) {
      double rc = beta * (policy[2 * i] - ref[2 * i]), rr = beta * (policy[2 * i + 1] - ref[2 * i + 1]), z = rc - rr;
      loss += softplus(-z);
      double g = beta * sigmoid(-z);
      weights[2 * i] = g;
      weights[2 * i + 1] = -g;
      chosen += rc;
      rejected += rr;
      accurate += rc > rr ? 1 : 0;
    }
    return new Scored(pairs, loss, weights, chosen, rejected, accurate);
  }

  /** log(1 + e^x) without overflow. */
  static double softplus(double x) {
    return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
  }

  static double sigmoid(double x) {
    return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
  }
}
