package jswift.train;

import java.util.List;
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
      throw new IllegalArgumentException("--rlhf_type " + name + " is not one of ms-swift's (dpo, cpo, simpo, orpo, kto, "
          + "rm, ppo, grpo, gkd)");
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
   * DPO's {@code --loss_type}, as TRL defines them on the pair's log-ratio difference z = (log pi(c) - log ref(c)) -
   * (log pi(r) - log ref(r)) with label smoothing e (cDPO): {@code sigmoid} -(1 - e) log sigmoid(beta z) - e log
   * sigmoid(-beta z); {@code robust} (-(1 - e) log sigmoid(beta z) + e log sigmoid(-beta z)) / (1 - 2e);
   * {@code hinge} max(0, 1 - beta z); {@code ipo} (z - 1 / (2 beta))^2 on per-token average log-probabilities;
   * {@code apo_zero} 1 - sigmoid(beta rc) + sigmoid(beta rr) and {@code apo_down} sigmoid(beta rc) + 1 - sigmoid(beta
   * (rc - rr)) on the log-ratios rc, rr of each answer; {@code exo_pair} (EXO, eq. 16) sigmoid(t) (log sigmoid(t) -
   * log(1 - e)) + sigmoid(-t) (log sigmoid(-t) - log e), t = beta z, e = label_smoothing or 1e-3;
   * {@code nca_pair} -log sigmoid(beta rc) - (log sigmoid(-beta rc) + log sigmoid(-beta rr)) / 2; {@code sppo_hard}
   * (rc - 1 / (2 beta))^2 + (rr + 1 / (2 beta))^2; {@code discopop} -log sigmoid(t) (1 - m) + e^-t m,
   * m = sigmoid(t / discopop_tau); and the batch-sorted {@code aot_pair} (the sorted rc minus the sorted rr) and
   * {@code aot} (the sorted policy log-ratios minus the sorted reference ones), each then in sigmoid's loss; and
   * {@code bco_pair} -log sigmoid(beta rc - d) - log sigmoid(-(beta rr - d)), d the running mean of the batches'
   * mean rewards ({@link RunningMean}, TRL's RunningMoments), a constant to the gradient.
   */
  enum DpoVariant {
    SIGMOID, ROBUST, HINGE, IPO, APO_ZERO, APO_DOWN, EXO_PAIR, NCA_PAIR, SPPO_HARD, DISCOPOP, AOT_PAIR, AOT, BCO_PAIR;

    static DpoVariant parse(String name) {
      for (DpoVariant v : values()) if (v.name().toLowerCase(Locale.ROOT).equals(name)) return v;
      throw new IllegalArgumentException("--loss_type " + name + " is not supported for DPO (sigmoid, robust, hinge, "
          + "ipo, apo_zero, apo_down, exo_pair, nca_pair, sppo_hard, discopop, aot_pair, aot and bco_pair are)");
    }

    /** The loss couples the pairs of a micro-batch (it sorts their log-ratios), as TRL's AOT does. */
    boolean sorted() {
      return this == AOT || this == AOT_PAIR;
    }

    /** A pair's loss depends on more than its own log-ratios (the batch's order, BCO's running mean). */
    boolean coupled() {
      return sorted() || this == BCO_PAIR;
    }
  }

  /**
   * BCO's running mean of the batches' mean rewards (TRL's RunningMoments as bco_pair uses it: one value per update,
   * count starting at 1e-24, so the first update sets it). A frozen copy reads the mean without updating it (an
   * evaluation, a gradient check).
   */
  static final class RunningMean {
    private double mean, count = 1e-24;
    private final boolean frozen;

    RunningMean() {
      this(0, 1e-24, false);
    }

    private RunningMean(double mean, double count, boolean frozen) {
      this.mean = mean;
      this.count = count;
      this.frozen = frozen;
    }

    /** Adds a batch's mean reward (unless frozen) and returns the running mean. */
    double update(double batchMean) {
      if (frozen) return mean;
      count += 1;
      mean += (batchMean - mean) / count;
      return mean;
    }

    double mean() {
      return mean;
    }

    double count() {
      return count;
    }

    RunningMean frozenCopy() {
      return new RunningMean(mean, count, true);
    }

    void restore(double mean, double count) {
      this.mean = mean;
      this.count = count;
    }
  }

  /**
   * A loss and its coefficients: beta, SimPO's gamma, the NLL weight alpha (CPO / SimPO: cpo_alpha; DPO: rpo_alpha,
   * 0 for none; ORPO's NLL weight is always 1), and DPO's variant and label smoothing.
   */
  record Settings(Type type, double beta, double gamma, double alpha, DpoVariant variant, double labelSmoothing,
      double discopopTau, RunningMean bcoMean) {
    Settings(Type type, double beta, double gamma, double alpha, DpoVariant variant, double labelSmoothing,
        double discopopTau) {
      this(type, beta, gamma, alpha, variant, labelSmoothing, discopopTau,
          type == Type.DPO && variant == DpoVariant.BCO_PAIR ? new RunningMean() : null);
    }

    /** These settings with BCO's running mean read but not updated (evaluation). */
    Settings frozen() {
      return bcoMean == null ? this : new Settings(type, beta, gamma, alpha, variant, labelSmoothing, discopopTau,
          bcoMean.frozenCopy());
    }

    Settings(Type type, double beta, double gamma, double alpha) {
      this(type, beta, gamma, alpha, DpoVariant.SIGMOID, 0);
    }

    Settings(Type type, double beta, double gamma, double alpha, DpoVariant variant, double labelSmoothing) {
      this(type, beta, gamma, alpha, variant, labelSmoothing, 0.05);  // TRL's discopop_tau
    }

    double nllWeight() {
      return type == Type.ORPO ? 1 : alpha;
    }

    /** Whether the answers' log-probabilities are per-token averages (SimPO, ORPO, IPO) rather than sums. */
    boolean averaged() {
      return type.averaged() || (type == Type.DPO && variant == DpoVariant.IPO);
    }
  }

  /**
   * The loss a run optimises: one loss ({@link #of}), or TRL's weighted sum of several DPO losses on the same
   * log-ratios (ms-swift's MPO: {@code --loss_type sigmoid bco_pair sft --loss_weights 0.8 0.2 1.0}), each part with
   * no NLL of its own, plus {@code nllWeight} times the chosen answers' NLL ("sft", and --rpo_alpha). The reward
   * metrics are the parts' weighted sums, as TRL sums them ("sft" has none).
   */
  record Mix(List<Settings> parts, double[] weights, double nllWeight, double beta) {
    static Mix of(Settings s) {
      return new Mix(List.of(s), new double[] {1}, 0, s.beta());
    }

    boolean single() {
      return parts.size() == 1 && weights[0] == 1 && nllWeight == 0;
    }

    /** The part whose state a run saves (bco_pair's running mean), or null. */
    RunningMean bcoMean() {
      for (Settings s : parts) if (s.bcoMean() != null) return s.bcoMean();
      return null;
    }

    Mix frozen() {
      return new Mix(parts.stream().map(Settings::frozen).toList(), weights, nllWeight, beta);
    }

    Type type() {
      return parts.isEmpty() ? Type.DPO : parts.get(0).type();
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

  /** {@link #score(CausalLM, ReferenceModel, Batch, Settings, int, long)} for a run's {@link Mix}. */
  static Scored score(CausalLM model, ReferenceModel reference, Batch b, Mix mix, int stepPairs, long stepChosenTokens) {
    if (mix.single()) return score(model, reference, b, mix.parts().get(0), stepPairs, stepChosenTokens);
    if (b.sequences() % 2 != 0) throw new IllegalStateException("a preference batch holds pairs, got " + b.sequences());
    double[] ref = mix.parts().isEmpty() ? null : reference.sequenceLogProbs(b);
    return score(model.sequenceLogProbs(b), ref, targetCounts(b), mix, stepPairs, stepChosenTokens);
  }

  /** The arithmetic of a {@link Mix}: the parts' scores weighted and summed, and the NLL of the chosen answers. */
  static Scored score(double[] logp, double[] ref, int[] tokens, Mix mix, int stepPairs, long stepChosenTokens) {
    if (mix.single()) return score(logp, ref, tokens, mix.parts().get(0), stepPairs, stepChosenTokens);
    int pairs = logp.length / 2;
    double[] weights = new double[logp.length];
    double loss = 0, chosen = 0, rejected = 0, accurate = 0;
    for (int k = 0; k < mix.parts().size(); k++) {
      Scored s = score(logp, ref, tokens, mix.parts().get(k), stepPairs, stepChosenTokens);
      double w = mix.weights()[k];
      loss += w * s.loss();
      for (int i = 0; i < weights.length; i++) weights[i] += w * s.weights()[i];
      chosen += w * s.chosenRewardSum();
      rejected += w * s.rejectedRewardSum();
    }
    double nll = mix.nllWeight() / Math.max(1, stepChosenTokens);
    for (int i = 0; i < pairs; i++) {
      int c = 2 * i, r = 2 * i + 1;
      weights[c] += nll;
      loss += nll * -logp[c];
      // the summed rewards' order is the parts' common one (each part's reward is beta times the same log-ratio)
      if (ref != null && (logp[c] - ref[c]) > (logp[r] - ref[r]) && !mix.parts().isEmpty()) accurate++;
    }
    return new Scored(pairs, loss, weights, chosen, rejected, accurate);
  }

  /** The arithmetic of {@link #score(CausalLM, ReferenceModel, Batch, Settings, int, long)} on given log-probabilities. */
  static Scored score(double[] logp, double[] ref, int[] tokens, Settings s, int stepPairs, long stepChosenTokens) {
    int pairs = logp.length / 2;
    double[] weights = new double[logp.length];
    double loss = 0, chosenReward = 0, rejectedReward = 0, accurate = 0, beta = s.beta();
    double nll = s.nllWeight() / Math.max(1, stepChosenTokens);
    boolean averaged = s.averaged();
    double[][] sortedTerms = s.type() == Type.DPO && s.variant().sorted() ? aot(s, logp, ref, pairs) : null;
    double bcoDelta = s.bcoMean() == null ? 0 : s.bcoMean().update(meanReward(logp, ref, beta, pairs));
    for (int i = 0; i < pairs; i++) {
      int c = 2 * i, r = 2 * i + 1;
      double mc = averaged ? logp[c] / tokens[c] : logp[c], mr = averaged ? logp[r] / tokens[r] : logp[r];
      if (ref != null) {
        mc -= averaged ? ref[c] / tokens[c] : ref[c];
        mr -= averaged ? ref[r] / tokens[r] : ref[r];
      }
      double dc, dr;  // dL/d(measure of chosen), dL/d(measure of rejected) for this pair's term
      if (s.bcoMean() != null) {
        double zc = beta * mc - bcoDelta, zr = beta * mr - bcoDelta;
        loss += (-logSigmoid(zc) - logSigmoid(-zr)) / stepPairs;
        dc = -beta * sigmoid(-zc);
        dr = beta * sigmoid(zr);
      } else if (sortedTerms != null) {
        loss += sortedTerms[0][i] / stepPairs;
        dc = sortedTerms[1][i];
        dr = sortedTerms[2][i];
      } else if (s.type() == Type.DPO && (s.variant() != DpoVariant.SIGMOID || s.labelSmoothing() != 0)) {
        double[] d = dpo(s.variant(), beta, s.labelSmoothing(), s.discopopTau(), mc, mr);
        loss += d[0] / stepPairs;
        dc = d[1];
        dr = d[2];
      } else if (s.type() == Type.ORPO) {
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
      double perC = averaged ? 1.0 / tokens[c] : 1, perR = averaged ? 1.0 / tokens[r] : 1;
      weights[c] = -dc * perC / stepPairs + nll;
      weights[r] = -dr * perR / stepPairs;
      loss += nll * -logp[c];
      chosenReward += beta * mc;
      rejectedReward += beta * mr;
      accurate += mc > mr ? 1 : 0;
    }
    return new Scored(pairs, loss, weights, chosenReward, rejectedReward, accurate);
  }

  /** A DPO variant's loss of one pair and its derivatives by the log-ratios: {loss, dL/d rc, dL/d rr}. */
  static double[] dpo(DpoVariant v, double beta, double e, double rc, double rr) {
    return dpo(v, beta, e, 0.05, rc, rr);
  }

  /** As {@link #dpo(DpoVariant, double, double, double, double)}, with DiscoPOP's tau. */
  static double[] dpo(DpoVariant v, double beta, double e, double tau, double rc, double rr) {
    double z = rc - rr;
    switch (v) {
      case SIGMOID -> {
        double dz = -(1 - e) * beta * sigmoid(-beta * z) + e * beta * sigmoid(beta * z);
        return new double[] {-(1 - e) * logSigmoid(beta * z) - e * logSigmoid(-beta * z), dz, -dz};
      }
      case ROBUST -> {
        double dz = (-(1 - e) * beta * sigmoid(-beta * z) - e * beta * sigmoid(beta * z)) / (1 - 2 * e);
        return new double[] {(-(1 - e) * logSigmoid(beta * z) + e * logSigmoid(-beta * z)) / (1 - 2 * e), dz, -dz};
      }
      case HINGE -> {
        double dz = 1 - beta * z > 0 ? -beta : 0;
        return new double[] {Math.max(0, 1 - beta * z), dz, -dz};
      }
      case IPO -> {
        double dz = 2 * (z - 1 / (2 * beta));
        return new double[] {(z - 1 / (2 * beta)) * (z - 1 / (2 * beta)), dz, -dz};
      }
      case APO_ZERO -> {
        double sc = sigmoid(beta * rc), sr = sigmoid(beta * rr);
        return new double[] {1 - sc + sr, -beta * sc * (1 - sc), beta * sr * (1 - sr)};
      }
      case APO_DOWN -> {
        double sc = sigmoid(beta * rc), sz = sigmoid(beta * z);
        return new double[] {sc + 1 - sz, beta * sc * (1 - sc) - beta * sz * (1 - sz), beta * sz * (1 - sz)};
      }
      case EXO_PAIR -> {
        double eps = e == 0 ? 1e-3 : e, t = beta * z, st = sigmoid(t), sm = sigmoid(-t);
        double loss = st * (logSigmoid(t) - Math.log1p(-eps)) + sm * (logSigmoid(-t) - Math.log(eps));
        double dt = st * sm * (t - Math.log((1 - eps) / eps));  // log sigmoid(t) - log sigmoid(-t) = t
        return new double[] {loss, beta * dt, -beta * dt};
      }
      case NCA_PAIR -> {
        double c = beta * rc, r = beta * rr;
        double loss = -logSigmoid(c) - 0.5 * logSigmoid(-c) - 0.5 * logSigmoid(-r);
        return new double[] {loss, beta * (-sigmoid(-c) + 0.5 * sigmoid(c)), beta * 0.5 * sigmoid(r)};
      }
      case SPPO_HARD -> {
        double a = rc - 0.5 / beta, b = rr + 0.5 / beta;
        return new double[] {a * a + b * b, 2 * a, 2 * b};
      }
      case DISCOPOP -> {
        double t = beta * z, m = sigmoid(t / tau), dm = m * (1 - m) / tau, ex = Math.exp(-t);
        double loss = -logSigmoid(t) * (1 - m) + ex * m;
        double dt = -sigmoid(-t) * (1 - m) + logSigmoid(t) * dm - ex * m + ex * dm;
        return new double[] {loss, beta * dt, -beta * dt};
      }
      default -> throw new IllegalStateException(v + " couples the batch's pairs: see aot()");
    }
  }

  /**
   * TRL's AOT losses over a micro-batch's pairs: {@code aot_pair} sorts the chosen and the rejected log-ratios
   * separately, {@code aot} the policy's and the reference's chosen-minus-rejected log-probabilities; the i-th
   * smallest of each make delta_i, whose loss is sigmoid's (with label smoothing) and whose gradient goes to the
   * pairs that held those places. Returns {losses, dL/d chosen, dL/d rejected}, per pair.
   */
  private static double[][] aot(Settings s, double[] logp, double[] ref, int pairs) {
    double beta = s.beta(), e = s.labelSmoothing();
    double[] first = new double[pairs], second = new double[pairs];
    for (int i = 0; i < pairs; i++) {
      int c = 2 * i, r = 2 * i + 1;
      if (s.variant() == DpoVariant.AOT_PAIR) {
        first[i] = logp[c] - ref[c];
        second[i] = logp[r] - ref[r];
      } else {
        first[i] = logp[c] - logp[r];
        second[i] = ref[c] - ref[r];
      }
    }
    Integer[] byFirst = order(first), bySecond = order(second);
    double[][] out = new double[3][pairs];
    for (int k = 0; k < pairs; k++) {
      int i = byFirst[k], j = bySecond[k];
      double delta = first[i] - second[j], t = beta * delta;
      double g = beta * (-(1 - e) * sigmoid(-t) + e * sigmoid(t));
      out[0][i] += -(1 - e) * logSigmoid(t) - e * logSigmoid(-t);  // charged to the pair in the first's place
      if (s.variant() == DpoVariant.AOT_PAIR) {
        out[1][i] += g;   // d delta / d (chosen log-ratio of pair i) = 1
        out[2][j] -= g;   // d delta / d (rejected log-ratio of pair j) = -1
      } else {
        out[1][i] += g;   // delta = (log pi(c_i) - log pi(r_i)) - reference: the policy's pair i only
        out[2][i] -= g;
      }
    }
    return out;
  }

  /** The mean of beta x log-ratio over the batch's chosen and rejected answers (BCO's batch reward). */
  private static double meanReward(double[] logp, double[] ref, double beta, int pairs) {
    double sum = 0;
    for (int i = 0; i < 2 * pairs; i++) sum += beta * (logp[i] - ref[i]);
    return sum / (2 * pairs);
  }

  /** Indices of v in ascending order of value (ties by index). */
  private static Integer[] order(double[] v) {
    Integer[] idx = new Integer[v.length];
    for (int i = 0; i < idx.length; i++) idx[i] = i;
    java.util.Arrays.sort(idx, (a, b) -> Double.compare(v[a], v[b]));
    return idx;
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
