package jswift.data;

import java.util.NoSuchElementException;

/**
 * Rows with random access: a dataset that was indexed when it was loaded. Rows are read from their files on
 * demand (the dataset itself holds only each row's byte offset), so {@link #get} may be called from several
 * threads and a dataset larger than memory works. Every row was converted and checked once during loading, so
 * {@code get} does not fail on bad data (only if a file changed since).
 */
public interface RowList extends RowStream {
  int size();

  Row get(int index);

  @Override
  default CloseableIterator<Row> iterator() {
    return new CloseableIterator<>() {
      private int next;

      @Override
      public boolean hasNext() {
        return next < size();
      }

      @Override
      public Row next() {
        if (!hasNext()) throw new NoSuchElementException();
        return get(next++);
      }

      @Override
      public void close() {}
    };
  }
}
