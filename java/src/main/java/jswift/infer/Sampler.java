package jswift.infer;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Picks the next token from one row of logits the way transformers' generate() does: repetition penalty over
 * the tokens seen so far (divide positive logits, multiply negative ones), then temperature, top-k, top-p
 * (keep the smallest set of most likely tokens whose probability reaches top_p, at least one), then a draw from
 * the softmax; greedy takes the arg max (first maximum) after the penalty. Seeded, so runs repeat.
 */
public final class Sampler {
  private final GenerationConfig cfg;
  private final SplittableRandom random;

  public Sampler(GenerationConfig cfg) {
    this.cfg = cfg;
    this.random = new SplittableRandom(cfg.seed());
  }

  /** The next token id; {@code logits} (one row, fp32) is modified in place; {@code seen}: ids so far. */
  public int next(float[] logits, int[] seen, int seenLength) {
    if (cfg.repetitionPenalty() != 1f) applyRepetitionPenalty(logits, seen, seenLength, cfg.repetitionPenalty());
    if (cfg.isGreedy()) return argmax(logits);
    float inv = 1f / cfg.temperature();
    for (int i = 0; i < logits.length; i++) logits[i] *= inv;
    Integer[] order = null;
    int keep = logits.length;
    if (cfg.topK() > 0 && cfg.topK() < logits.length) {
      order = sortedDescending(logits);
      keep = cfg.topK();
      float threshold = logits[order[keep - 1]];
      // transformers keeps every token whose logit is >= the k-th largest (ties included)
      for (int i = 0; i < logits.length; i++) if (logits[i] < threshold) logits[i] = Float.NEGATIVE_INFINITY;
    }
    if (cfg.topP() < 1f) {
      if (order == null) order = sortedDescending(logits);
      double[] p = softmax(logits);
      double cum = 0;
      boolean cut = false;
      for (int r = 0; r < order.length; r++) {
        int id = order[r];
        if (cut) {
          logits[id] = Float.NEGATIVE_INFINITY;
          continue;
        }
        cum += p[id];
        // keep tokens until the mass reaches top_p (the token that crosses it is kept)
        if (cum >= cfg.topP()) cut = true;
      }
    }
    double[] p = softmax(logits);
    double u = random.nextDouble(), cum = 0;
    int last = -1;
    for (int i = 0; i < p.length; i++) {
      if (p[i] <= 0) continue;
      last = i;
      cum += p[i];
      if (u < cum) return i;
    }
    return last;  // rounding left u above the total: the last candidate
  }

  static void applyRepetitionPenalty(float[] logits, int[] seen, int n, float penalty) {
    boolean[] done = new boolean[logits.length];
    for (int i = 0; i < n; i++) {
      int id = seen[i];
      if (id < 0 || id >= logits.length || done[id]) continue;
      done[id] = true;
      logits[id] = logits[id] < 0 ? logits[id] * penalty : logits[id] / penalty;
    }
  }

  static int argmax(float[] v) {
    int best = 0;
    for (int i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
    return best;
  }

  private static Integer[] sortedDescending(float[] v) {
    Integer[] idx = new Integer[v.length];
    for (int i = 0; i < idx.length; i++) idx[i] = i;
    Arrays.sort(idx, (a, b) -> Float.compare(v[b], v[a]));
    return idx;
  }

  static double[] softmax(float[] logits) {
    double max = Double.NEGATIVE_INFINITY;
    for (float l : logits) max = Math.max(max, l);
    double[] p = new double[logits.length];
    double sum = 0;
    for (int i = 0; i < p.length; i++) {
      p[i] = logits[i] == Float.NEGATIVE_INFINITY ? 0 : Math.exp(logits[i] - max);
      sum += p[i];
    }
    for (int i = 0; i < p.length; i++) p[i] /= sum;
    return p;
  }
}
