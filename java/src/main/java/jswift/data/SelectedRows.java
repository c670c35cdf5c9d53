package jswift.data;

import java.util.Objects;

/**
 * Some rows of another list, in a given order, repeats allowed: what sampling, splitting and shuffling produce.
 * Costs 4 bytes per selected row.
 */
final class SelectedRows implements RowList {
  private final RowList base;
  private final int[] indices;

  SelectedRows(RowList base, int[] indices) {
    this.base = base;
    this.indices = indices;
  }

  @Override
  public int size() {
    return indices.length;
  }

  @Override
  public Row get(int index) {
    Objects.checkIndex(index, indices.length);
    return base.get(indices[index]);
  }
}
