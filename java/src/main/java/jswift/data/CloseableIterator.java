package jswift.data;

import java.util.Iterator;

/**
 * An iterator over rows that may hold an open file: close it when stopping early (a for-each loop that runs to
 * the end closes it by itself).
 */
public interface CloseableIterator<T> extends Iterator<T>, AutoCloseable {
  @Override
  void close();
}
