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

  enum Type {
    POINTWISE, LISTWISE;

    static Type parse(String name) {
      if (name == null || name.equals("pointwise_reranker")) return POINTWISE;
      if (name.equals("listwise_reranker")) return LISTWISE;
      throw new IllegalArgumentException("--loss_type " + name + " is not a reranker loss: pointwise_reranker "
          + "(default) or listwise_reranker");
    }

    String flag() {
      return this == POINTWISE ? "pointwise_reranker" : "listwise_reranker";
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
          d[i] = (Math.exp(z[i] / t - logSum) - (i == from ? 1 : 0)) / t / used / divisor;
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
