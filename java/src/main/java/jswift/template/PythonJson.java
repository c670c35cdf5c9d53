package jswift.template;

import com.fasterxml.jackson.databind.JsonNode;
import java.math.BigDecimal;
import java.math.MathContext;
import java.math.RoundingMode;
import java.util.Iterator;
import java.util.Map;

/**
 * Python's {@code json.dumps(value, ensure_ascii=False)} for a Jackson tree, which is how ms-swift's agent
 * templates print tools and tool calls into prompts (and how transformers' {@code tojson} prints them in
 * chat templates). The exact spacing matters because it becomes training tokens: {@code {"a": 1, "b": [1, 2]}}
 * with keys in their given order, non-ASCII kept, floats as Python's repr ({@code 1.0}, {@code 1e-05}).
 * With {@code ensureAscii} it is plain {@code json.dumps}, which is how PEFT and transformers write their JSON
 * files (adapter_config.json, model.safetensors.index.json).
 */
public final class PythonJson {
  private PythonJson() {}

  static String dumps(JsonNode v) {
    return dumps(v, -1);
  }

  /** {@code json.dumps(v, ensure_ascii=False, indent=indent)}; a negative indent means none (one line). */
  static String dumps(JsonNode v, int indent) {
    return dumps(v, indent, false);
  }

  /**
   * {@code json.dumps(v, ensure_ascii=ensureAscii, indent=indent)} with keys in the tree's order (sort them first
   * for {@code sort_keys=True}); a negative indent means none (one line).
   */
  public static String dumps(JsonNode v, int indent, boolean ensureAscii) {
    StringBuilder sb = new StringBuilder();
    write(v, indent, 0, ensureAscii, sb);
    return sb.toString();
  }

  private static void write(JsonNode v, int indent, int depth, boolean ascii, StringBuilder sb) {
    if (v == null || v.isNull() || v.isMissingNode()) {
      sb.append("null");
    } else if (v.isBoolean()) {
      sb.append(v.booleanValue() ? "true" : "false");
    } else if (v.isIntegralNumber()) {
      sb.append(v.bigIntegerValue());
    } else if (v.isNumber()) {
      sb.append(floatRepr(v.doubleValue()));
    } else if (v.isTextual()) {
      string(v.textValue(), ascii, sb);
    } else if (v.isArray() || v.isObject()) {
      if (v.isEmpty()) {
        sb.append(v.isArray() ? "[]" : "{}");
        return;
      }
      // With an indent Python puts each item on its own line and drops the space after the comma.
      String itemSep = indent < 0 ? ", " : ",";
      sb.append(v.isArray() ? '[' : '{');
      boolean first = true;
      if (v.isArray()) {
        for (JsonNode item : v) {
          if (!first) sb.append(itemSep);
          first = false;
          newline(indent, depth + 1, sb);
          write(item, indent, depth + 1, ascii, sb);
        }
      } else {
        for (Iterator<Map.Entry<String, JsonNode>> it = v.fields(); it.hasNext(); ) {
          Map.Entry<String, JsonNode> e = it.next();
          if (!first) sb.append(itemSep);
          first = false;
          newline(indent, depth + 1, sb);
          string(e.getKey(), ascii, sb);
          sb.append(": ");
          write(e.getValue(), indent, depth + 1, ascii, sb);
        }
      }
      newline(indent, depth, sb);
      sb.append(v.isArray() ? ']' : '}');
    } else {
      throw new IllegalArgumentException("not a JSON value: " + v.getNodeType());
    }
  }

  private static void newline(int indent, int depth, StringBuilder sb) {
    if (indent >= 0) sb.append('\n').append(" ".repeat(indent * depth));
  }

  /**
   * Python escapes only quotes, backslashes and control characters when ensure_ascii is off; with it on, every
   * non-ASCII UTF-16 unit too ({@code \u00e9}, surrogate pairs as two escapes). Without ensure_ascii this is also
   * serde_json's escaping (the safetensors header) and the Jinja {@code tojson} filter's.
   */
  public static void string(String s, boolean ascii, StringBuilder sb) {
    sb.append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"' -> sb.append("\\\"");
        case '\\' -> sb.append("\\\\");
        case '\n' -> sb.append("\\n");
        case '\r' -> sb.append("\\r");
        case '\t' -> sb.append("\\t");
        case '\b' -> sb.append("\\b");
        case '\f' -> sb.append("\\f");
        default -> {
          if (c < 0x20 || (ascii && c > 0x7e)) sb.append(String.format("\\u%04x", (int) c));
          else sb.append(c);
        }
      }
    }
    sb.append('"');
  }

  /**
   * {@code repr(float)}: the shortest decimal that reads back as the same double, in fixed notation when the
   * decimal point falls within 16 digits of the first one and in exponent notation ({@code 1e-05},
   * {@code 1.5e+16}) otherwise. Non-finite values print as json.dumps prints them ({@code NaN}, {@code Infinity}).
   */
  public static String floatRepr(double d) {
    if (Double.isNaN(d)) return "NaN";
    if (Double.isInfinite(d)) return d > 0 ? "Infinity" : "-Infinity";
    if (d == 0) return (1 / d < 0) ? "-0.0" : "0.0";
    BigDecimal exact = new BigDecimal(d);
    BigDecimal shortest = exact;
    // The exact binary value rounded to p digits is the closest p-digit decimal: the first p that reads back wins.
    for (int p = 1; p <= 17; p++) {
      BigDecimal r = exact.round(new MathContext(p, RoundingMode.HALF_EVEN));
      if (r.doubleValue() == d) {
        shortest = r;
        break;
      }
    }
    shortest = shortest.stripTrailingZeros();
    String digits = shortest.unscaledValue().abs().toString();
    int decpt = digits.length() - shortest.scale();  // value = 0.<digits> x 10^decpt
    StringBuilder sb = new StringBuilder(d < 0 ? "-" : "");
    if (decpt > -4 && decpt <= 16) {
      if (decpt <= 0) {
        sb.append("0.").append("0".repeat(-decpt)).append(digits);
      } else if (decpt >= digits.length()) {
        sb.append(digits).append("0".repeat(decpt - digits.length())).append(".0");
      } else {
        sb.append(digits, 0, decpt).append('.').append(digits, decpt, digits.length());
      }
    } else {
      sb.append(digits.charAt(0));
      if (digits.length() > 1) sb.append('.').append(digits, 1, digits.length());
      int exp = decpt - 1;
      sb.append('e').append(exp < 0 ? '-' : '+');
      String e = Integer.toString(Math.abs(exp));
      sb.append(e.length() < 2 ? "0" + e : e);
    }
    return sb.toString();
  }
}
