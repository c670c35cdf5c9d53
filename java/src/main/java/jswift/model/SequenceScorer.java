package jswift.model;

/**
 * One score per sequence from its last hidden state, and the backward of it: a reranker's {@link ScoreHead} (one
 * label), or a generative reranker's {@link YesNoHead} (the LM head's "yes" minus "no"
 * logit).
 */
public interface SequenceScorer extends AutoCloseable {
  double[] scores(float[][] lastHidden);

  /** Adds the scorer's own gradients (when it trains) and returns dLoss/dh of each sequence. */
  float[][] backward(float[][] lastHidden, double[] dScores);

  @Override
  void close();

  /** A one-label score head as a scorer (closed with it). */
  static SequenceScorer of(ScoreHead head) {
    return new SequenceScorer() {
      @Override
      public double[] scores(float[][] h) {
        return head.scores(h);
      }

      @Override
      public float[][] backward(float[][] h, double[] d) {
        return head.backward(h, d);
      }

      @Override
      public void close() {
        head.close();
      }
    };
  }
}
