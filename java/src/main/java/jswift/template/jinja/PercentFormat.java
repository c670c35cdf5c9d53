package jswift.template.jinja;

import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Python's printf-style {@code "fmt" % args} (also behind jinja2's {@code format} filter): the
 * conversions s, r, d, i, f, e, x, o and %, with flags, width, precision and {@code %(key)s} mappings.
 */
final class PercentFormat {
  private static final Pattern SPEC = Pattern.compile("%(\\(([^)]*)\\))?([-+ 0#]*)(\\*|\\d+)?(\\.(\\d+))?([diouxXeEfFgGcrsa%])");

  private PercentFormat() {}

  static String format(String fmt, Object args) {
    List<?> positional = args instanceof PyTuple t ? t : java.util.Collections.singletonList(args);
    StringBuilder sb = new StringBuilder();
    Matcher m = SPEC.matcher(fmt);
    int last = 0, next = 0;
    while (m.find()) {
      sb.append(fmt, last, m.start());
      last = m.end();
      char conv = m.group(7).charAt(0);
      if (conv == '%' && m.group(1) == null) {
        sb.append('%');
        continue;
      }
      Object v;
      if (m.group(1) != null) {
        if (!(args instanceof Map<?, ?> map)) throw Operators.typeError("format requires a mapping");
        Object k = Py.findKey(map, m.group(2));
        if (k == Py.MISSING) throw TemplateException.runtime("KeyError: " + PyStrings.repr(m.group(2)));
        v = map.get(k);
      } else {
        if (next >= positional.size()) throw Operators.typeError("not enough arguments for format string");
        v = positional.get(next++);
      }
      sb.append(convert(v, conv, m.group(3), m.group(4) == null ? -1 : Integer.parseInt(m.group(4)),
          m.group(6) == null ? -1 : Integer.parseInt(m.group(6))));
    }
    // Python tolerates unused mappings but not unused positional arguments.
    if (!(args instanceof Map) && next < positional.size()) {
      throw Operators.typeError("not all arguments converted during string formatting");
    }
    return sb.append(fmt.substring(last)).toString();
  }

  private static String convert(Object v, char conv, String flags, int width, int precision) {
    if (v instanceof Undefined u && conv != 's') throw u.fail();
    String body;
    switch (conv) {
      case 's' -> body = Py.str(v);
      case 'r', 'a' -> body = Py.repr(v);
      case 'd', 'i', 'u' -> body = String.valueOf(toLong(v));
      case 'x' -> body = Long.toHexString(toLong(v));
      case 'X' -> body = Long.toHexString(toLong(v)).toUpperCase();
      case 'o' -> body = Long.toOctalString(toLong(v));
      case 'c' -> body = v instanceof String s ? s : Character.toString((int) toLong(v));
      case 'f', 'F' -> body = fixed(toDouble(v), precision < 0 ? 6 : precision);
      case 'e', 'E' -> {
        String s = scientific(toDouble(v), precision < 0 ? 6 : precision);
        body = conv == 'E' ? s.toUpperCase() : s;
      }
      default -> body = Py.floatRepr(toDouble(v));
    }
    if ((conv == 's' || conv == 'r') && precision >= 0 && precision < PyStrings.length(body)) {
      body = body.substring(0, PyStrings.charIndex(body, precision));
    }
    boolean numeric = "diuxXofFeEgG".indexOf(conv) >= 0;
    if (numeric && !body.startsWith("-")) {
      if (flags.contains("+")) body = "+" + body;
      else if (flags.contains(" ")) body = " " + body;
    }
    int pad = width - PyStrings.length(body);
    if (pad > 0) {
      if (flags.contains("-")) body = body + " ".repeat(pad);
      else if (flags.contains("0") && numeric) {
        int signLen = body.startsWith("-") || body.startsWith("+") || body.startsWith(" ") ? 1 : 0;
        body = body.substring(0, signLen) + "0".repeat(pad) + body.substring(signLen);
      } else body = " ".repeat(pad) + body;
    }
    return body;
  }

  /**
   * Fixed-point digits of the exact binary value, rounded half-even as C's printf does (Java's Formatter
   * rounds half-up from a shorter decimal, which prints 0.25 as "0.3" where Python prints "0.2").
   */
  static String fixed(double d, int precision) {
    if (Double.isNaN(d) || Double.isInfinite(d)) return Py.floatRepr(d);
    String s = new java.math.BigDecimal(d).setScale(precision, java.math.RoundingMode.HALF_EVEN).toPlainString();
    return d < 0 || (d == 0 && 1 / d < 0) ? (s.startsWith("-") ? s : "-" + s) : s;
  }

  /** Python's %e: one digit, the fraction, and an exponent of at least two digits. */
  static String scientific(double d, int precision) {
    if (Double.isNaN(d) || Double.isInfinite(d)) return Py.floatRepr(d);
    if (d == 0) return (1 / d < 0 ? "-" : "") + "0" + (precision > 0 ? "." + "0".repeat(precision) : "") + "e+00";
    java.math.BigDecimal r = new java.math.BigDecimal(d).round(new java.math.MathContext(precision + 1, java.math.RoundingMode.HALF_EVEN));
    String digits = r.unscaledValue().abs().toString();
    while (digits.length() < precision + 1) digits += "0";
    digits = digits.substring(0, precision + 1);
    int exp = r.precision() - r.scale() - 1;
    String e = String.valueOf(Math.abs(exp));
    return (d < 0 ? "-" : "") + digits.charAt(0) + (precision > 0 ? "." + digits.substring(1) : "") + "e"
        + (exp < 0 ? "-" : "+") + (e.length() < 2 ? "0" + e : e);
  }

  private static long toLong(Object v) {
    if (Py.isInt(v)) return Py.asLong(v);
    if (v instanceof Double d) return (long) (double) d;
    throw Operators.typeError("%d format: a real number is required, not " + Py.typeName(v));
  }

  private static double toDouble(Object v) {
    if (Py.isNumber(v)) return Py.asDouble(v);
    throw Operators.typeError("must be real number, not " + Py.typeName(v));
  }
}
