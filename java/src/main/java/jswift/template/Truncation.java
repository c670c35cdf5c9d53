package jswift.template;

import java.util.Arrays;
import java.util.Locale;

/**
 * What to do with an encoded row longer than {@code max_length} (ms-swift's {@code --truncation_strategy}):
 * {@code delete} drops the row (encoding throws {@link SequenceTooLongException}, which a dataset loader
 * counts and skips), {@code left} keeps the last {@code max_length} tokens (the answer survives, the start of
 * the context goes), {@code right} keeps the first ones.
 */
public enum Truncation {
  DELETE,
  LEFT,
  RIGHT;

  /**
   * An ms-swift value; {@code raise}, ms-swift's name for the same behaviour in some versions, means delete.
   *
   * @throws IllegalArgumentException naming the accepted values (ms-swift's {@code split} is for pre-training
   *     only and not implemented)
   */
  public static Truncation parse(String name) {
    String n = name == null ? "" : name.trim().toLowerCase(Locale.ROOT);
    return switch (n) {
      case "delete", "raise" -> DELETE;
      case "left" -> LEFT;
      case "right" -> RIGHT;
      default -> throw new IllegalArgumentException("unknown truncation_strategy '" + name + "': expected delete, left or right");
    };
  }

  /** Cuts an encoded row to maxLength tokens (maxLength <= 0: no limit). */
  Encoded apply(Encoded e, int maxLength) {
    int n = e.length();
    if (maxLength <= 0 || n <= maxLength) return e;
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
}
