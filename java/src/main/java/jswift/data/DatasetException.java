package jswift.data;

/**
 * A dataset row (or a whole dataset file) that cannot be used, with where it is and what is wrong: the message
 * reads {@code file:line: what is wrong}.
 *
 * <p>Most row errors are {@linkplain #skippable() skippable}: the reader can go on with the next row, so
 * {@code --dataset_skip_bad true} drops the row and counts it. A few are not, because nothing after them can be
 * read reliably (a syntax error inside a top-level JSON array, a CSV quote that is never closed); those end the
 * load even when bad rows are skipped.
 */
public final class DatasetException extends RuntimeException {
  private final Location location;
  private final String problem;
  private final boolean skippable;

  public DatasetException(Location location, String problem) {
    this(location, problem, true, null);
  }

  public DatasetException(Location location, String problem, boolean skippable, Throwable cause) {
    super(location + ": " + problem, cause);
    this.location = location;
    this.problem = problem;
    this.skippable = skippable;
  }

  /** The file and line of the row. */
  public Location location() {
    return location;
  }

  /** The message without the location. */
  public String problem() {
    return problem;
  }

  /** Whether reading can go on with the next row. */
  public boolean skippable() {
    return skippable;
  }
}
