package jswift.template.jinja;

import java.util.AbstractList;
import java.util.List;

/**
 * A Python tuple: an immutable sequence that prints as {@code (1, 2)} and never equals a list, as in
 * Python. Produced by tuple literals, {@code dict.items()} pairs and {@code loop} unpacking.
 */
final class PyTuple extends AbstractList<Object> {
  private final Object[] items;

  PyTuple(List<?> items) {
    this.items = items.toArray();
  }

  static PyTuple of(Object... items) {
    return new PyTuple(java.util.Arrays.asList(items));
  }

  @Override
  public Object get(int index) {
    return items[index];
  }

  @Override
  public int size() {
    return items.length;
  }
}
