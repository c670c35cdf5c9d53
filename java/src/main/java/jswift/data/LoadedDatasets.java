package jswift.data;

import java.io.Closeable;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.List;

/**
 * What {@link DatasetLoader#load} returns: the training rows, the validation rows (split off with
 * {@code --split_dataset_ratio}, or read from {@code --val_dataset}), and the bad-row count. Without
 * {@code --streaming} both are {@link RowList}s (random access); with it, {@link RowStream}s. Closing releases
 * the open files.
 */
public final class LoadedDatasets implements AutoCloseable {
  private final RowStream train;
  private final RowStream val;
  private final BadRows badRows;
  private final List<Closeable> resources;

  LoadedDatasets(RowStream train, RowStream val, BadRows badRows, List<Closeable> resources) {
    this.train = train;
    this.val = val;
    this.badRows = badRows;
    this.resources = List.copyOf(resources);
  }

  /** The training rows; null when no {@code --dataset} was given (or all went to validation). */
  public RowStream train() {
    return train;
  }

  /** The validation rows, or null. */
  public RowStream val() {
    return val;
  }

  /** The training rows with random access; fails for a streaming load. */
  public RowList trainList() {
    return asList(train, "train");
  }

  public RowList valList() {
    return asList(val, "validation");
  }

  /** The rows skipped so far (all of them for an indexed load; a streaming load counts as it reads). */
  public BadRows badRows() {
    return badRows;
  }

  @Override
  public void close() {
    IOException first = null;
    for (Closeable c : resources) {
      try {
        c.close();
      } catch (IOException e) {
        if (first == null) first = e;
      }
    }
    if (first != null) throw new UncheckedIOException(first);
  }

  private static RowList asList(RowStream rows, String what) {
    if (rows == null) return null;
    if (!(rows instanceof RowList))
      throw new IllegalStateException("the " + what + " dataset is streaming (--streaming true): it has no random "
          + "access");
    return (RowList) rows;
  }
}
