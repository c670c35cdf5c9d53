package jswift.data;

import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/** Several lists one after another (datasets given together in {@code --dataset}, or a folder's files). */
final class ConcatRows implements RowList {
  private final List<RowList> parts;
  private final int[] starts;
  private final int size;

  ConcatRows(List<RowList> parts) {
    this.parts = List.copyOf(parts);
    this.starts = new int[parts.size()];
    long total = 0;
    for (int i = 0; i < parts.size(); i++) {
      starts[i] = (int) total;
      total += parts.get(i).size();
      if (total > Integer.MAX_VALUE - 8) throw new IllegalArgumentException("more than 2^31 rows in all");
    }
    this.size = (int) total;
  }

  @Override
  public int size() {
    return size;
  }

  @Override
  public Row get(int index) {
    Objects.checkIndex(index, size);
    int part = Arrays.binarySearch(starts, index);
    // equal starts belong to empty parts: take the last part starting there, the non-empty one
    if (part >= 0) while (part + 1 < starts.length && starts[part + 1] == index) part++;
    else part = -part - 2;
    return parts.get(part).get(index - starts[part]);
  }
}
