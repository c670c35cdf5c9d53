package jswift.template.jinja;

import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * jinja2's tests ({@code x is defined}, {@code x is string}, {@code n is divisibleby 3}...), with Python's
 * type rules: a bool is a number but not an integer, a string is iterable and a sequence, undefined is
 * iterable (it iterates as empty) and, as in jinja2, even a sequence.
 */
final class Tests {
  private Tests() {}

  private static final Set<String> NAMES = Set.of(
      "boolean", "callable", "defined", "divisibleby", "eq", "equalto", "==", "escaped", "even", "false", "filter",
      "float", "ge", ">=", "gt", "greaterthan", ">", "in", "integer", "iterable", "le", "<=", "lower", "lt", "lessthan",
      "<", "mapping", "ne", "!=", "none", "number", "odd", "sameas", "sequence", "string", "test", "true", "undefined",
      "upper");

  static boolean exists(String name) {
    return NAMES.contains(name);
  }

  static boolean apply(Interpreter ip, String name, Object v, List<Object> a, Map<String, Object> kw) {
    // Reached with an unknown name only inside an if (jinja2 fails when it runs).
    if (!exists(name)) throw TemplateException.runtime("TemplateRuntimeError: No test named '" + name + "' found.");
    switch (name) {
      case "defined": return !(v instanceof Undefined);
      case "undefined": return v instanceof Undefined;
      case "none": return v == null;
      case "boolean": return v instanceof Boolean;
      case "true": return Boolean.TRUE.equals(v);
      case "false": return Boolean.FALSE.equals(v);
      case "integer": return v instanceof Long;
      case "float": return v instanceof Double;
      case "number": return Py.isNumber(v);
      case "string": return v instanceof String;
      case "mapping": return v instanceof Map;
      case "iterable": return Py.isIterable(v);
      case "sequence": return v instanceof String || v instanceof List || v instanceof Map || v instanceof Undefined;
      case "callable": return v instanceof PyCallable;
      case "escaped": return false;
      case "lower": return v instanceof String s ? s.equals(PyStrings.lower(s)) && !s.equals(PyStrings.upper(s)) : lowerOf(v);
      case "upper": return v instanceof String s ? s.equals(PyStrings.upper(s)) && !s.equals(PyStrings.lower(s)) : upperOf(v);
      case "odd", "even": {
        new Args(name, a, kw);
        Object r = Operators.binary("%", v, 2L);
        return Py.eq(r, name.equals("odd") ? 1L : 0L);
      }
      case "divisibleby": {
        Object n = new Args(name, a, kw, "num").require(0);
        return Py.eq(Operators.binary("%", v, n), 0L);
      }
      case "filter": return Filters.exists(Py.str(v));
      case "test": return exists(Py.str(v));
      default: break;
    }
    Object other = new Args(name, a, kw, "other").require(0);
    return switch (name) {
      case "eq", "equalto", "==" -> Py.eq(v, other);
      case "ne", "!=" -> !Py.eq(v, other);
      case "lt", "lessthan", "<" -> Py.compare(v, other, "<") < 0;
      case "le", "<=" -> Py.compare(v, other, "<=") <= 0;
      case "gt", "greaterthan", ">" -> Py.compare(v, other, ">") > 0;
      case "ge", ">=" -> Py.compare(v, other, ">=") >= 0;
      case "in" -> Py.contains(other, v);
      case "sameas" -> v == other || (v instanceof Long x && other instanceof Long y && x.equals(y) && x >= -5 && x <= 256);
      default -> throw new IllegalStateException("test " + name);
    };
  }

  // jinja2 calls str(value).islower() on non-strings.
  private static boolean lowerOf(Object v) {
    String s = Py.str(v);
    return apply(null, "lower", s, List.of(), Map.of());
  }

  private static boolean upperOf(Object v) {
    String s = Py.str(v);
    return apply(null, "upper", s, List.of(), Map.of());
  }
}
