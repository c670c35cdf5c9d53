package jswift.template.jinja;

import java.util.ArrayList;
import java.util.List;

/**
 * A one-shot Python iterator, as jinja2's {@code select}, {@code map}, {@code selectattr}, {@code unique},
 * {@code reverse} and {@code items} filters return. Its quirks matter for exact rendering: it is always
 * truthy (even when empty), has no length, cannot be indexed, and a second iteration sees nothing.
 * Chat templates that forget {@code | list} behave here exactly as they do in transformers.
 */
final class PyIterator {
  private final String typeName;
  private List<Object> remaining;

  PyIterator(String typeName, List<Object> items) {
    this.typeName = typeName;
    this.remaining = items;
  }

  /** The items not consumed yet; the iterator is exhausted afterwards. */
  List<Object> drain() {
    List<Object> out = remaining;
    remaining = new ArrayList<>();
    return out;
  }

  String typeName() {
    return typeName;
  }

  @Override
  public String toString() {
    return "<" + typeName + " object>";
  }
}
