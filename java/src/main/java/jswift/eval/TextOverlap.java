package jswift.eval;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * How much of a reference answer a generated one repeats, the metrics of EvalScope's {@code general_qa}: ROUGE-1,
 * ROUGE-2 and ROUGE-L (recall, precision, F1 of shared word n-grams, and of the longest common subsequence) and
 * BLEU-1 to BLEU-4 (each n-gram precision, clipped by the reference's counts, times the brevity penalty). Words are
 * lower-cased runs of letters or digits; each CJK character is a word of its own; punctuation is dropped.
 */
public final class TextOverlap {
  private TextOverlap() {}

  /** The metric names, in report order. */
  public static final List<String> NAMES = List.of("rouge-1-r", "rouge-1-p", "rouge-1-f", "rouge-2-r", "rouge-2-p",
      "rouge-2-f", "rouge-l-r", "rouge-l-p", "rouge-l-f", "bleu-1", "bleu-2", "bleu-3", "bleu-4");

  /** Every metric of one answer against its reference, in [0, 1]. */
  public static Map<String, Double> score(String answer, String reference) {
    List<String> a = words(answer), r = words(reference);
    Map<String, Double> out = new LinkedHashMap<>();
    for (int n = 1; n <= 2; n++) put(out, "rouge-" + n, overlap(a, r, n), count(r, n), count(a, n));
    put(out, "rouge-l", lcs(a, r), r.size(), a.size());
    double brevity = a.isEmpty() ? 0 : a.size() >= r.size() ? 1 : Math.exp(1 - r.size() / (double) a.size());
    for (int n = 1; n <= 4; n++) {
      int total = count(a, n);
      out.put("bleu-" + n, total == 0 ? 0 : brevity * overlap(a, r, n) / total);
    }
    return out;
  }

  /** Words: lower-cased letter / digit runs, each CJK character alone. */
  static List<String> words(String text) {
    List<String> out = new ArrayList<>();
    StringBuilder word = new StringBuilder();
    text.toLowerCase(Locale.ROOT).codePoints().forEach(c -> {
      if (isCjk(c)) {
        flush(word, out);
        out.add(new String(Character.toChars(c)));
      } else if (Character.isLetterOrDigit(c)) {
        word.appendCodePoint(c);
      } else {
        flush(word, out);
      }
    });
    flush(word, out);
    return out;
  }

  private static void put(Map<String, Double> out, String name, int common, int referenceCount, int answerCount) {
    double r = referenceCount == 0 ? 0 : common / (double) referenceCount;
    double p = answerCount == 0 ? 0 : common / (double) answerCount;
    out.put(name + "-r", r);
    out.put(name + "-p", p);
    out.put(name + "-f", r + p == 0 ? 0 : 2 * r * p / (r + p));
  }

  private static int count(List<String> w, int n) {
    return Math.max(0, w.size() - n + 1);
  }

  /** Shared n-grams, each counted at most as often as in the reference. */
  static int overlap(List<String> answer, List<String> reference, int n) {
    Map<List<String>, Integer> ref = new HashMap<>();
    for (int i = 0; i + n <= reference.size(); i++) ref.merge(reference.subList(i, i + n), 1, Integer::sum);
    int common = 0;
    for (int i = 0; i + n <= answer.size(); i++) {
      Integer left = ref.get(answer.subList(i, i + n));
      if (left != null && left > 0) {
        common++;
        ref.put(answer.subList(i, i + n), left - 1);
      }
    }
    return common;
  }

  /** The length of the longest common subsequence of words. */
  static int lcs(List<String> a, List<String> b) {
    int[] prev = new int[b.size() + 1], cur = new int[b.size() + 1];
    for (int i = 1; i <= a.size(); i++) {
      for (int j = 1; j <= b.size(); j++)
        cur[j] = a.get(i - 1).equals(b.get(j - 1)) ? prev[j - 1] + 1 : Math.max(prev[j], cur[j - 1]);
      int[] t = prev;
      prev = cur;
      cur = t;
    }
    return prev[b.size()];
  }

  private static boolean isCjk(int c) {
    Character.UnicodeScript s = Character.UnicodeScript.of(c);
    return s == Character.UnicodeScript.HAN || s == Character.UnicodeScript.HIRAGANA
        || s == Character.UnicodeScript.KATAKANA || s == Character.UnicodeScript.HANGUL;
  }

  private static void flush(StringBuilder word, List<String> out) {
    if (word.length() > 0) out.add(word.toString());
    word.setLength(0);
  }
}
