package jswift.template;

import java.util.Arrays;
import java.util.Locale;

/**
 * What to do with an encoded row longer than {@code max_length} (ms-swift's {@code --truncation_strategy}):
 * {@code delete} drops the row (encoding throws {@link SequenceTooLongException}, which a dataset loader
 * counts and skips), {@code left} keeps the last {@code max_length} tokens (the answer survives, the start of
 * the context goes), {@code right} keeps the first ones. {@code split} (pre-training only, as in ms-swift) keeps
 * every token: the encoder returns the row whole and the sample stream cuts it into {@code max_length} chunks
 * ({@link #split}), so one long document becomes several samples.
 */
public enum Truncation {
  DELETE,
  LEFT,
  RIGHT,
  SPLIT;

  /**
   * An ms-swift value; {@code raise}, ms-swift's name for the same behaviour in some versions, means delete.
   *
   * @throws IllegalArgumentException naming the accepted values
   */
  public static Truncation parse(String name) {
    String n = name == null ? "" : name.trim().toLowerCase(Locale.ROOT);
    return switch (n) {
      case "delete", "raise" -> DELETE;
      case "left" -> LEFT;
      case "right" -> RIGHT;
      case "split" -> SPLIT;
      default -> throw new IllegalArgumentException("unknown truncation_strategy '" + name + "': expected delete, "
          + "left, right or split");
    };
  }

  /** Cuts an encoded row to maxLength tokens (maxLength <= 0: no limit); split leaves it whole (see {@link #split}). */
  Encoded apply(Encoded e, int maxLength) {
    int n = e.length();
    if (maxLength <= 0 || n <= maxLength || this == SPLIT) return e;
    if (this == DELETE) throw new SequenceTooLongException(n, maxLength);
    int from = this == LEFT ? n - maxLength : 0;
    int to = from + maxLength;
    int[] labels = Arrays.copyOfRange(e.labels(), from, to);
    float[] scale = e.lossScale() == null ? null : Arrays.copyOfRange(e.lossScale(), from, to);
    // Position 0 is never a target (the model predicts token t+1 from token t); keep it marked as such.
    labels[0] = Encoded.IGNORE;
    if (scale != null) scale[0] = 0;
    return new Encoded(Arrays.copyOfRange(e.inputIds(), from, to), labels, scale);
  }

  /**
   * {@code split}'s chunks: consecutive pieces of at most maxLength tokens covering the whole row, each with its
   * first label ignored (nothing inside the chunk predicts its first token), as ms-swift cuts pre-training rows.
   */
  public static Encoded[] split(Encoded e, int maxLength) {
    if (maxLength <= 1) throw new IllegalArgumentException("max_length must be > 1 to split rows, got " + maxLength);
    int n = e.length(), count = Math.max(1, (n + maxLength - 1) / maxLength);
    Encoded[] chunks = new Encoded[count];
    for (int c = 0; c < count; c++) {
      int from = c * maxLength, to = Math.min(n, from + maxLength);
      int[] labels = Arrays.copyOfRange(e.labels(), from, to);
      float[] scale = e.lossScale() == null ? null : Arrays.copyOfRange(e.lossScale(), from, to);
      labels[0] = Encoded.IGNORE;
      if (scale != null) scale[0] = 0;
      chunks[c] = new Encoded(Arrays.copyOfRange(e.inputIds(), from, to), labels, scale);
    }
    return chunks;
  }
}
