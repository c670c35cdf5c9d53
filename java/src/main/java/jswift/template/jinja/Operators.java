package jswift.template.jinja;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Python's arithmetic, concatenation, subscript and slice semantics on template values: {@code /} is true
 * division, {@code //} and {@code %} floor toward negative infinity, {@code +} joins strings and lists but
 * refuses {@code str + int} (a template error in transformers too), {@code [::-1]} reverses,
 * negative indexes count from the end, and an index out of range yields undefined as jinja2's
 * {@code getitem} does.
 */
final class Operators {
  private Operators() {}

  static Object binary(String op, Object a, Object b) {
    if (a instanceof Undefined u) throw u.fail();
    if (b instanceof Undefined u) throw u.fail();
    switch (op) {
      case "+":
        if (a instanceof String x && b instanceof String y) return x + y;
        if (a instanceof PyTuple x && b instanceof PyTuple y) return new PyTuple(concat(x, y));
        if (a instanceof List<?> x && b instanceof List<?> y && !(a instanceof PyTuple) && !(b instanceof PyTuple)) return concat(x, y);
        if (Py.isNumber(a) && Py.isNumber(b)) {
          if (Py.isInt(a) && Py.isInt(b)) return Math.addExact(Py.asLong(a), Py.asLong(b));
          return Py.asDouble(a) + Py.asDouble(b);
        }
        if (a instanceof String) throw typeError("can only concatenate str (not \"" + Py.typeName(b) + "\") to str");
        if (a instanceof List && !(a instanceof PyTuple)) {
          throw typeError("can only concatenate list (not \"" + Py.typeName(b) + "\") to list");
        }
        break;
      case "-":
        if (Py.isNumber(a) && Py.isNumber(b)) {
          if (Py.isInt(a) && Py.isInt(b)) return Math.subtractExact(Py.asLong(a), Py.asLong(b));
          return Py.asDouble(a) - Py.asDouble(b);
        }
        break;
      case "*":
        if (Py.isNumber(a) && Py.isNumber(b)) {
          if (Py.isInt(a) && Py.isInt(b)) return Math.multiplyExact(Py.asLong(a), Py.asLong(b));
          return Py.asDouble(a) * Py.asDouble(b);
        }
        if (Py.isInt(b) && (a instanceof String || a instanceof List)) return repeat(a, Py.asLong(b));
        if (Py.isInt(a) && (b instanceof String || b instanceof List)) return repeat(b, Py.asLong(a));
        break;
      case "/":
        if (Py.isNumber(a) && Py.isNumber(b)) {
          if (Py.asDouble(b) == 0) throw zeroDivision("division by zero");
          return Py.asDouble(a) / Py.asDouble(b);
        }
        break;
      case "//":
        if (Py.isNumber(a) && Py.isNumber(b)) {
          if (Py.isInt(a) && Py.isInt(b)) {
            if (Py.asLong(b) == 0) throw zeroDivision("integer division or modulo by zero");
            return Math.floorDiv(Py.asLong(a), Py.asLong(b));
          }
          if (Py.asDouble(b) == 0) throw zeroDivision("float floor division by zero");
          return Math.floor(Py.asDouble(a) / Py.asDouble(b));
        }
        break;
      case "%":
        if (a instanceof String fmt) return PercentFormat.format(fmt, b);
        if (Py.isNumber(a) && Py.isNumber(b)) {
          if (Py.isInt(a) && Py.isInt(b)) {
            if (Py.asLong(b) == 0) throw zeroDivision("integer division or modulo by zero");
            return Math.floorMod(Py.asLong(a), Py.asLong(b));
          }
          double x = Py.asDouble(a), y = Py.asDouble(b);
          if (y == 0) throw zeroDivision("float modulo");
          double r = x % y;
          return r != 0 && (r < 0) != (y < 0) ? r + y : r;
        }
        break;
      case "**":
        if (Py.isNumber(a) && Py.isNumber(b)) {
          if (Py.isInt(a) && Py.isInt(b) && Py.asLong(b) >= 0) return powExact(Py.asLong(a), Py.asLong(b));
          return Math.pow(Py.asDouble(a), Py.asDouble(b));
        }
        break;
      default:
        throw new IllegalStateException(op);
    }
    throw typeError("unsupported operand type(s) for " + op + ": '" + Py.typeName(a) + "' and '" + Py.typeName(b) + "'");
  }

  static Object unary(String op, Object v) {
    if (v instanceof Undefined u) throw u.fail();
    if (!Py.isNumber(v)) throw typeError("bad operand type for unary " + op + ": '" + Py.typeName(v) + "'");
    if (op.equals("+")) return Py.isInt(v) ? (Object) Py.asLong(v) : v;
    return Py.isInt(v) ? (Object) Math.negateExact(Py.asLong(v)) : (Object) (-(Double) v);
  }

  private static List<Object> concat(List<?> x, List<?> y) {
    List<Object> out = new ArrayList<>(x.size() + y.size());
    out.addAll(x);
    out.addAll(y);
    return out;
  }

  private static Object repeat(Object seq, long n) {
    if (seq instanceof String s) return n <= 0 ? "" : s.repeat(Math.toIntExact(n));
    List<?> l = (List<?>) seq;
    List<Object> out = new ArrayList<>();
    for (long i = 0; i < n; i++) out.addAll(l);
    return seq instanceof PyTuple ? new PyTuple(out) : out;
  }

  private static long powExact(long base, long exp) {
    long result = 1;
    for (long i = 0; i < exp; i++) result = Math.multiplyExact(result, base);
    return result;
  }

  static TemplateException typeError(String msg) {
    return TemplateException.runtime("TypeError: " + msg);
  }

  private static TemplateException zeroDivision(String msg) {
    return TemplateException.runtime("ZeroDivisionError: " + msg);
  }

  /** Python {@code obj[key]} where it exists; MISSING where Python raises a lookup or type error. */
  static Object item(Object obj, Object key) {
    if (key instanceof SliceValue s) {
      if (obj instanceof String str) return sliceString(str, s);
      if (obj instanceof List<?> l) {
        List<Object> out = sliceList(l, s);
        return obj instanceof PyTuple ? new PyTuple(out) : out;
      }
      return Py.MISSING;
    }
    if (obj instanceof Map<?, ?> m) {
      Object k = Py.findKey(m, key);
      return k == Py.MISSING ? Py.MISSING : m.get(k);
    }
    if (Py.isInt(key)) {
      long i = Py.asLong(key);
      if (obj instanceof List<?> l) {
        if (i < 0) i += l.size();
        return i >= 0 && i < l.size() ? l.get((int) i) : Py.MISSING;
      }
      if (obj instanceof String s) {
        int n = PyStrings.length(s);
        if (i < 0) i += n;
        if (i < 0 || i >= n) return Py.MISSING;
        int at = s.offsetByCodePoints(0, (int) i);
        return Character.toString(s.codePointAt(at));
      }
    }
    return Py.MISSING;
  }

  /** Python {@code obj[start:stop:step]}: strings, lists and tuples slice, anything else raises. */
  static Object slice(Object obj, SliceValue s) {
    if (obj instanceof Undefined u) throw u.fail();
    Object v = item(obj, s);
    if (v != Py.MISSING) return v;
    if (obj instanceof Map) throw typeError("unhashable type: 'slice'");
    throw typeError("'" + Py.typeName(obj) + "' object is not subscriptable");
  }

  /** A slice object {@code start:stop:step}; nulls mean "absent". */
  record SliceValue(Long start, Long stop, Long step) {}

  /** The indexes a Python slice selects from a sequence of length n. */
  static int[] sliceIndexes(int n, SliceValue s) {
    long step = s.step() == null ? 1 : s.step();
    if (step == 0) throw TemplateException.runtime("ValueError: slice step cannot be zero");
    long start, stop;
    if (step > 0) {
      start = s.start() == null ? 0 : clamp(s.start(), n, 0, n);
      stop = s.stop() == null ? n : clamp(s.stop(), n, 0, n);
    } else {
      start = s.start() == null ? n - 1 : clamp(s.start(), n, -1, n - 1);
      stop = s.stop() == null ? -1 : clamp(s.stop(), n, -1, n - 1);
    }
    List<Integer> idx = new ArrayList<>();
    for (long i = start; step > 0 ? i < stop : i > stop; i += step) idx.add((int) i);
    return idx.stream().mapToInt(Integer::intValue).toArray();
  }

  private static long clamp(long v, int n, long lo, long hi) {
    if (v < 0) v += n;
    return Math.max(lo, Math.min(hi, v));
  }

  private static List<Object> sliceList(List<?> l, SliceValue s) {
    List<Object> out = new ArrayList<>();
    for (int i : sliceIndexes(l.size(), s)) out.add(l.get(i));
    return out;
  }

  private static String sliceString(String str, SliceValue s) {
    int[] cps = PyStrings.codePoints(str);
    StringBuilder sb = new StringBuilder();
    for (int i : sliceIndexes(cps.length, s)) sb.appendCodePoint(cps[i]);
    return sb.toString();
  }
}
