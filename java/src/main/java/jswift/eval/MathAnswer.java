package jswift.eval;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The final answer of a math completion and whether it equals a reference solution: GRPO's {@code accuracy} reward.
 * ms-swift checks with the math_verify package (a LaTeX parser and sympy); this is the subset that needs neither:
 * the answer is the last {@code \boxed{...}}, else the last {@code <answer>...</answer>}, else the last number in
 * the text; two answers are equal when both read as numbers (integers, decimals, thousands commas, {@code \frac},
 * {@code a/b}, a trailing {@code %} dropped) within 1e-6 relative, or else when their text is the same once spaces,
 * {@code $}, {@code \left}/{@code \right}, {@code \dfrac}/{@code \tfrac} and a trailing period are normalised away.
 * Symbolic equivalence ({@code x+1} vs {@code 1+x}) is not recognised.
 */
public final class MathAnswer {
  private MathAnswer() {}

  private static final Pattern ANSWER_TAG = Pattern.compile("<answer>(.*?)</answer>", Pattern.DOTALL);
  private static final Pattern NUMBER = Pattern.compile("-?\\d[\\d,]*(?:\\.\\d+)?|-?\\.\\d+");
  private static final Pattern FRAC = Pattern.compile("^(-?)\\\\frac\\{([^{}]+)\\}\\{([^{}]+)\\}$");

  /** Whether the completion's final answer equals the solution's (see the class comment); false if it has none. */
  public static boolean matches(String completion, String solution) {
    String expected = extract(solution, true), got = extract(completion, false);
    if (expected == null || got == null) return false;
    Double a = number(got), b = number(expected);
    if (a != null && b != null) return Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(b));
    return normalise(got).equals(normalise(expected));
  }

  /**
   * The final answer of a text: its last \boxed{...} (braces balanced), else its last answer tag, else its last
   * number; a solution with none of these is its whole text. Null when there is none.
   */
  static String extract(String text, boolean whole) {
    if (text == null) return null;
    String boxed = lastBoxed(text);
    if (boxed != null) return boxed.strip();
    Matcher m = ANSWER_TAG.matcher(text);
    String tag = null;
    while (m.find()) tag = m.group(1);
    if (tag != null) return tag.strip();
    if (whole) return text.isBlank() ? null : text.strip();
    Matcher n = NUMBER.matcher(text);
    String last = null;
    while (n.find()) last = n.group();
    return last == null ? null : last.replaceAll(",+$", "");  // "is 21, so": the comma is the sentence's
  }

  private static String lastBoxed(String text) {
    int at = text.lastIndexOf("\\boxed{");
    if (at < 0) return null;
    int depth = 0, start = at + "\\boxed{".length();
    for (int i = start - 1; i < text.length(); i++) {
      char c = text.charAt(i);
      if (c == '{') depth++;
      else if (c == '}' && --depth == 0) return text.substring(start, i);
    }
    return null;  // unbalanced: no answer
  }

  static String normalise(String s) {
    String t = s.replace("\\left", "").replace("\\right", "").replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
        .replace("\\!", "").replace("$", "").replaceAll("\\s+", "");
    while (t.endsWith(".")) t = t.substring(0, t.length() - 1);
    return t;
  }

  /** The value of a numeric answer, or null. */
  static Double number(String s) {
    String t = normalise(s).replace("\\%", "").replace("%", "");
    if (t.startsWith("{") && t.endsWith("}")) t = t.substring(1, t.length() - 1);
    Matcher f = FRAC.matcher(t);
    if (f.matches()) {
      Double num = plain(f.group(2)), den = plain(f.group(3));
      if (num == null || den == null || den == 0) return null;
      return (f.group(1).isEmpty() ? 1 : -1) * num / den;
    }
    int slash = t.indexOf('/');
    if (slash > 0 && slash == t.lastIndexOf('/')) {
      Double num = plain(t.substring(0, slash)), den = plain(t.substring(slash + 1));
      return num == null || den == null || den == 0 ? null : num / den;
    }
    return plain(t);
  }

  private static Double plain(String t) {
    if (!t.matches("-?(\\d{1,3}(,\\d{3})+|\\d+)(\\.\\d+)?|-?\\.\\d+")) return null;
    return Double.parseDouble(t.replace(",", ""));
  }
}
