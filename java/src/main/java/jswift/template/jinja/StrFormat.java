package jswift.template.jinja;

import java.util.List;
import java.util.Map;

/**
 * Python's {@code str.format}: {@code {}}, {@code {0}}, {@code {name}}, {@code {{ }}} escapes, the
 * {@code !r} / {@code !s} conversions and the common format specs ({@code [[fill]align][sign][0][width][.precision][type]}
 * with types s, d, f, e, %).
 */
final class StrFormat {
  private StrFormat() {}

  static String format(String fmt, List<Object> args, Map<String, Object> kwargs) {
    StringBuilder sb = new StringBuilder();
    int auto = 0;
    for (int i = 0; i < fmt.length(); i++) {
      char c = fmt.charAt(i);
      if (c == '}' ) {
        if (i + 1 < fmt.length() && fmt.charAt(i + 1) == '}') i++;
        else throw TemplateException.runtime("ValueError: Single '}' encountered in format string");
        sb.append('}');
        continue;
      }
      if (c != '{') {
        sb.append(c);
        continue;
      }
      if (i + 1 < fmt.length() && fmt.charAt(i + 1) == '{') {
        sb.append('{');
        i++;
        continue;
      }
      int close = fmt.indexOf('}', i);
      if (close < 0) throw TemplateException.runtime("ValueError: Single '{' encountered in format string");
      String field = fmt.substring(i + 1, close);
      i = close;
      String spec = "";
      int colon = field.indexOf(':');
      if (colon >= 0) {
        spec = field.substring(colon + 1);
        field = field.substring(0, colon);
      }
      char conv = 0;
      int bang = field.indexOf('!');
      if (bang >= 0) {
        conv = field.length() > bang + 1 ? field.charAt(bang + 1) : 0;
        field = field.substring(0, bang);
      }
      Object v;
      if (field.isEmpty()) {
        if (auto >= args.size()) throw TemplateException.runtime("IndexError: Replacement index " + auto + " out of range for positional args tuple");
        v = args.get(auto++);
      } else if (field.chars().allMatch(Character::isDigit)) {
        int k = Integer.parseInt(field);
        if (k >= args.size()) throw TemplateException.runtime("IndexError: Replacement index " + k + " out of range for positional args tuple");
        v = args.get(k);
      } else if (kwargs.containsKey(field)) {
        v = kwargs.get(field);
      } else {
        throw TemplateException.runtime("KeyError: " + PyStrings.repr(field));
      }
      if (conv == 'r') v = Py.repr(v);
      else if (conv == 's') v = Py.str(v);
      sb.append(applySpec(v, spec));
    }
    return sb.toString();
  }

  private static String applySpec(Object v, String spec) {
    if (spec.isEmpty()) return Py.str(v);
    java.util.regex.Matcher m = java.util.regex.Pattern
        .compile("(?:(.)?([<>^=]))?([+\\- ])?(0)?(\\d+)?(,)?(?:\\.(\\d+))?([sdfFeE%gG])?").matcher(spec);
    if (!m.matches()) throw TemplateException.runtime("ValueError: unsupported format specifier '" + spec + "'");
    char fill = m.group(1) != null ? m.group(1).charAt(0) : m.group(4) != null ? '0' : ' ';
    char align = m.group(2) != null ? m.group(2).charAt(0) : m.group(4) != null ? '=' : (v instanceof String ? '<' : '>');
    int width = m.group(5) == null ? 0 : Integer.parseInt(m.group(5));
    int precision = m.group(7) == null ? -1 : Integer.parseInt(m.group(7));
    char type = m.group(8) == null ? 0 : m.group(8).charAt(0);
    String body;
    if (type == 'f' || type == 'F' || type == 'e' || type == 'E' || type == '%') {
      double d = Py.asDouble(v) * (type == '%' ? 100 : 1);
      int p = precision < 0 ? 6 : precision;
      body = (type == 'e' || type == 'E' ? PercentFormat.scientific(d, p) : PercentFormat.fixed(d, p)) + (type == '%' ? "%" : "");
      if (type == 'E') body = body.toUpperCase();
    } else if (type == 'd') {
      body = m.group(6) != null ? String.format(java.util.Locale.ROOT, "%,d", Py.asLong(v)) : String.valueOf(Py.asLong(v));
    } else {
      body = Py.str(v);
      if (precision >= 0 && precision < PyStrings.length(body)) body = body.substring(0, PyStrings.charIndex(body, precision));
    }
    if (m.group(3) != null && Py.isNumber(v) && !body.startsWith("-") && !m.group(3).equals("-")) body = m.group(3) + body;
    int pad = width - PyStrings.length(body);
    if (pad <= 0) return body;
    String f = String.valueOf(fill);
    return switch (align) {
      case '<' -> body + f.repeat(pad);
      case '^' -> f.repeat(pad / 2) + body + f.repeat(pad - pad / 2);
      case '=' -> {
        int sign = body.startsWith("-") || body.startsWith("+") || body.startsWith(" ") ? 1 : 0;
        yield body.substring(0, sign) + f.repeat(pad) + body.substring(sign);
      }
      default -> f.repeat(pad) + body;
    };
  }
}
