package jswift.template.jinja;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Python {@code str} semantics on Java strings. Python indexes strings by code point while Java uses UTF-16
 * units, so lengths, indexes and slices go through code points here (an emoji is one character, as in
 * transformers). Whitespace is Python's {@code str.isspace()} set, which is wider than
 * {@link Character#isWhitespace} (it includes U+00A0, U+2007, U+202F, U+0085 and the separators
 * U+001C..U+001F).
 */
final class PyStrings {
  private PyStrings() {}

  static boolean isSpace(int cp) {
    return switch (cp) {
      case ' ', '\t', '\n', 0x0B, '\f', '\r', 0x1C, 0x1D, 0x1E, 0x1F, 0x85, 0xA0, 0x1680, 0x2028, 0x2029, 0x202F,
          0x205F, 0x3000 -> true;
      default -> cp >= 0x2000 && cp <= 0x200A;
    };
  }

  static boolean allSpace(String s, int from) {
    if (from >= s.length()) return false;
    for (int i = from; i < s.length(); ) {
      int cp = s.codePointAt(i);
      if (!isSpace(cp)) return false;
      i += Character.charCount(cp);
    }
    return true;
  }

  /** Index just past the whitespace run starting at {@code from}. */
  static int skipSpace(String s, int from) {
    int i = from;
    while (i < s.length()) {
      int cp = s.codePointAt(i);
      if (!isSpace(cp)) break;
      i += Character.charCount(cp);
    }
    return i;
  }

  static int length(String s) {
    return s.codePointCount(0, s.length());
  }

  static int[] codePoints(String s) {
    return s.codePoints().toArray();
  }

  static String fromCodePoints(int[] cps, int from, int to) {
    return new String(cps, from, to - from);
  }

  /** Java char index of the {@code cpIndex}-th code point (clamped to the string). */
  static int charIndex(String s, int cpIndex) {
    if (cpIndex <= 0) return 0;
    int n = length(s);
    if (cpIndex >= n) return s.length();
    return s.offsetByCodePoints(0, cpIndex);
  }

  static String strip(String s, String chars, boolean left, boolean right) {
    int[] cps = codePoints(s);
    int a = 0, b = cps.length;
    if (left) while (a < b && stripped(cps[a], chars)) a++;
    if (right) while (b > a && stripped(cps[b - 1], chars)) b--;
    return fromCodePoints(cps, a, b);
  }

  private static boolean stripped(int cp, String chars) {
    return chars == null ? isSpace(cp) : chars.indexOf(Character.toString(cp)) >= 0;
  }

  /** Python {@code str.split(sep, maxsplit)}: no separator splits on whitespace runs and drops empties. */
  static List<Object> split(String s, String sep, long maxsplit) {
    List<Object> out = new ArrayList<>();
    if (sep == null) {
      int i = skipSpace(s, 0);
      while (i < s.length()) {
        if (maxsplit >= 0 && out.size() == maxsplit) {
          out.add(s.substring(i)); // Python keeps the remainder's trailing whitespace
          return out;
        }
        int j = i;
        while (j < s.length() && !isSpace(s.codePointAt(j))) j += Character.charCount(s.codePointAt(j));
        out.add(s.substring(i, j));
        i = skipSpace(s, j);
      }
      return out;
    }
    if (sep.isEmpty()) throw TemplateException.runtime("ValueError: empty separator");
    int i = 0;
    while (maxsplit < 0 || out.size() < maxsplit) {
      int j = s.indexOf(sep, i);
      if (j < 0) break;
      out.add(s.substring(i, j));
      i = j + sep.length();
    }
    out.add(s.substring(i));
    return out;
  }

  /** Python {@code str.rsplit(sep, maxsplit)}. */
  static List<Object> rsplit(String s, String sep, long maxsplit) {
    if (maxsplit < 0) return split(s, sep, -1);
    List<Object> rev = new ArrayList<>();
    if (sep == null) {
      int end = s.length();
      while (end > 0 && isSpace(s.codePointBefore(end))) end -= Character.charCount(s.codePointBefore(end));
      while (end > 0) {
        if (rev.size() == maxsplit) {
          rev.add(s.substring(0, end)); // and rsplit its leading whitespace
          break;
        }
        int j = end;
        while (j > 0 && !isSpace(s.codePointBefore(j))) j -= Character.charCount(s.codePointBefore(j));
        rev.add(s.substring(j, end));
        end = j;
        while (end > 0 && isSpace(s.codePointBefore(end))) end -= Character.charCount(s.codePointBefore(end));
      }
    } else {
      if (sep.isEmpty()) throw TemplateException.runtime("ValueError: empty separator");
      int end = s.length();
      while (rev.size() < maxsplit) {
        int j = s.lastIndexOf(sep, end - sep.length());
        if (j < 0) break;
        rev.add(s.substring(j + sep.length(), end));
        end = j;
      }
      rev.add(s.substring(0, end));
    }
    List<Object> out = new ArrayList<>(rev.size());
    for (int k = rev.size() - 1; k >= 0; k--) out.add(rev.get(k));
    return out;
  }

  /** Python {@code str.splitlines()} (without keepends): every Unicode line boundary Python knows. */
  static List<String> splitlines(String s) {
    List<String> out = new ArrayList<>();
    int start = 0, i = 0;
    while (i < s.length()) {
      char c = s.charAt(i);
      if (c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || c == 0x1C || c == 0x1D || c == 0x1E || c == 0x85
          || c == 0x2028 || c == 0x2029) {
        out.add(s.substring(start, i));
        i += (c == '\r' && i + 1 < s.length() && s.charAt(i + 1) == '\n') ? 2 : 1;
        start = i;
      } else {
        i++;
      }
    }
    if (start < s.length()) out.add(s.substring(start));
    return out;
  }

  static String replace(String s, String old, String repl, long count) {
    if (count < 0) {
      if (!old.isEmpty()) return s.replace(old, repl);
      count = Long.MAX_VALUE;
    }
    StringBuilder sb = new StringBuilder();
    if (old.isEmpty()) {
      // Python inserts the replacement before every code point and at the end, up to count times.
      long done = 0;
      int i = 0;
      while (i <= s.length()) {
        if (done < count) {
          sb.append(repl);
          done++;
        }
        if (i == s.length()) break;
        int cp = s.codePointAt(i);
        sb.appendCodePoint(cp);
        i += Character.charCount(cp);
      }
      return sb.toString();
    }
    int i = 0;
    long done = 0;
    while (done < count) {
      int j = s.indexOf(old, i);
      if (j < 0) break;
      sb.append(s, i, j).append(repl);
      i = j + old.length();
      done++;
    }
    return sb.append(s.substring(i)).toString();
  }

  static String upper(String s) {
    return s.toUpperCase(Locale.ROOT);
  }

  static String lower(String s) {
    return s.toLowerCase(Locale.ROOT);
  }

  /** Python {@code str.capitalize()}: first character title-cased, the rest lower-cased. */
  static String capitalize(String s) {
    if (s.isEmpty()) return s;
    int first = s.codePointAt(0);
    return titleChar(first) + lower(s.substring(Character.charCount(first)));
  }

  private static String titleChar(int cp) {
    int t = Character.toTitleCase(cp);
    if (t != cp) return Character.toString(t);
    return upper(Character.toString(cp));
  }

  /** Python {@code str.title()}: a cased character after an uncased one starts a word. */
  static String title(String s) {
    StringBuilder sb = new StringBuilder(s.length());
    boolean prevCased = false;
    for (int i = 0; i < s.length(); ) {
      int cp = s.codePointAt(i);
      String c = Character.toString(cp);
      boolean cased = Character.isUpperCase(cp) || Character.isLowerCase(cp) || Character.isTitleCase(cp);
      sb.append(cased ? (prevCased ? lower(c) : titleChar(cp)) : c);
      prevCased = cased;
      i += Character.charCount(cp);
    }
    return sb.toString();
  }

  /** Python {@code str.center(width, fill)}, including CPython's placement of an odd margin. */
  static String center(String s, long width, String fill) {
    int pad = (int) (width - length(s));
    if (pad <= 0) return s;
    int left = pad / 2 + (int) (pad & width & 1);
    return fill.repeat(left) + s + fill.repeat(pad - left);
  }

  /** Python's code-point order (Java's compareTo orders UTF-16 units, which differs above U+FFFF). */
  static int compare(String a, String b) {
    int i = 0, j = 0;
    while (i < a.length() && j < b.length()) {
      int x = a.codePointAt(i), y = b.codePointAt(j);
      if (x != y) return Integer.compare(x, y);
      i += Character.charCount(x);
      j += Character.charCount(y);
    }
    return Boolean.compare(i < a.length(), j < b.length());
  }

  /** Python {@code repr()} of a string: single quotes unless the text has ' and no ". */
  static String repr(String s) {
    char q = s.indexOf('\'') >= 0 && s.indexOf('"') < 0 ? '"' : '\'';
    StringBuilder sb = new StringBuilder(s.length() + 2).append(q);
    for (int i = 0; i < s.length(); ) {
      int cp = s.codePointAt(i);
      i += Character.charCount(cp);
      if (cp == q || cp == '\\') sb.append('\\').appendCodePoint(cp);
      else if (cp == '\n') sb.append("\\n");
      else if (cp == '\r') sb.append("\\r");
      else if (cp == '\t') sb.append("\\t");
      else if (printable(cp)) sb.appendCodePoint(cp);
      else if (cp < 0x100) sb.append(String.format("\\x%02x", cp));
      else if (cp < 0x10000) sb.append(String.format("\\u%04x", cp));
      else sb.append(String.format("\\U%08x", cp));
    }
    return sb.append(q).toString();
  }

  private static boolean printable(int cp) {
    if (cp == ' ') return true;
    return switch (Character.getType(cp)) {
      case Character.CONTROL, Character.FORMAT, Character.SURROGATE, Character.PRIVATE_USE, Character.UNASSIGNED,
          Character.LINE_SEPARATOR, Character.PARAGRAPH_SEPARATOR, Character.SPACE_SEPARATOR -> false;
      default -> true;
    };
  }
}
