package jswift.template.jinja;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Splits template source into tokens the way jinja2's lexer does under transformers' settings:
 * {@code trim_blocks} (the first newline after a block or comment tag is dropped), {@code lstrip_blocks}
 * (spaces and tabs before a block or comment tag that starts a line are dropped), the {@code -} / {@code +}
 * whitespace-control signs, {@code {% raw %}} sections, and no kept trailing newline. Newlines are
 * normalised to {@code \n} first, as jinja2 does, so a template saved with CRLF renders the same.
 */
final class Lexer {
  private static final Pattern FLOAT =
      Pattern.compile("(\\d+_)*\\d+((\\.(\\d+_)*\\d+)?[eE][+\\-]?(\\d+_)*\\d+|\\.(\\d+_)*\\d+)");
  private static final Pattern INTEGER =
      Pattern.compile("0[bB](_?[01])+|0[oO](_?[0-7])+|0[xX](_?[0-9a-fA-F])+|[1-9](_?\\d)*|0(_?0)*");
  private static final Pattern RAW_BEGIN = Pattern.compile("\\{%[-+]?\\s*raw\\s*(-%}\\s*|%})");
  private static final Pattern RAW_END = Pattern.compile("\\{%([-+]?)\\s*endraw\\s*(\\+%}|-%}\\s*|%}\\n?)");
  private static final String[] OPERATORS = {
    "//", "**", "==", "!=", ">=", "<=", "+", "-", "/", "*", "%", "~", "[", "]", "(", ")", "{", "}", ">", "<", "=",
    ".", ":", "|", ",", ";"
  };

  private final String src;
  private final int[] lineStarts;
  private final List<Token> out = new ArrayList<>();
  private boolean lineStarting = true;

  private Lexer(String source) {
    String s = source.replace("\r\n", "\n").replace('\r', '\n');
    // keep_trailing_newline=False: jinja2 drops exactly one final newline of the source.
    if (s.endsWith("\n")) s = s.substring(0, s.length() - 1);
    src = s;
    List<Integer> starts = new ArrayList<>();
    starts.add(0);
    for (int i = 0; i < s.length(); i++) if (s.charAt(i) == '\n') starts.add(i + 1);
    lineStarts = starts.stream().mapToInt(Integer::intValue).toArray();
  }

  static List<Token> tokenize(String source) {
    Lexer lx = new Lexer(source);
    lx.run();
    return lx.out;
  }

  private int line(int pos) {
    int lo = 0, hi = lineStarts.length - 1;
    while (lo < hi) {
      int mid = (lo + hi + 1) >>> 1;
      if (lineStarts[mid] <= pos) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  }

  private int column(int pos) {
    return pos - lineStarts[line(pos) - 1] + 1;
  }

  private TemplateException error(String msg, int pos) {
    return new TemplateException(TemplateException.Kind.SYNTAX, msg, line(pos), column(pos));
  }

  private void emit(Token.Type type, String text, Object value, int pos) {
    out.add(new Token(type, text, value, line(pos), column(pos)));
  }

  private void run() {
    int n = src.length();
    int pos = 0;
    while (pos < n) {
      int tag = nextTagStart(pos);
      if (tag < 0) {
        emit(Token.Type.DATA, src.substring(pos), null, pos);
        break;
      }
      char kind = src.charAt(tag + 1);
      int p = tag + 2;
      char sign = p < n && (src.charAt(p) == '-' || src.charAt(p) == '+') ? src.charAt(p) : 0;
      if (sign != 0) p++;
      String text = stripBefore(src.substring(pos, tag), sign, kind != '{');
      if (!text.isEmpty()) emit(Token.Type.DATA, text, null, pos);
      if (kind == '#') {
        pos = commentEnd(tag, p);
      } else if (kind == '%' && RAW_BEGIN.matcher(src).region(tag, n).lookingAt()) {
        Matcher m = RAW_BEGIN.matcher(src).region(tag, n);
        m.lookingAt();
        lineStarting = src.charAt(m.end() - 1) == '\n';
        pos = rawBody(tag, m.end());
      } else {
        emit(kind == '%' ? Token.Type.BLOCK_BEGIN : Token.Type.VAR_BEGIN, src.substring(tag, p), null, tag);
        pos = tagBody(p, kind == '%');
        if (pos < 0) return; // the template ended inside a tag: EOF was emitted, the parser reports it
      }
      lineStarting = pos > 0 && src.charAt(pos - 1) == '\n';
    }
    emit(Token.Type.EOF, "", null, n);
  }

  private int nextTagStart(int from) {
    int i = src.indexOf('{', from);
    while (i >= 0 && i + 1 < src.length()) {
      char c = src.charAt(i + 1);
      if (c == '{' || c == '%' || c == '#') return i;
      i = src.indexOf('{', i + 1);
    }
    return -1;
  }

  /** Whitespace control on the text before a tag: {@code -} strips all, lstrip_blocks strips a line's indent. */
  private String stripBefore(String text, char sign, boolean lstripApplies) {
    if (sign == '-') return PyStrings.strip(text, null, false, true);
    if (sign != '+' && lstripApplies) {
      int lpos = text.lastIndexOf('\n') + 1;
      if ((lpos > 0 || lineStarting) && PyStrings.allSpace(text, lpos)) return text.substring(0, lpos);
    }
    return text;
  }

  /** Skips a comment; returns the position after its end (and after what trim_blocks or "-#}" consume). */
  private int commentEnd(int tagStart, int from) {
    int n = src.length();
    int q = src.indexOf("#}", from);
    if (q < 0) throw error("missing end of comment tag '#}'", tagStart);
    // "+#}" and "-#}" start one character before the "#}" found here.
    char before = q > from ? src.charAt(q - 1) : 0;
    if (before == '-') return PyStrings.skipSpace(src, q + 2);
    if (before == '+') return q + 2;
    return q + 2 < n && src.charAt(q + 2) == '\n' ? q + 3 : q + 2;
  }

  private int rawBody(int tagStart, int from) {
    Matcher m = RAW_END.matcher(src);
    if (!m.find(from)) throw error("missing end of raw directive '{% endraw %}'", tagStart);
    String text = stripBefore(src.substring(from, m.start()), m.group(1).isEmpty() ? 0 : m.group(1).charAt(0), true);
    if (!text.isEmpty()) emit(Token.Type.DATA, text, null, from);
    return m.end();
  }

  /** Lexes the inside of {@code {% %}} or {@code {{ }}}; returns the position after the closing delimiter. */
  private int tagBody(int p, boolean block) {
    int n = src.length();
    Deque<Character> open = new ArrayDeque<>();
    while (true) {
      p = PyStrings.skipSpace(src, p);
      if (p >= n) {
        emit(Token.Type.EOF, "", null, n);
        return -1;
      }
      // A closing delimiter only counts when brackets are balanced, as in jinja2 ("{{ {'a': 1}}}" works).
      if (open.isEmpty()) {
        int end = closing(p, block);
        if (end >= 0) {
          emit(block ? Token.Type.BLOCK_END : Token.Type.VAR_END, src.substring(p, Math.min(n, p + 3)).strip(), null, p);
          return end;
        }
      }
      p = token(p, open);
    }
  }

  private int closing(int p, boolean block) {
    if (block) {
      if (src.startsWith("+%}", p)) return p + 3;
      if (src.startsWith("-%}", p)) return PyStrings.skipSpace(src, p + 3);
      if (src.startsWith("%}", p)) return p + 2 < src.length() && src.charAt(p + 2) == '\n' ? p + 3 : p + 2;
    } else {
      if (src.startsWith("-}}", p)) return PyStrings.skipSpace(src, p + 3);
      if (src.startsWith("}}", p)) return p + 2;
    }
    return -1;
  }

  private int token(int p, Deque<Character> open) {
    int n = src.length();
    char c = src.charAt(p);
    if (c >= '0' && c <= '9' && (p == 0 || src.charAt(p - 1) != '.')) {
      Matcher f = FLOAT.matcher(src).region(p, n);
      if (f.lookingAt()) {
        String t = f.group();
        emit(Token.Type.FLOAT, t, Double.parseDouble(t.replace("_", "")), p);
        return f.end();
      }
    }
    if (c >= '0' && c <= '9') {
      Matcher m = INTEGER.matcher(src).region(p, n);
      if (m.lookingAt()) {
        String t = m.group();
        emit(Token.Type.INTEGER, t, parseInt(t.replace("_", "").toLowerCase(), p), p);
        return m.end();
      }
    }
    int cp = src.codePointAt(p);
    if (cp == '_' || Character.isUnicodeIdentifierStart(cp)) {
      int q = p + Character.charCount(cp);
      while (q < n) {
        int d = src.codePointAt(q);
        if (d != '_' && !Character.isUnicodeIdentifierPart(d) || Character.isIdentifierIgnorable(d)) break;
        q += Character.charCount(d);
      }
      emit(Token.Type.NAME, src.substring(p, q), null, p);
      return q;
    }
    if (c == '\'' || c == '"') {
      int q = p + 1;
      while (q < n && src.charAt(q) != c) q += src.charAt(q) == '\\' ? 2 : 1;
      if (q < n) {
        emit(Token.Type.STRING, src.substring(p, q + 1), unescape(src.substring(p + 1, q), p), p);
        return q + 1;
      }
    }
    for (String op : OPERATORS) {
      if (src.startsWith(op, p)) {
        balance(op, open, p);
        emit(Token.Type.OPERATOR, op, null, p);
        return p + op.length();
      }
    }
    throw error("unexpected character " + PyStrings.repr(Character.toString(cp)), p);
  }

  private void balance(String op, Deque<Character> open, int p) {
    switch (op) {
      case "(" -> open.push(')');
      case "[" -> open.push(']');
      case "{" -> open.push('}');
      case ")", "]", "}" -> {
        if (open.isEmpty()) throw error("unexpected '" + op + "'", p);
        char expected = open.pop();
        if (expected != op.charAt(0)) throw error("unexpected '" + op + "', expected '" + expected + "'", p);
      }
      default -> {}
    }
  }

  private Long parseInt(String t, int p) {
    try {
      if (t.startsWith("0b")) return Long.parseLong(t.substring(2), 2);
      if (t.startsWith("0o")) return Long.parseLong(t.substring(2), 8);
      if (t.startsWith("0x")) return Long.parseLong(t.substring(2), 16);
      return Long.parseLong(t);
    } catch (NumberFormatException e) {
      throw error("integer literal " + t + " does not fit in 64 bits", p);
    }
  }

  /** Python's string-literal escapes (jinja2 decodes literals with the "unicode-escape" codec). */
  private String unescape(String s, int p) {
    if (s.indexOf('\\') < 0) return s;
    StringBuilder sb = new StringBuilder(s.length());
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c != '\\' || i + 1 >= s.length()) {
        sb.append(c);
        continue;
      }
      char e = s.charAt(++i);
      switch (e) {
        case '\n' -> {} // a backslash at the end of a line continues the literal
        case '\\' -> sb.append('\\');
        case '\'' -> sb.append('\'');
        case '"' -> sb.append('"');
        case 'a' -> sb.append('\u0007');
        case 'b' -> sb.append('\b');
        case 'f' -> sb.append('\f');
        case 'n' -> sb.append('\n');
        case 'r' -> sb.append('\r');
        case 't' -> sb.append('\t');
        case 'v' -> sb.append('\u000B');
        case 'x', 'u', 'U' -> {
          int len = e == 'x' ? 2 : e == 'u' ? 4 : 8;
          String hex = s.substring(i + 1, Math.min(s.length(), i + 1 + len));
          if (hex.length() < len || !hex.matches("[0-9a-fA-F]+")) throw error("truncated \\" + e + " escape", p);
          sb.appendCodePoint(Integer.parseInt(hex, 16));
          i += len;
        }
        case 'N' -> {
          int close = s.indexOf('}', i);
          if (i + 1 >= s.length() || s.charAt(i + 1) != '{' || close < 0) throw error("malformed \\N character escape", p);
          try {
            sb.appendCodePoint(Character.codePointOf(s.substring(i + 2, close)));
          } catch (IllegalArgumentException ex) {
            throw error("unknown Unicode character name", p);
          }
          i = close;
        }
        default -> {
          if (e >= '0' && e <= '7') {
            int j = i, v = 0;
            while (j < s.length() && j < i + 3 && s.charAt(j) >= '0' && s.charAt(j) <= '7') v = v * 8 + (s.charAt(j++) - '0');
            sb.appendCodePoint(v);
            i = j - 1;
          } else {
            sb.append('\\').append(e); // unknown escapes keep their backslash, as in Python
          }
        }
      }
    }
    return sb.toString();
  }
}
