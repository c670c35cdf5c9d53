package jswift.data;

import java.util.List;

/** Rows held in memory: the small bundled datasets, which are read from the classpath rather than a file. */
final class MemoryRows implements RowList {
  private final List<Row> rows;

  MemoryRows(List<Row> rows) {
    this.rows = List.copyOf(rows);
  }

  @Override
  public int size() {
    return rows.size();
  }

  @Override
  public Row get(int index) {
    return rows.get(index);
  }
}
