package jswift.train;

/**
 * The losses of reranker training ({@code --task_type reranker}), as ms-swift's loss plugins define them, over one
 * score per (query, document) sequence; a batch holds groups, each the positive document then its negatives.
 * <ul>
 *   <li>{@code pointwise_reranker} (default): binary cross-entropy with logits of each score against 1 (positive) or
 *       0, the mean over the batch's sequences.
 *   <li>{@code listwise_reranker}: per group, cross-entropy of the scores / {@code LISTWISE_RERANKER_TEMPERATURE} (1)
 *       toward the positive; groups smaller than {@code LISTWISE_RERANKER_MIN_GROUP_SIZE} (2) are left out; the mean
 *       over the groups.
 * </ul>
 * Evaluation ranks each group's documents: MRR and NDCG (one relevant document: 1 / log2(rank + 1)).
 */
final class RerankerLoss {
  private RerankerLoss() {}

  /**
   * The loss over the scores: pointwise binary cross-entropy (a generative reranker's cross-entropy over its (no,
   * yes) logits is the same loss on their difference), listwise cross-entropy of the scores, or (listwise generative)
   * of log(sigmoid(score) + 1e-8), the log-probability of "yes".
   */
  enum Type {
    POINTWISE, LISTWISE, LISTWISE_GENERATIVE;

    /** A reranker's --loss_type (ms-swift's names; "reranker" is pointwise_reranker's older name). */
    static Type parse(String name, boolean generative) {
      if (generative) {
        if (name == null || name.equals("generative_reranker")) return POINTWISE;
        if (name.equals("listwise_generative_reranker")) return LISTWISE_GENERATIVE;
        throw new IllegalArgumentException("--loss_type " + name + " is not a generative reranker loss: "
            + "generative_reranker (default) or listwise_generative_reranker");
      }
      if (name == null || name.equals("pointwise_reranker") || name.equals("reranker")) return POINTWISE;
      if (name.equals("listwise_reranker")) return LISTWISE;
      throw new IllegalArgumentException("--loss_type " + name + " is not a reranker loss: pointwise_reranker "
          + "(default) or listwise_reranker");
    }

    static Type parse(String name) {
      return parse(name, false);
    }

    String flag(boolean generative) {
      return switch (this) {
        case POINTWISE -> generative ? "generative_reranker" : "pointwise_reranker";
        case LISTWISE -> "listwise_reranker";
        case LISTWISE_GENERATIVE -> "listwise_generative_reranker";
      };
    }
  }

  /** Listwise settings (ms-swift reads them from LISTWISE_RERANKER_* environment variables). */
  record Listwise(double temperature, int minGroupSize) {}

  /** A batch scored: its loss divided by {@code divisor}, dLoss/dscore, and its groups' summed MRR and NDCG. */
  record Scored(double loss, double[] dScores, int groups, double mrrSum, double ndcgSum) {}

  /** The groups' starts: each sequence whose label is 1 begins one. */
  static int[] groupStarts(double[] labels) {
    return java.util.stream.IntStream.range(0, labels.length).filter(i -> labels[i] == 1).toArray();
  }

  static Scored score(Type type, Listwise settings, double[] z, double[] labels, double divisor) {
    double[] d = new double[z.length];
    double loss = 0;
    int[] starts = groupStarts(labels);
    if (type == Type.POINTWISE) {
      for (int i = 0; i < z.length; i++) {
        loss += (Math.max(z[i], 0) - z[i] * labels[i] + Math.log1p(Math.exp(-Math.abs(z[i])))) / z.length / divisor;
        d[i] = (PreferenceLoss.sigmoid(z[i]) - labels[i]) / z.length / divisor;
      }
    } else {
      // listwise generative: the scores are log P(yes) = log(sigmoid(z) + 1e-8); dg/dz = p (1 - p) / (p + 1e-8)
      boolean generative = type == Type.LISTWISE_GENERATIVE;
      double[] logP = z.clone(), dgdz = new double[z.length];
      for (int i = 0; i < z.length; i++) {
        if (!generative) {
          dgdz[i] = 1;
          continue;
        }
        double p = PreferenceLoss.sigmoid(z[i]);
        logP[i] = Math.log(p + 1e-8);
        dgdz[i] = p * (1 - p) / (p + 1e-8);
      }
      z = logP;  // ranks as the scores do (a monotone map)
      int used = 0;
      for (int g = 0; g < starts.length; g++) {
        int from = starts[g], to = g + 1 < starts.length ? starts[g + 1] : z.length;
        if (to - from >= settings.minGroupSize()) used++;
      }
      for (int g = 0; g < starts.length && used > 0; g++) {
        int from = starts[g], to = g + 1 < starts.length ? starts[g + 1] : z.length;
        if (to - from < settings.minGroupSize()) continue;
        double t = settings.temperature(), max = Double.NEGATIVE_INFINITY, sum = 0;
        for (int i = from; i < to; i++) max = Math.max(max, z[i] / t);
        for (int i = from; i < to; i++) sum += Math.exp(z[i] / t - max);
        double logSum = max + Math.log(sum);
        loss += (logSum - z[from] / t) / used / divisor;
        for (int i = from; i < to; i++)
          d[i] = (Math.exp(z[i] / t - logSum) - (i == from ? 1 : 0)) / t / used / divisor * dgdz[i];
      }
    }
    double mrr = 0, ndcg = 0;
    int ranked = 0;
    for (int g = 0; g < starts.length; g++) {
      int from = starts[g], to = g + 1 < starts.length ? starts[g + 1] : z.length;
      if (to - from < 2) continue;  // ms-swift's metrics skip groups without a negative
      int rank = 1;
      for (int i = from + 1; i < to; i++) if (z[i] > z[from]) rank++;
      mrr += 1.0 / rank;
      ndcg += 1 / (Math.log(rank + 1) / Math.log(2));
      ranked++;
    }
    return new Scored(loss, d, ranked, mrr, ndcg);
  }
}
