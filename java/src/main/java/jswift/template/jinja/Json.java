package jswift.template.jinja;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Python's {@code json.dumps}, which is what transformers' {@code tojson} filter calls (with
 * {@code ensure_ascii=False} by default and no key sorting). Spacing is Python's, not Jackson's:
 * {@code {"a": 1, "b": [1, 2]}} on one line, {@code ","} and newlines plus indentation when
 * {@code indent} is given; floats print as Python's repr ({@code 1.0}, {@code 1e-05}).
 */
final class Json {
  private Json() {}

  record Options(boolean ensureAscii, String indent, String itemSep, String keySep, boolean sortKeys) {}

  /** The options of {@code json.dumps(x, ensure_ascii, indent, separators, sort_keys)}. */
  static Options options(boolean ensureAscii, Object indent, Object separators, boolean sortKeys) {
    String ind = null;
    if (indent instanceof String s) ind = s;
    else if (Py.isInt(indent)) ind = " ".repeat((int) Math.max(0, Py.asLong(indent)));
    else if (indent != null) throw Operators.typeError("indent must be an int or a str, not " + Py.typeName(indent));
    String itemSep = ind == null ? ", " : ",", keySep = ": ";
    if (separators != null) {
      List<Object> seps = Py.iterate(separators);
      if (seps.size() != 2 || !(seps.get(0) instanceof String) || !(seps.get(1) instanceof String)) {
        throw Operators.typeError("separators must be a pair of strings");
      }
      itemSep = (String) seps.get(0);
      keySep = (String) seps.get(1);
    }
    return new Options(ensureAscii, ind, itemSep, keySep, sortKeys);
  }

  static String dumps(Object v, Options o) {
    StringBuilder sb = new StringBuilder();
    write(v, o, 0, sb);
    return sb.toString();
  }

  private static void write(Object v, Options o, int depth, StringBuilder sb) {
    if (v == null) sb.append("null");
    else if (v instanceof Boolean b) sb.append(b ? "true" : "false");
    else if (v instanceof Long l) sb.append(l);
    else if (v instanceof Double d) sb.append(number(d));
    else if (v instanceof String s) string(s, o.ensureAscii(), sb);
    else if (v instanceof List<?> l) {
      if (l.isEmpty()) {
        sb.append("[]");
        return;
      }
      sb.append('[');
      for (int i = 0; i < l.size(); i++) {
        if (i > 0) sb.append(o.itemSep());
        newline(o, depth + 1, sb);
        write(l.get(i), o, depth + 1, sb);
      }
      newline(o, depth, sb);
      sb.append(']');
    } else if (v instanceof Map<?, ?> m) {
      if (m.isEmpty()) {
        sb.append("{}");
        return;
      }
      List<Map.Entry<String, Object>> entries = new ArrayList<>();
      for (Map.Entry<?, ?> e : m.entrySet()) entries.add(Map.entry(key(e.getKey()), nullSafe(e.getValue())));
      if (o.sortKeys()) entries.sort((x, y) -> PyStrings.compare(x.getKey(), y.getKey()));
      sb.append('{');
      boolean first = true;
      for (Map.Entry<String, Object> e : entries) {
        if (!first) sb.append(o.itemSep());
        first = false;
        newline(o, depth + 1, sb);
        string(e.getKey(), o.ensureAscii(), sb);
        sb.append(o.keySep());
        write(unwrap(e.getValue()), o, depth + 1, sb);
      }
      newline(o, depth, sb);
      sb.append('}');
    } else {
      throw Operators.typeError("Object of type " + Py.typeName(v) + " is not JSON serializable");
    }
  }

  // Map.entry refuses null values; a sentinel stands in for JSON null inside the sorted entry list.
  private static final Object NULL = new Object();

  private static Object nullSafe(Object v) {
    return v == null ? NULL : v;
  }

  private static Object unwrap(Object v) {
    return v == NULL ? null : v;
  }

  private static void newline(Options o, int depth, StringBuilder sb) {
    if (o.indent() != null) sb.append('\n').append(o.indent().repeat(depth));
  }

  /** Python converts non-string keys: True -> "true", None -> "null", 1 -> "1", 1.5 -> "1.5". */
  private static String key(Object k) {
    if (k instanceof String s) return s;
    if (k == null) return "null";
    if (k instanceof Boolean b) return b ? "true" : "false";
    if (k instanceof Long l) return l.toString();
    if (k instanceof Double d) return number(d);
    throw Operators.typeError("keys must be str, int, float, bool or None, not " + Py.typeName(k));
  }

  private static String number(double d) {
    if (Double.isNaN(d)) return "NaN";
    if (Double.isInfinite(d)) return d > 0 ? "Infinity" : "-Infinity";
    return Py.floatRepr(d);
  }

  private static void string(String s, boolean ensureAscii, StringBuilder sb) {
    jswift.template.PythonJson.string(s, ensureAscii, sb);
  }
}
