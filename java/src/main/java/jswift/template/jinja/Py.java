package jswift.template.jinja;

import java.math.BigInteger;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Python value semantics for the template's values. The value model: Python None is Java {@code null},
 * bool is {@link Boolean}, int is {@link Long}, float is {@link Double}, str is {@link String}, list is a
 * mutable {@link List}, tuple is {@link PyTuple}, dict is an insertion-ordered {@link Map}, plus
 * {@link Undefined}, {@link Namespace}, {@link PyIterator} and {@link PyCallable}. This class gives them
 * Python's truthiness, {@code str()} and {@code repr()} (so {@code True}, {@code None}, {@code 1.0},
 * {@code {'a': [1, 2]}} print as in transformers), equality, ordering and iteration.
 */
final class Py {
  private Py() {}

  /** Converts caller data (Jackson-parsed JSON, boxed Java numbers) into the value model, deeply. */
  static Object fromJava(Object v) {
    if (v == null || v instanceof String || v instanceof Boolean || v instanceof Long || v instanceof Double) return v;
    if (v instanceof Integer || v instanceof Short || v instanceof Byte) return ((Number) v).longValue();
    if (v instanceof BigInteger b) return b.bitLength() < 64 ? (Object) b.longValue() : (Object) b.doubleValue();
    if (v instanceof Number n) return n.doubleValue();
    if (v instanceof Character c) return c.toString();
    if (v instanceof CharSequence cs) return cs.toString();
    if (v instanceof com.fasterxml.jackson.databind.JsonNode node) return fromJson(node);
    if (v instanceof Map<?, ?> m) {
      Map<Object, Object> out = new LinkedHashMap<>();
      for (Map.Entry<?, ?> e : m.entrySet()) out.put(fromJava(e.getKey()), fromJava(e.getValue()));
      return out;
    }
    if (v instanceof PyTuple) return v;
    if (v instanceof Collection<?> c) {
      List<Object> out = new ArrayList<>(c.size());
      for (Object o : c) out.add(fromJava(o));
      return out;
    }
    if (v instanceof Object[] arr) return fromJava(List.of(arr));
    return v;
  }

  private static Object fromJson(com.fasterxml.jackson.databind.JsonNode n) {
    if (n.isNull() || n.isMissingNode()) return null;
    if (n.isTextual()) return n.textValue();
    if (n.isBoolean()) return n.booleanValue();
    if (n.isIntegralNumber()) return n.canConvertToLong() ? (Object) n.longValue() : (Object) n.doubleValue();
    if (n.isNumber()) return n.doubleValue();
    if (n.isArray()) {
      List<Object> out = new ArrayList<>(n.size());
      for (com.fasterxml.jackson.databind.JsonNode c : n) out.add(fromJson(c));
      return out;
    }
    Map<Object, Object> out = new LinkedHashMap<>();
    for (Iterator<Map.Entry<String, com.fasterxml.jackson.databind.JsonNode>> it = n.fields(); it.hasNext(); ) {
      Map.Entry<String, com.fasterxml.jackson.databind.JsonNode> e = it.next();
      out.put(e.getKey(), fromJson(e.getValue()));
    }
    return out;
  }

  static boolean truthy(Object v) {
    if (v == null || v instanceof Undefined) return false;
    if (v instanceof Boolean b) return b;
    if (v instanceof Long l) return l != 0;
    if (v instanceof Double d) return d != 0.0;
    if (v instanceof String s) return !s.isEmpty();
    if (v instanceof Collection<?> c) return !c.isEmpty();
    if (v instanceof Map<?, ?> m) return !m.isEmpty();
    return true;
  }

  static boolean isNumber(Object v) {
    return v instanceof Long || v instanceof Double || v instanceof Boolean;
  }

  static boolean isInt(Object v) {
    return v instanceof Long || v instanceof Boolean;
  }

  static long asLong(Object v) {
    if (v instanceof Boolean b) return b ? 1 : 0;
    return (Long) v;
  }

  static double asDouble(Object v) {
    if (v instanceof Boolean b) return b ? 1 : 0;
    return ((Number) v).doubleValue();
  }

  static String typeName(Object v) {
    if (v == null) return "NoneType";
    if (v instanceof Boolean) return "bool";
    if (v instanceof Long) return "int";
    if (v instanceof Double) return "float";
    if (v instanceof String) return "str";
    if (v instanceof PyTuple) return "tuple";
    if (v instanceof List) return "list";
    if (v instanceof Map) return "dict";
    if (v instanceof Undefined) return "Undefined";
    if (v instanceof Namespace) return "Namespace";
    if (v instanceof PyIterator it) return it.typeName();
    if (v instanceof LoopInfo) return "LoopContext";
    if (v instanceof PyCallable) return "function";
    return v.getClass().getSimpleName();
  }

  /** Python {@code str(v)}, which is also what {@code {{ v }}} prints (undefined prints nothing). */
  static String str(Object v) {
    if (v instanceof String s) return s;
    if (v instanceof Undefined) return "";
    return repr(v);
  }

  /** Python {@code repr(v)}. */
  static String repr(Object v) {
    if (v == null) return "None";
    if (v instanceof String s) return PyStrings.repr(s);
    if (v instanceof Boolean b) return b ? "True" : "False";
    if (v instanceof Long l) return l.toString();
    if (v instanceof Double d) return floatRepr(d);
    if (v instanceof Undefined) return "Undefined";
    if (v instanceof PyTuple t) {
      StringBuilder sb = new StringBuilder("(");
      for (int i = 0; i < t.size(); i++) sb.append(i > 0 ? ", " : "").append(repr(t.get(i)));
      return sb.append(t.size() == 1 ? ",)" : ")").toString();
    }
    if (v instanceof List<?> l) {
      StringBuilder sb = new StringBuilder("[");
      for (int i = 0; i < l.size(); i++) sb.append(i > 0 ? ", " : "").append(repr(l.get(i)));
      return sb.append(']').toString();
    }
    if (v instanceof Map<?, ?> m) {
      StringBuilder sb = new StringBuilder("{");
      boolean first = true;
      for (Map.Entry<?, ?> e : m.entrySet()) {
        sb.append(first ? "" : ", ").append(repr(e.getKey())).append(": ").append(repr(e.getValue()));
        first = false;
      }
      return sb.append('}').toString();
    }
    return v.toString();
  }

  /** Python's float repr: the shortest digits that round-trip, fixed notation for 1e-4 <= |d| < 1e16. */
  static String floatRepr(double d) {
    if (Double.isNaN(d)) return "nan";
    if (Double.isInfinite(d)) return d > 0 ? "inf" : "-inf";
    return jswift.template.PythonJson.floatRepr(d);
  }

  /** Python {@code ==}. Numbers compare across int, float and bool; a tuple never equals a list. */
  static boolean eq(Object a, Object b) {
    if (a == b) return true;
    if (a == null || b == null) return false;
    if (a instanceof Undefined || b instanceof Undefined) return a instanceof Undefined && b instanceof Undefined;
    if (isNumber(a) && isNumber(b)) {
      if (isInt(a) && isInt(b)) return asLong(a) == asLong(b);
      return asDouble(a) == asDouble(b);
    }
    if (a instanceof String || b instanceof String) return a.equals(b);
    if (a instanceof List<?> x && b instanceof List<?> y) {
      if ((a instanceof PyTuple) != (b instanceof PyTuple) || x.size() != y.size()) return false;
      for (int i = 0; i < x.size(); i++) if (!eq(x.get(i), y.get(i))) return false;
      return true;
    }
    if (a instanceof Map<?, ?> x && b instanceof Map<?, ?> y) {
      if (x.size() != y.size()) return false;
      for (Map.Entry<?, ?> e : x.entrySet()) {
        Object key = findKey(y, e.getKey());
        if (key == MISSING || !eq(e.getValue(), y.get(key))) return false;
      }
      return true;
    }
    return a.equals(b);
  }

  static final Object MISSING = new Object();

  /** The key of {@code m} equal to {@code key} in Python's sense (1 == 1.0 == True), or MISSING. */
  static Object findKey(Map<?, ?> m, Object key) {
    if (m.containsKey(key)) return key;
    if (key instanceof String || key == null) return MISSING;
    for (Object k : m.keySet()) if (!(k instanceof String) && eq(k, key)) return k;
    return MISSING;
  }

  /** Python ordering ({@code <}): numbers, strings by code point, lists and tuples lexicographically. */
  static int compare(Object a, Object b, String op) {
    if (a instanceof Undefined u) throw u.fail();
    if (b instanceof Undefined u) throw u.fail();
    if (isNumber(a) && isNumber(b)) {
      if (isInt(a) && isInt(b)) return Long.compare(asLong(a), asLong(b));
      return Double.compare(asDouble(a), asDouble(b));
    }
    if (a instanceof String x && b instanceof String y) return PyStrings.compare(x, y);
    if (a instanceof List<?> x && b instanceof List<?> y && (a instanceof PyTuple) == (b instanceof PyTuple)) {
      for (int i = 0; i < Math.min(x.size(), y.size()); i++) {
        if (!eq(x.get(i), y.get(i))) return compare(x.get(i), y.get(i), op);
      }
      return Integer.compare(x.size(), y.size());
    }
    throw TemplateException.runtime("TypeError: '" + op + "' not supported between instances of '" + typeName(a)
        + "' and '" + typeName(b) + "'");
  }

  /** The items of an iterable value: a string's characters, a dict's keys, undefined as nothing. */
  static List<Object> iterate(Object v) {
    if (v instanceof List<?> l) return new ArrayList<>(l);
    if (v instanceof Map<?, ?> m) return new ArrayList<>(m.keySet());
    if (v instanceof String s) {
      List<Object> out = new ArrayList<>();
      s.codePoints().forEach(cp -> out.add(Character.toString(cp)));
      return out;
    }
    if (v instanceof PyIterator it) return it.drain();
    if (v instanceof Undefined) return new ArrayList<>();
    throw TemplateException.runtime("TypeError: '" + typeName(v) + "' object is not iterable");
  }

  static boolean isIterable(Object v) {
    return v instanceof List || v instanceof Map || v instanceof String || v instanceof PyIterator || v instanceof Undefined;
  }

  /** Python {@code len(v)}; undefined has length 0. */
  static long len(Object v) {
    if (v instanceof String s) return PyStrings.length(s);
    if (v instanceof Collection<?> c) return c.size();
    if (v instanceof Map<?, ?> m) return m.size();
    if (v instanceof Undefined) return 0;
    throw TemplateException.runtime("TypeError: object of type '" + typeName(v) + "' has no len()");
  }

  /** Python {@code in}: substring, list membership or dict key. */
  static boolean contains(Object container, Object item) {
    if (container instanceof String s) {
      if (item instanceof String t) return s.contains(t);
      if (item instanceof Undefined u) throw u.fail();
      throw TemplateException.runtime("TypeError: 'in <string>' requires string as left operand, not " + typeName(item));
    }
    if (container instanceof Map<?, ?> m) return findKey(m, item) != MISSING;
    if (container instanceof List<?> l) {
      for (Object o : l) if (eq(o, item)) return true;
      return false;
    }
    if (container instanceof PyIterator || container instanceof Undefined) {
      for (Object o : iterate(container)) if (eq(o, item)) return true;
      return false;
    }
    throw TemplateException.runtime("TypeError: argument of type '" + typeName(container) + "' is not iterable");
  }
}
