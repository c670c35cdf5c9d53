package jswift.template.jinja;

import java.util.regex.Pattern;

/**
 * Python's {@code int(x)} and {@code float(x)} as jinja2's {@code int} and {@code float} filters use them:
 * strings are stripped and may carry a sign and digit-group underscores, {@code "42.7"|int} is 42 (through
 * float), and what does not convert returns null so the filter can substitute its default.
 */
final class Conversions {
  private Conversions() {}

  private static final Pattern FLOAT_TEXT =
      Pattern.compile("[+-]?((\\d(_?\\d)*)(\\.(\\d(_?\\d)*)?)?|\\.\\d(_?\\d)*)([eE][+-]?\\d(_?\\d)*)?");
  private static final Pattern SPECIAL = Pattern.compile("[+-]?(inf|infinity|nan)", Pattern.CASE_INSENSITIVE);

  /** {@code float(v)}, or null where Python raises TypeError or ValueError. */
  static Double toFloat(Object v) {
    if (v instanceof Undefined u) throw u.fail();
    if (Py.isNumber(v)) return Py.asDouble(v);
    if (!(v instanceof String s)) return null;
    String t = PyStrings.strip(s, null, true, true);
    if (SPECIAL.matcher(t).matches()) {
      boolean neg = t.startsWith("-");
      if (t.toLowerCase().contains("nan")) return Double.NaN;
      return neg ? Double.NEGATIVE_INFINITY : Double.POSITIVE_INFINITY;
    }
    if (!FLOAT_TEXT.matcher(t).matches()) return null;
    return Double.parseDouble(t.replace("_", ""));
  }

  /** The filter's {@code int(v)} then {@code int(float(v))} fallback, or null for the default. */
  static Long toInt(Object v, long base) {
    if (v instanceof Undefined u) throw u.fail();
    if (Py.isInt(v)) return Py.asLong(v);
    if (v instanceof Double d) return fromDouble(d);
    if (!(v instanceof String s)) return null;
    Long parsed = parseInt(PyStrings.strip(s, null, true, true), (int) base);
    if (parsed != null) return parsed;
    Double f = toFloat(s);
    return f == null ? null : fromDouble(f);
  }

  private static Long fromDouble(double d) {
    if (Double.isNaN(d)) return null;
    if (Double.isInfinite(d)) throw TemplateException.runtime("OverflowError: cannot convert float infinity to integer");
    return (long) d;
  }

  private static Long parseInt(String t, int base) {
    boolean neg = t.startsWith("-");
    if (t.startsWith("-") || t.startsWith("+")) t = t.substring(1);
    String lower = t.toLowerCase();
    if ((base == 16 && lower.startsWith("0x")) || (base == 8 && lower.startsWith("0o")) || (base == 2 && lower.startsWith("0b"))) {
      t = t.substring(2);
      if (t.startsWith("_")) t = t.substring(1);
    }
    if (t.isEmpty() || t.startsWith("_") || t.endsWith("_") || t.contains("__")) return null;
    try {
      long v = Long.parseLong(t.replace("_", ""), base);
      return neg ? -v : v;
    } catch (NumberFormatException e) {
      return null;
    }
  }
}
