package jswift.train;

import java.util.Locale;
import jswift.model.Batch;
import jswift.model.CausalLM;

/**
 * The preference losses of {@code jswift rlhf}, each over pairs of answers to one prompt (sequence 2i the chosen
 * answer, 2i + 1 the rejected one), as TRL defines them and ms-swift runs them:
 * <ul>
 *   <li>DPO (Rafailov et al. 2023): -log sigmoid(z), z = beta ((log pi(c) - log ref(c)) - (log pi(r) - log ref(r))),
 *       the reference being the model with its LoRA adapter switched off (PEFT's reference for adapters) or, for
 *       full training, a separate copy ({@link ReferenceModel}); with
 *       {@code --rpo_alpha} a (RPO, Pang et al. 2024) plus a NLL(c), as TRL adds it;
 *   <li>CPO (Xu et al. 2024): -log sigmoid(beta (log pi(c) - log pi(r))) + alpha NLL(c), no reference;
 *   <li>SimPO (Meng et al. 2024): -log sigmoid(beta (avg log pi(c) - avg log pi(r)) - gamma) + alpha NLL(c), with
 *       per-token averages (TRL's CPO trainer with loss_type simpo, ms-swift's cpo_alpha);
 *   <li>ORPO (Hong et al. 2024): NLL(c) - beta log sigmoid(log odds(c) - log odds(r)), log odds(y) = avg log pi(y)
 *       - log(1 - exp(avg log pi(y))).
 * </ul>
 * NLL(c) is the mean cross-entropy over the step's chosen-answer tokens; a pair's term is averaged over the step's
 * pairs.
 *
 * <p>No new kernel: every loss is a function of the answers' summed log-probabilities log pi(y) = -sum CE(y), so its
 * gradient is the ordinary cross-entropy backward with one weight per answer, -dL/d log pi(y) (negative for a
 * rejected answer, which is pushed down). The log-probabilities are computed first by forward passes without dropout
 * (and, for DPO, one without the adapter), then the weights, then one weighted backward.
 */
final class PreferenceLoss {
  /** The preference losses implemented. */
  enum Type {
    DPO, CPO, SIMPO, ORPO;

    static Type parse(String name) {
      for (Type t : values()) if (t.name().toLowerCase(Locale.ROOT).equals(name)) return t;
      throw new IllegalArgumentException("--rlhf_type " + name + " is not supported yet (dpo, cpo, simpo, orpo, kto, rm, "
          + "grpo and gkd are; ms-swift's ppo is not)");
    }

    /** ms-swift's default beta: SimPO 2.0, the others 0.1. */
    double defaultBeta() {
      return this == SIMPO ? 2.0 : 0.1;
    }

    /** Whether the answers' log-probabilities are per-token averages (SimPO, ORPO) rather than sums. */
    boolean averaged() {
      return this == SIMPO || this == ORPO;
    }
  }

  /**
   * A loss and its coefficients: beta, SimPO's gamma, the NLL weight alpha (CPO / SimPO: cpo_alpha; DPO: rpo_alpha,
   * 0 for none; ORPO's NLL weight is always 1).
   */
  record Settings(Type type, double beta, double gamma, double alpha) {
    double nllWeight() {
      return type == Type.ORPO ? 1 : alpha;
    }
  }

  /**
   * A micro-batch scored: its part of the step's loss, each sequence's cross-entropy weight for the backward (with
   * the step's normalisation in it: use a normalizer of 1), and the pairs' reward metrics, summed: rewards are beta
   * times the answer's log-probability measure (minus the reference's, for DPO).
   */
  record Scored(int pairs, double loss, double[] weights, double chosenRewardSum, double rejectedRewardSum,
      double accuracySum) {}

  private PreferenceLoss() {}

  /**
   * Scores a batch of pairs for a step of {@code stepPairs} pairs and {@code stepChosenTokens} chosen-answer tokens;
   * {@code reference} is DPO's (null for the reference-free losses).
   */
  static Scored score(CausalLM model, ReferenceModel reference, Batch b, Settings s, int stepPairs,
      long stepChosenTokens) {
    if (b.sequences() % 2 != 0) throw new IllegalStateException("a preference batch holds pairs, got " + b.sequences());
    double[] ref = s.type() == Type.DPO ? reference.sequenceLogProbs(b) : null;
    return score(model.sequenceLogProbs(b), ref, targetCounts(b), s, stepPairs, stepChosenTokens);
  }

  /** The arithmetic of {@link #score(CausalLM, ReferenceModel, Batch, Settings, int, long)} on given log-probabilities. */
  static Scored score(double[] logp, double[] ref, int[] tokens, Settings s, int stepPairs, long stepChosenTokens) {
    int pairs = logp.length / 2;
    double[] weights = new double[logp.length];
    double loss = 0, chosenReward = 0, rejectedReward = 0, accurate = 0, beta = s.beta();
    double nll = s.nllWeight() / Math.max(1, stepChosenTokens);
    for (int i = 0; i < pairs; i++) {
      int c = 2 * i, r = 2 * i + 1;
      double mc = s.type().averaged() ? logp[c] / tokens[c] : logp[c], mr = s.type().averaged() ? logp[r] / tokens[r] : logp[r];
      if (ref != null) {
        mc -= ref[c];
        mr -= ref[r];
      }
      double dc, dr;  // dL/d(measure of chosen), dL/d(measure of rejected) for this pair's term
      if (s.type() == Type.ORPO) {
        double z = logOdds(mc) - logOdds(mr);
        loss -= beta * logSigmoid(z) / stepPairs;
        double g = beta * sigmoid(-z);
        dc = -g / -Math.expm1(mc);  // d log odds / d m = 1 / (1 - e^m)
        dr = g / -Math.expm1(mr);
      } else {
        double z = beta * (mc - mr) - (s.type() == Type.SIMPO ? s.gamma() : 0);
        loss -= logSigmoid(z) / stepPairs;
        double g = beta * sigmoid(-z);
        dc = -g;
        dr = g;
      }
      // log pi(y) = -sum CE(y): the weight of y's cross-entropy is -dL/d log pi(y)
      double perC = s.type().averaged() ? 1.0 / tokens[c] : 1, perR = s.type().averaged() ? 1.0 / tokens[r] : 1;
      weights[c] = -dc * perC / stepPairs + nll;
      weights[r] = -dr * perR / stepPairs;
      loss += nll * -logp[c];
      chosenReward += beta * mc;
      rejectedReward += beta * mr;
      accurate += mc > mr ? 1 : 0;
    }
    return new Scored(pairs, loss, weights, chosenReward, rejectedReward, accurate);
  }

  /** The labelled tokens of each sequence. */
  static int[] targetCounts(Batch b) {
    int[] n = new int[b.sequences()];
    for (int s = 0; s < n.length; s++) n[s] = b.targetCount(s);
    return n;
  }

  /** The step's chosen-answer tokens (sequences 0, 2, 4, ... of each batch). */
  static long chosenTokens(Iterable<Batch> micro) {
    long n = 0;
    for (Batch b : micro) for (int s = 0; s < b.sequences(); s += 2) n += b.targetCount(s);
    return n;
  }

  /** log(p / (1 - p)) of a log-probability m < 0. */
  static double logOdds(double m) {
    return m - Math.log(-Math.expm1(m));
  }

  static double logSigmoid(double x) {
    return x < 0 ? x - Math.log1p(Math.exp(x)) : -Math.log1p(Math.exp(-x));
  }

  static double sigmoid(double x) {
    return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
  }
}
