package jswift.template;

import java.util.Arrays;

/**
 * A conversation encoded for training: {@code inputIds}; {@code labels}, equal to the id where the token is
 * trained on and {@value #IGNORE} elsewhere (position 0 always {@value #IGNORE}: nothing predicts the first
 * token), in the unshifted layout {@link jswift.model.Batch} takes; and {@code lossScale}, the per-token weight,
 * present only when some weight is neither 0 nor 1 (otherwise the labels say it all). Like the labels, the
 * weights sit at the position of the token they weight. The arrays are shared, not copied.
 */
public record Encoded(int[] inputIds, int[] labels, float[] lossScale) {
  public static final int IGNORE = -100;

  public Encoded {
    if (inputIds.length != labels.length || (lossScale != null && lossScale.length != inputIds.length))
      throw new IllegalArgumentException("input_ids, labels and loss_scale must have one entry per token");
  }

  public int length() {
    return inputIds.length;
  }

  /** Number of tokens trained on. */
  public int labelledCount() {
    int n = 0;
    for (int l : labels) if (l != IGNORE) n++;
    return n;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Encoded e && Arrays.equals(inputIds, e.inputIds) && Arrays.equals(labels, e.labels)
        && Arrays.equals(lossScale, e.lossScale);
  }

  @Override
  public int hashCode() {
    return 31 * Arrays.hashCode(inputIds) + Arrays.hashCode(labels);
  }

  @Override
  public String toString() {
    return "Encoded[" + inputIds.length + " tokens, " + labelledCount() + " labelled" + (lossScale != null ? ", weighted" : "") + "]";
  }
}
