package jswift.data;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * What happens to rows that cannot be used. By default the first one ends the load with its
 * {@link DatasetException} ({@code file:line: what is wrong}). With {@code --dataset_skip_bad true} each is
 * dropped and counted, per file, and the first few messages are kept, so that the run can report at the end
 * how much of the data it did not use, and why. Errors that end a file (see
 * {@link DatasetException#skippable()}) are always thrown.
 *
 * <p>Thread-safe: a streaming dataset may be read by several threads.
 */
public final class BadRows {
  /** How many messages are kept (ms-swift prints the first 10 tracebacks). */
  public static final int EXAMPLES = 10;

  private final boolean skip;
  private final Map<String, Long> perFile = new LinkedHashMap<>();
  private final List<String> examples = new ArrayList<>();
  private final Set<Location> seen = new HashSet<>();
  private long count;

  public BadRows(boolean skip) {
    this.skip = skip;
  }

  /** Whether bad rows are skipped (else the first is thrown). */
  public boolean skips() {
    return skip;
  }

  /** Counts the row when skipping; otherwise (or when it cannot be skipped) throws it. */
  synchronized void handle(DatasetException e) {
    if (!skip || !e.skippable()) throw e;
    // a streaming dataset reads its files again each epoch (or to repeat rows for #N): count each row once
    if (!seen.add(e.location())) return;
    count++;
    perFile.merge(e.location().file(), 1L, Long::sum);
    if (examples.size() < EXAMPLES) examples.add(e.getMessage());
  }

  /** How many distinct rows were skipped so far. */
  public synchronized long count() {
    return count;
  }

  /** Skipped rows per file, in the order files were read. */
  public synchronized Map<String, Long> perFile() {
    return new LinkedHashMap<>(perFile);
  }

  /** The messages of the first {@value #EXAMPLES} skipped rows. */
  public synchronized List<String> examples() {
    return List.copyOf(examples);
  }

  /** One paragraph for the end of a run: the count, per file, and the first messages; empty when none. */
  public synchronized String summary() {
    if (count == 0) return "";
    StringBuilder sb = new StringBuilder("skipped ").append(count).append(count == 1 ? " bad row" : " bad rows")
        .append(" (--dataset_skip_bad true):");
    perFile.forEach((file, n) -> sb.append(' ').append(file).append(": ").append(n).append(';'));
    sb.setLength(sb.length() - 1);
    sb.append("\nfirst ").append(examples.size()).append(':');
    for (String e : examples) sb.append("\n  ").append(e);
    return sb.toString();
  }
}
