package jswift.data;

import java.io.Closeable;
import java.io.IOException;

/** Reads the rows of one file in order. */
interface RowCursor extends Closeable {
  /**
   * The next row, or null after the last.
   *
   * @throws DatasetException for a row that cannot be read; when {@linkplain DatasetException#skippable()
   *     skippable}, the next call goes on with the row after it
   */
  RawRow next() throws IOException;
}
