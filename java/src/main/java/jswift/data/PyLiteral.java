package jswift.data;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.math.BigDecimal;
import java.math.BigInteger;

/**
 * Reads a Python literal the way {@code ast.literal_eval} does, for the columns ms-swift accepts as the
 * string form of a list ({@code history} such as {@code "[['hi', 'hello']]"}, or {@code messages} stored in a
 * CSV cell): strings in single, double or triple quotes with Python's escapes and {@code r}/{@code u}/{@code b}
 * prefixes, adjacent strings joined, numbers, {@code True}/{@code False}/{@code None}, lists, tuples and
 * dicts. The value comes back as JSON (tuples become arrays).
 *
 * <p>When the text is not a Python literal but is JSON (which has {@code true} and {@code null}), it is read
 * as JSON: a file written by a JSON tool is not rejected for spelling booleans the JSON way.
 */
final class PyLiteral {
  private static final JsonNodeFactory NODES = JsonNodeFactory.instance;

  private final String text;
  private int pos;

  private PyLiteral(String text) {
    this.text = text;
  }

  /**
   * The value of the literal.
   *
   * @throws IllegalArgumentException with what is wrong and where, when the text is neither a Python literal nor
   *     JSON
   */
  static JsonNode parse(String text) {
    PyLiteral p = new PyLiteral(text);
    try {
      JsonNode value = p.value();
      p.skipSpace();
      if (p.pos != text.length()) throw p.error("unexpected text after the value");
      return value;
    } catch (IllegalArgumentException pythonError) {
      try {
        JsonNode json = Json.MAPPER.readTree(text);
        if (json != null && !json.isMissingNode()) return json;
      } catch (JsonProcessingException ignored) {
        // neither form: report the Python error, the form ms-swift documents
      }
      throw pythonError;
    }
  }

  private JsonNode value() {
    skipSpace();
    if (pos >= text.length()) throw error("the text ends where a value was expected");
    char c = text.charAt(pos);
    if (c == '[') return sequence('[', ']');
    if (c == '(') return sequence('(', ')');
    if (c == '{') return dict();
    if (c == '-' || c == '+' || c == '.' || Character.isDigit(c)) return number();
    if (isStringStart()) return strings();
    String word = identifier();
    switch (word) {
      case "True": return NODES.booleanNode(true);
      case "False": return NODES.booleanNode(false);
      case "None": return NODES.nullNode();
      default: throw error(word.isEmpty() ? "unexpected character '" + c + "'" : "unexpected name '" + word + "'");
    }
  }

  private ArrayNode sequence(char open, char close) {
    ArrayNode array = NODES.arrayNode();
    pos++;
    boolean sawComma = false;
    while (true) {
      skipSpace();
      if (pos >= text.length()) throw error("missing '" + close + "'");
      if (text.charAt(pos) == close) {
        pos++;
        return array;
      }
      if (!array.isEmpty() && !sawComma) throw error("expected ',' or '" + close + "'");
      array.add(value());
      skipSpace();
      sawComma = pos < text.length() && text.charAt(pos) == ',';
      if (sawComma) pos++;
      // "(x)" is x in Python, not a tuple; a list of one is a list; both read fine as arrays for our columns
    }
  }

  private ObjectNode dict() {
    ObjectNode object = NODES.objectNode();
    pos++;
    boolean sawComma = false;
    while (true) {
      skipSpace();
      if (pos >= text.length()) throw error("missing '}'");
      if (text.charAt(pos) == '}') {
        pos++;
        return object;
      }
      if (object.size() > 0 && !sawComma) throw error("expected ',' or '}'");
      JsonNode key = value();
      if (!key.isValueNode() || key.isNull()) throw error("a dict key must be a string or a number");
      skipSpace();
      if (pos >= text.length() || text.charAt(pos) != ':') throw error("expected ':'");
      pos++;
      object.set(key.asText(), value());
      skipSpace();
      sawComma = pos < text.length() && text.charAt(pos) == ',';
      if (sawComma) pos++;
    }
  }

  private JsonNode number() {
    int start = pos;
    if (text.charAt(pos) == '-' || text.charAt(pos) == '+') pos++;
    while (pos < text.length() && "0123456789._eE+-xXabcdefABCDEFoO".indexOf(text.charAt(pos)) >= 0) {
      char c = text.charAt(pos);
      // a sign belongs to the number only right after an exponent
      if ((c == '+' || c == '-') && "eE".indexOf(text.charAt(pos - 1)) < 0) break;
      pos++;
    }
    String s = text.substring(start, pos).replace("_", "");
    try {
      String body = s.startsWith("-") || s.startsWith("+") ? s.substring(1) : s;
      boolean negative = s.startsWith("-");
      if (body.length() > 2 && body.charAt(0) == '0' && "xXoObB".indexOf(body.charAt(1)) >= 0) {
        int radix = "xX".indexOf(body.charAt(1)) >= 0 ? 16 : "oO".indexOf(body.charAt(1)) >= 0 ? 8 : 2;
        BigInteger v = new BigInteger(body.substring(2), radix);
        return integer(negative ? v.negate() : v);
      }
      if (body.matches("[0-9]+")) return integer(new BigInteger(s));
      return NODES.numberNode(new BigDecimal(s).doubleValue());
    } catch (NumberFormatException e) {
      pos = start;
      throw error("not a number: " + s);
    }
  }

  /** The node Jackson itself would read for this integer (int, long or big), so trees compare equal. */
  private static JsonNode integer(BigInteger v) {
    if (v.bitLength() < 32) return NODES.numberNode(v.intValue());
    if (v.bitLength() < 64) return NODES.numberNode(v.longValue());
    return NODES.numberNode(v);
  }

  private boolean isStringStart() {
    int i = pos;
    while (i < text.length() && i - pos < 2 && "rRuUbB".indexOf(text.charAt(i)) >= 0) i++;
    return i < text.length() && (text.charAt(i) == '\'' || text.charAt(i) == '"');
  }

  /** One string, or several adjacent ones joined ('a' 'b' is 'ab'). */
  private JsonNode strings() {
    StringBuilder out = new StringBuilder();
    do {
      string(out);
      skipSpace();
    } while (pos < text.length() && isStringStart());
    return NODES.textNode(out.toString());
  }

  private void string(StringBuilder out) {
    boolean raw = false;
    while ("rRuUbB".indexOf(text.charAt(pos)) >= 0) {
      raw |= text.charAt(pos) == 'r' || text.charAt(pos) == 'R';
      pos++;
    }
    int start = pos;
    char quote = text.charAt(pos);
    boolean triple = text.startsWith(String.valueOf(quote).repeat(3), pos);
    pos += triple ? 3 : 1;
    while (true) {
      if (pos >= text.length()) {
        pos = start;
        throw error("the string is never closed");
      }
      char c = text.charAt(pos);
      if (c == quote && (!triple || text.startsWith(String.valueOf(quote).repeat(3), pos))) {
        pos += triple ? 3 : 1;
        return;
      }
      if (!triple && c == '\n') throw error("a line break inside a single-quoted string");
      if (c == '\\' && pos + 1 < text.length()) {
        if (raw) {
          out.append(c).append(text.charAt(pos + 1));
          pos += 2;
        } else {
          escape(out);
        }
        continue;
      }
      out.append(c);
      pos++;
    }
  }

  private void escape(StringBuilder out) {
    char e = text.charAt(pos + 1);
    pos += 2;
    switch (e) {
      case '\n': return;
      case '\\': out.append('\\'); return;
      case '\'': out.append('\''); return;
      case '"': out.append('"'); return;
      case 'a': out.append('\u0007'); return;
      case 'b': out.append('\b'); return;
      case 'f': out.append('\f'); return;
      case 'n': out.append('\n'); return;
      case 'r': out.append('\r'); return;
      case 't': out.append('\t'); return;
      case 'v': out.append('\u000b'); return;
      case 'x': out.appendCodePoint(hex(2)); return;
      case 'u': out.appendCodePoint(hex(4)); return;
      case 'U': out.appendCodePoint(hex(8)); return;
      default:
        if (e >= '0' && e <= '7') {
          int v = e - '0';
          for (int i = 0; i < 2 && pos < text.length() && text.charAt(pos) >= '0' && text.charAt(pos) <= '7'; i++)
            v = v * 8 + (text.charAt(pos++) - '0');
          out.append((char) v);
          return;
        }
        // Python keeps an unknown escape as written
        out.append('\\').append(e);
    }
  }

  private int hex(int digits) {
    if (pos + digits > text.length()) throw error("a truncated \\x/\\u/\\U escape");
    try {
      int v = Integer.parseInt(text.substring(pos, pos + digits), 16);
      pos += digits;
      return v;
    } catch (NumberFormatException e) {
      throw error("a bad \\x/\\u/\\U escape");
    }
  }

  private String identifier() {
    int start = pos;
    while (pos < text.length() && Character.isLetterOrDigit(text.charAt(pos))) pos++;
    return text.substring(start, pos);
  }

  private void skipSpace() {
    while (pos < text.length() && Character.isWhitespace(text.charAt(pos))) pos++;
  }

  private IllegalArgumentException error(String what) {
    return new IllegalArgumentException("not a Python literal: " + what + " at character " + (pos + 1));
  }
}
