package jswift.data;

import java.util.Arrays;

/**
 * The random-access index of one file: the byte offset where each usable row starts, kept in one
 * {@code long[]}, so an index costs 8 bytes per row (a 10-million-row file: 80 MB). Line numbers, for error
 * messages, are not stored per row: most rows start on the line after the previous row's, so only the rows
 * where that is not so (after a blank line, a skipped row, or a CSV record spanning lines) are recorded, at
 * 12 bytes each, and any row's line is found by binary search.
 */
final class RowIndex {
  private long[] offsets = new long[1024];
  private int size;
  private int[] jumpRows = new int[16];
  private long[] jumpLines = new long[16];
  private int jumps;
  private long lastLine;

  void add(long offset, long line) {
    if (size == offsets.length) offsets = Arrays.copyOf(offsets, grow(size));
    if (size == 0 || line != lastLine + 1) {
      if (jumps == jumpRows.length) {
        jumpRows = Arrays.copyOf(jumpRows, jumps * 2);
        jumpLines = Arrays.copyOf(jumpLines, jumps * 2);
      }
      jumpRows[jumps] = size;
      jumpLines[jumps] = line;
      jumps++;
    }
    offsets[size++] = offset;
    lastLine = line;
  }

  int size() {
    return size;
  }

  long offset(int row) {
    return offsets[row];
  }

  /** Where the next row starts, or -1 after the last row (a hint of how much to read). */
  long nextOffset(int row) {
    return row + 1 < size ? offsets[row + 1] : -1;
  }

  long line(int row) {
    int j = Arrays.binarySearch(jumpRows, 0, jumps, row);
    if (j < 0) j = -j - 2;
    return jumpLines[j] + (row - jumpRows[j]);
  }

  /** Releases the spare capacity once the file is read. */
  void trim() {
    offsets = Arrays.copyOf(offsets, size);
    jumpRows = Arrays.copyOf(jumpRows, jumps);
    jumpLines = Arrays.copyOf(jumpLines, jumps);
  }

  private static int grow(int n) {
    if (n >= Integer.MAX_VALUE - 8) throw new IllegalStateException("more than 2^31 rows in one file");
    return (int) Math.min(Integer.MAX_VALUE - 8L, n + (n >> 1) + 1L);
  }
}
