package jswift.template.jinja;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The object {@code namespace(...)} returns: the one value a template may mutate, with
 * {@code {% set ns.attr = value %}}, so state survives the per-iteration scope of a for loop (the Qwen3
 * template tracks {@code ns.last_query_index} this way).
 */
final class Namespace {
  final Map<String, Object> attrs = new LinkedHashMap<>();

  @Override
  public String toString() {
    return "<Namespace " + Py.repr(attrs) + ">";
  }
}
