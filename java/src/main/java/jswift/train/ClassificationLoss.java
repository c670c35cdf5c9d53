package jswift.train;

import jswift.model.ProblemType;

/**
 * The loss of a sequence classifier ({@code --task_type seq_cls}), as transformers' *ForSequenceClassification
 * computes it for each problem type: cross-entropy over the classes (single-label), binary cross-entropy with logits
 * on each class (multi-label), mean squared error (regression). Each is a mean: over the step's sequences for
 * cross-entropy, over its sequences x labels for the others ({@link #elements}), so gradient accumulation gives the
 * loss of one batch of the whole step.
 */
final class ClassificationLoss {
  private ClassificationLoss() {}

  /** A micro-batch scored: its part of the step's loss, dLoss/d(logits) of each sequence, and its exact predictions. */
  record Scored(double loss, double[][] dLogits, int correct) {}

  /** What the loss of {@code sequences} sequences is averaged over. */
  static double elements(ProblemType type, int sequences, int numLabels) {
    return type == ProblemType.SINGLE_LABEL ? sequences : (double) sequences * numLabels;
  }

  /**
   * The loss of logits [sequences][labels] against the targets ({@link ProblemType#target}), divided by
   * {@code normalizer} (the step's {@link #elements}).
   */
  static Scored score(ProblemType type, double[][] logits, double[][] targets, double normalizer) {
    int n = logits.length;
    double[][] d = new double[n][];
    double loss = 0;
    int correct = 0;
    for (int s = 0; s < n; s++) {
      double[] z = logits[s], y = targets[s];
      d[s] = new double[z.length];
      switch (type) {
        case SINGLE_LABEL: {
          int c = (int) y[0];
          double max = Double.NEGATIVE_INFINITY;
          for (double x : z) max = Math.max(max, x);
          double sum = 0;
          for (double x : z) sum += Math.exp(x - max);
          double logSum = max + Math.log(sum);
          loss += (logSum - z[c]) / normalizer;
          for (int l = 0; l < z.length; l++) d[s][l] = Math.exp(z[l] - logSum) / normalizer;
          d[s][c] -= 1 / normalizer;
          break;
        }
        case MULTI_LABEL:
          for (int l = 0; l < z.length; l++) {
            // max(z, 0) - z y + log(1 + e^-|z|): BCE with logits without overflow
            loss += (Math.max(z[l], 0) - z[l] * y[l] + Math.log1p(Math.exp(-Math.abs(z[l])))) / normalizer;
            d[s][l] = (PreferenceLoss.sigmoid(z[l]) - y[l]) / normalizer;
          }
          break;
        default:
          for (int l = 0; l < z.length; l++) {
            double e = z[l] - y[l];
            loss += e * e / normalizer;
            d[s][l] = 2 * e / normalizer;
          }
      }
      if (type != ProblemType.REGRESSION && type.correct(z, y)) correct++;
    }
    return new Scored(loss, d, correct);
  }
}
