package jswift.template.jinja;

import java.math.BigDecimal;
import java.math.RoundingMode;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * jinja2's built-in filters that chat templates use, with jinja2 3.1's argument names and defaults, plus
 * transformers' {@code tojson}. Quirks are kept on purpose: {@code sort} and {@code unique} ignore case by
 * default, {@code select}/{@code map}/{@code reverse} return one-shot iterators (see {@link PyIterator}),
 * {@code title} capitalises after {@code -}, spaces and brackets, and {@code default} replaces only
 * undefined values unless its second argument is true.
 */
final class Filters {
  private Filters() {}

  private static final Set<String> NAMES = Set.of(
      "abs", "attr", "batch", "capitalize", "center", "count", "d", "default", "dictsort", "e", "escape", "first",
      "float", "format", "indent", "int", "items", "join", "last", "length", "list", "lower", "map", "max", "min",
      "reject", "rejectattr", "replace", "reverse", "round", "safe", "select", "selectattr", "sort", "string",
      "sum", "title", "tojson", "trim", "unique", "upper", "wordcount");

  static boolean exists(String name) {
    return NAMES.contains(name);
  }

  static Object apply(Interpreter ip, String name, Object v, List<Object> a, Map<String, Object> kw) {
    switch (name) {
      case "abs": {
        new Args(name, a, kw);
        if (v instanceof Undefined u) throw u.fail();
        if (Py.isInt(v)) return Math.abs(Py.asLong(v));
        if (v instanceof Double d) return Math.abs(d);
        throw Operators.typeError("bad operand type for abs(): '" + Py.typeName(v) + "'");
      }
      case "attr":
        return Attributes.getattr(v, (String) new Args(name, a, kw, "name").require(0));
      case "batch": {
        Args args = new Args(name, a, kw, "linecount", "fill_with");
        long n = args.integer(0, 1);
        if (n <= 0) throw TemplateException.runtime("FilterArgumentError: linecount must be positive");
        List<Object> out = new ArrayList<>();
        List<Object> cur = new ArrayList<>();
        for (Object o : Py.iterate(v)) {
          cur.add(o);
          if (cur.size() == n) {
            out.add(cur);
            cur = new ArrayList<>();
          }
        }
        if (!cur.isEmpty()) {
          if (args.has(1) && args.get(1, null) != null) while (cur.size() < n) cur.add(args.get(1, null));
          out.add(cur);
        }
        return new PyIterator("generator", out);
      }
      case "capitalize":
        new Args(name, a, kw);
        return PyStrings.capitalize(Py.str(v));
      case "center": {
        return PyStrings.center(Py.str(v), new Args(name, a, kw, "width").integer(0, 80), " ");
      }
      case "count", "length":
        new Args(name, a, kw);
        return Py.len(v);
      case "d", "default": {
        Args args = new Args(name, a, kw, "default_value", "boolean");
        if (v instanceof Undefined || (args.bool(1, false) && !Py.truthy(v))) return args.get(0, "");
        return v;
      }
      case "dictsort": {
        Args args = new Args(name, a, kw, "case_sensitive", "by", "reverse");
        if (!(v instanceof Map<?, ?> m)) throw Operators.typeError("dictsort expects a mapping");
        boolean cs = args.bool(0, false);
        String by = args.string(1, "key");
        if (!by.equals("key") && !by.equals("value")) throw TemplateException.runtime("FilterArgumentError: You can only sort by either \"key\" or \"value\"");
        int pos = by.equals("key") ? 0 : 1;
        List<Object> items = new ArrayList<>();
        for (Map.Entry<?, ?> e : m.entrySet()) items.add(PyTuple.of(e.getKey(), e.getValue()));
        items.sort((x, y) -> Py.compare(sortKey(((PyTuple) x).get(pos), cs), sortKey(((PyTuple) y).get(pos), cs), "<"));
        if (args.bool(2, false)) Collections.reverse(items);
        return items;
      }
      case "e", "escape": {
        new Args(name, a, kw);
        return Py.str(v).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&#34;").replace("'", "&#39;");
      }
      case "first": {
        new Args(name, a, kw);
        List<Object> items = Py.iterate(v);
        return items.isEmpty() ? Undefined.because("No first item, sequence was empty.") : items.get(0);
      }
      case "last": {
        new Args(name, a, kw);
        if (v instanceof PyIterator it) throw Operators.typeError("'" + it.typeName() + "' object is not reversible");
        List<Object> items = Py.iterate(v);
        return items.isEmpty() ? Undefined.because("No last item, sequence was empty.") : items.get(items.size() - 1);
      }
      case "float": {
        Object dflt = new Args(name, a, kw, "default").get(0, 0.0);
        Object f = Conversions.toFloat(v);
        return f == null ? dflt : f;
      }
      case "int": {
        Args args = new Args(name, a, kw, "default", "base");
        Object i = Conversions.toInt(v, args.integer(1, 10));
        return i == null ? args.get(0, 0L) : i;
      }
      case "format": {
        if (!a.isEmpty() && !kw.isEmpty()) throw TemplateException.runtime("FilterArgumentError: can't handle positional and keyword arguments at the same time");
        return PercentFormat.format(Py.str(v), kw.isEmpty() ? new PyTuple(a) : new LinkedHashMap<Object, Object>(kw));
      }
      case "indent":
        return indent(Py.str(v), new Args(name, a, kw, "width", "first", "blank"));
      case "items": {
        new Args(name, a, kw);
        if (v instanceof Undefined) return new PyIterator("generator", new ArrayList<>());
        if (!(v instanceof Map<?, ?> m)) throw Operators.typeError("Can only get item pairs from a mapping.");
        List<Object> out = new ArrayList<>();
        for (Map.Entry<?, ?> e : m.entrySet()) out.add(PyTuple.of(e.getKey(), e.getValue()));
        return new PyIterator("generator", out);
      }
      case "join": {
        Args args = new Args(name, a, kw, "d", "attribute");
        String sep = Py.str(args.get(0, ""));
        List<Object> items = Py.iterate(v);
        Object attribute = args.get(1, null);
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < items.size(); i++) {
          if (i > 0) sb.append(sep);
          sb.append(Py.str(attribute == null ? items.get(i) : attrPath(items.get(i), attribute)));
        }
        return sb.toString();
      }
      case "list":
        new Args(name, a, kw);
        return Py.iterate(v);
      case "lower":
        new Args(name, a, kw);
        return PyStrings.lower(Py.str(v));
      case "upper":
        new Args(name, a, kw);
        return PyStrings.upper(Py.str(v));
      case "map":
        return map(ip, v, a, kw);
      case "max", "min": {
        Args args = new Args(name, a, kw, "case_sensitive", "attribute");
        List<Object> items = Py.iterate(v);
        if (items.isEmpty()) return Undefined.because("No aggregated item, sequence was empty.");
        boolean cs = args.bool(0, false);
        Object attribute = args.get(1, null);
        Object best = items.get(0);
        for (Object o : items.subList(1, items.size())) {
          int c = Py.compare(sortKey(attribute == null ? o : attrPath(o, attribute), cs),
              sortKey(attribute == null ? best : attrPath(best, attribute), cs), "<");
          if (name.equals("max") ? c > 0 : c < 0) best = o;
        }
        return best;
      }
      case "reject", "select", "rejectattr", "selectattr":
        return select(ip, name, v, a, kw);
      case "replace": {
        Args args = new Args(name, a, kw, "old", "new", "count");
        long count = args.get(2, null) == null ? -1 : args.integer(2, -1);
        return PyStrings.replace(Py.str(v), Py.str(args.require(0)), Py.str(args.require(1)), count);
      }
      case "reverse": {
        new Args(name, a, kw);
        if (v instanceof String s) return new StringBuilder(s).reverse().toString();
        if (v instanceof PyIterator it) {
          List<Object> items = it.drain();
          Collections.reverse(items);
          return items;
        }
        List<Object> items = Py.iterate(v);
        Collections.reverse(items);
        return new PyIterator(v instanceof Map ? "dict_reversekeyiterator" : "list_reverseiterator", items);
      }
      case "round":
        return round(v, new Args(name, a, kw, "precision", "method"));
      case "safe":
        new Args(name, a, kw);
        return v instanceof String ? v : Py.str(v);
      case "sort": {
        Args args = new Args(name, a, kw, "reverse", "case_sensitive", "attribute");
        List<Object> items = Py.iterate(v);
        boolean cs = args.bool(1, false);
        Object attribute = args.get(2, null);
        // attribute="a, b" sorts by a, then b.
        List<Object> attrs = new ArrayList<>();
        if (attribute instanceof String s) for (String part : s.split(",")) attrs.add(part.strip());
        else attrs.add(attribute);
        Comparator<Object> cmp = (x, y) -> {
          for (Object at : attrs) {
            Object kx = sortKey(at == null ? x : attrPath(x, at), cs);
            Object ky = sortKey(at == null ? y : attrPath(y, at), cs);
            int c = Py.compare(kx, ky, "<");
            if (c != 0) return c;
          }
          return 0;
        };
        // Python sorts reverse=True stably too: equal keys keep their order.
        items.sort(args.bool(0, false) ? cmp.reversed() : cmp);
        return items;
      }
      case "string":
        new Args(name, a, kw);
        return Py.str(v);
      case "sum": {
        Args args = new Args(name, a, kw, "attribute", "start");
        Object total = args.get(1, 0L);
        Object attribute = args.get(0, null);
        for (Object o : Py.iterate(v)) total = Operators.binary("+", total, attribute == null ? o : attrPath(o, attribute));
        return total;
      }
      case "title": {
        new Args(name, a, kw);
        return title(Py.str(v));
      }
      case "tojson": {
        Args args = new Args(name, a, kw, "ensure_ascii", "indent", "separators", "sort_keys");
        return Json.dumps(v, Json.options(args.bool(0, false), args.get(1, null), args.get(2, null), args.bool(3, false)));
      }
      case "trim": {
        String chars = new Args(name, a, kw, "chars").string(0, null);
        return PyStrings.strip(Py.str(v), chars, true, true);
      }
      case "unique": {
        Args args = new Args(name, a, kw, "case_sensitive", "attribute");
        boolean cs = args.bool(0, false);
        Object attribute = args.get(1, null);
        List<Object> seen = new ArrayList<>();
        List<Object> out = new ArrayList<>();
        for (Object o : Py.iterate(v)) {
          Object k = sortKey(attribute == null ? o : attrPath(o, attribute), cs);
          if (seen.stream().noneMatch(s -> Py.eq(s, k))) {
            seen.add(k);
            out.add(o);
          }
        }
        return new PyIterator("generator", out);
      }
      case "wordcount":
        new Args(name, a, kw);
        return (long) java.util.regex.Pattern.compile("\\w+", java.util.regex.Pattern.UNICODE_CHARACTER_CLASS).matcher(Py.str(v)).results().count();
      default:
        // Reached only for a name the parser let through inside an if (jinja2 fails when it runs).
        throw TemplateException.runtime("TemplateRuntimeError: No filter named '" + name + "' found.");
    }
  }

  /** jinja2 compares strings case-insensitively unless case_sensitive is set. */
  private static Object sortKey(Object v, boolean caseSensitive) {
    return !caseSensitive && v instanceof String s ? PyStrings.lower(s) : v;
  }

  /** jinja2's attribute getter: "a.b.0" walks items (then attributes), integers index lists. */
  static Object attrPath(Object item, Object attribute) {
    if (!(attribute instanceof String path)) return Attributes.getitem(item, attribute);
    Object cur = item;
    for (String part : path.split("\\.", -1)) {
      Object key = part.chars().allMatch(Character::isDigit) && !part.isEmpty() ? (Object) Long.parseLong(part) : part;
      cur = Attributes.getitem(cur, key);
    }
    return cur;
  }

  private static String title(String s) {
    // jinja2 splits before runs of "-", whitespace and opening brackets, then upper-cases each piece's head.
    StringBuilder sb = new StringBuilder();
    java.util.regex.Matcher m = java.util.regex.Pattern.compile("[-\\s({\\[<]+", java.util.regex.Pattern.UNICODE_CHARACTER_CLASS).matcher(s);
    int last = 0;
    while (m.find()) {
      titlePiece(s.substring(last, m.start()), sb);
      titlePiece(m.group(), sb);
      last = m.end();
    }
    titlePiece(s.substring(last), sb);
    return sb.toString();
  }

  private static void titlePiece(String piece, StringBuilder sb) {
    if (piece.isEmpty()) return;
    int first = piece.codePointAt(0);
    sb.append(PyStrings.upper(Character.toString(first))).append(PyStrings.lower(piece.substring(Character.charCount(first))));
  }

  private static String indent(String s, Args args) {
    Object width = args.get(0, 4L);
    String pad = width instanceof String w ? w : " ".repeat((int) Math.max(0, Py.asLong(width)));
    boolean first = args.bool(1, false), blank = args.bool(2, false);
    List<String> lines = PyStrings.splitlines(s + "\n");
    StringBuilder sb = new StringBuilder();
    if (blank) {
      for (int i = 0; i < lines.size(); i++) sb.append(i > 0 ? "\n" + pad : "").append(lines.get(i));
    } else {
      sb.append(lines.get(0));
      for (String line : lines.subList(1, lines.size())) sb.append('\n').append(line.isEmpty() ? "" : pad).append(line);
    }
    return first ? pad + sb : sb.toString();
  }

  private static Object round(Object v, Args args) {
    long precision = args.integer(0, 0);
    String method = args.string(1, "common");
    if (!Set.of("common", "ceil", "floor").contains(method)) {
      throw TemplateException.runtime("FilterArgumentError: method must be common, ceil or floor");
    }
    if (v instanceof Undefined u) throw u.fail();
    if (!Py.isNumber(v)) throw Operators.typeError("type " + Py.typeName(v) + " doesn't define __round__ method");
    if (method.equals("common")) {
      // Python's round(x, n): an int stays an int; a float rounds its exact value half-to-even.
      if (Py.isInt(v)) return precision >= 0 ? (Object) Py.asLong(v) : (Object) new BigDecimal(Py.asLong(v)).setScale((int) precision, RoundingMode.HALF_EVEN).longValue();
      double d = (Double) v;
      if (Double.isNaN(d) || Double.isInfinite(d)) return d;
      double r = new BigDecimal(d).setScale((int) precision, RoundingMode.HALF_EVEN).doubleValue();
      return Math.copySign(r, d); // BigDecimal has no -0.0; Python keeps the sign: round(-0.4) == -0.0
    }
    double scale = Math.pow(10, precision);
    double x = Py.asDouble(v) * scale;
    return (method.equals("ceil") ? Math.ceil(x) : Math.floor(x)) / scale;
  }

  private static Object map(Interpreter ip, Object v, List<Object> a, Map<String, Object> kw) {
    List<Object> items = Py.iterate(v);
    List<Object> out = new ArrayList<>(items.size());
    if (a.isEmpty() && kw.containsKey("attribute")) {
      Args args = new Args("map", a, kw, "attribute", "default");
      Object attribute = args.get(0, null);
      for (Object o : items) {
        Object r = attrPath(o, attribute);
        out.add(r instanceof Undefined && args.has(1) ? args.get(1, null) : r);
      }
    } else {
      if (a.isEmpty()) throw TemplateException.runtime("FilterArgumentError: map requires a filter argument");
      String filter = Py.str(a.get(0));
      if (!exists(filter)) throw TemplateException.runtime("TemplateRuntimeError: No filter named '" + filter + "' found.");
      List<Object> rest = a.subList(1, a.size());
      for (Object o : items) out.add(apply(ip, filter, o, rest, kw));
    }
    return new PyIterator("generator", out);
  }

  private static Object select(Interpreter ip, String name, Object v, List<Object> a, Map<String, Object> kw) {
    boolean byAttr = name.endsWith("attr");
    boolean keep = name.startsWith("select");
    int at = 0;
    Object attribute = null;
    if (byAttr) {
      if (a.isEmpty()) throw TemplateException.runtime("FilterArgumentError: Missing parameter for attribute name");
      attribute = a.get(at++);
    }
    String test = a.size() > at ? Py.str(a.get(at++)) : null;
    if (test != null && !Tests.exists(test)) throw TemplateException.runtime("TemplateRuntimeError: No test named '" + test + "' found.");
    List<Object> testArgs = a.subList(Math.min(at, a.size()), a.size());
    List<Object> out = new ArrayList<>();
    for (Object o : Py.iterate(v)) {
      Object probe = byAttr ? attrPath(o, attribute) : o;
      boolean ok = test == null ? Py.truthy(probe) : Tests.apply(ip, test, probe, testArgs, kw);
      if (ok == keep) out.add(o);
    }
    return new PyIterator("generator", out);
  }
}
