package jswift.template;

/**
 * An encoded row is longer than {@code max_length} and the truncation strategy is {@code delete}: the row is
 * to be dropped (ms-swift's {@code MaxLengthError}). It is an exception rather than a flag so that a row is
 * never trained on at a length nobody asked for because a caller forgot to look.
 */
public final class SequenceTooLongException extends RuntimeException {
  private final int length;
  private final int maxLength;

  public SequenceTooLongException(int length, int maxLength) {
    super("encoded row has " + length + " tokens, more than max_length " + maxLength
        + " (truncation_strategy delete drops it; use left or right to cut it instead)");
    this.length = length;
    this.maxLength = maxLength;
  }

  public int length() {
    return length;
  }

  public int maxLength() {
    return maxLength;
  }
}
