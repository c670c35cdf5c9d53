package jswift.template;

import java.util.List;

/**
 * ms-swift's rules for reasoning ("thinking") models, applied to a conversation before it is laid out.
 *
 * <p>At inference, and in training with loss_scale {@code last_round}, the model only ever sees its earlier
 * turns without their reasoning (that is how the conversation looks when it is really continued), so the
 * reasoning of assistant turns before the last user message is cut: everything up to the last
 * {@code </think>} goes, the rest is stripped and {@code historyThinkingPrefix} put in front. With the other
 * strategies every turn is trained on, so every turn keeps its reasoning.
 *
 * <p>A hybrid model (Qwen3) answers either with reasoning or after an empty reasoning block; an answer written
 * without {@code <think>} therefore gets the {@code nonThinkingPrefix} ({@code <think>\n\n</think>\n\n}), so the
 * model learns to emit that block when it does not reason. The prefix is added to the turns that are trained
 * on: all of them, or with {@code last_round} and at inference those after the last user message.
 */
final class ThinkingRules {
  private static final String THINK_OPEN = "<think>";
  private static final String THINK_CLOSE = "</think>";

  private ThinkingRules() {}

  static void apply(List<Turn> turns, TemplateMeta meta, TemplateOptions options, boolean training) {
    if (!meta.thinking() && meta.nonThinkingPrefix().isEmpty()) return;
    boolean onlyLastRound = !training || options.lossScale().strategy() == LossScale.Strategy.LAST_ROUND;
    int lastUser = -1;
    for (int i = 0; i < turns.size(); i++) if (turns.get(i).kind == Turn.Kind.USER) lastUser = i;

    String nonThinking = meta.nonThinkingPrefix();
    if (options.addNonThinkingPrefix() && !nonThinking.isEmpty()) {
      int start = onlyLastRound ? lastUser : 0;
      for (int i = Math.max(start, 0); i < turns.size(); i++) {
        Turn t = turns.get(i);
        if (t.kind == Turn.Kind.ASSISTANT && !t.content.startsWith(THINK_OPEN) && !t.content.startsWith(nonThinking))
          t.content = nonThinking + t.content;
      }
    }
    if (meta.thinking() && onlyLastRound) {
      for (int i = 0; i < lastUser; i++) {
        Turn t = turns.get(i);
        if (t.kind == Turn.Kind.ASSISTANT) t.content = meta.historyThinkingPrefix() + withoutReasoning(t.content);
      }
    }
  }

  /** Python's {@code content.split('</think>')[-1].strip()}. */
  static String withoutReasoning(String content) {
    int close = content.lastIndexOf(THINK_CLOSE);
    String answer = close < 0 ? content : content.substring(close + THINK_CLOSE.length());
    return pyStrip(answer);
  }

  /** {@code str.strip()}: Python's whitespace also covers the no-break spaces Java's strip() keeps. */
  static String pyStrip(String s) {
    int a = 0, b = s.length();
    while (a < b && isPySpace(s.charAt(a))) a++;
    while (b > a && isPySpace(s.charAt(b - 1))) b--;
    return s.substring(a, b);
  }

  private static boolean isPySpace(char c) {
    return Character.isWhitespace(c) || Character.isSpaceChar(c) || (c >= 0x1c && c <= 0x1f) || c == 0x85;
  }
}
