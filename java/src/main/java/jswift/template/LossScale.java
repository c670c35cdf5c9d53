package jswift.template;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Which pieces are trained on, and with what weight (ms-swift's {@code --loss_scale}).
 *
 * <p>Strategies: {@code default} trains every assistant response and the suffix; {@code last_round} only the
 * responses after the last user message (the final answer and the tool calls leading to it) and the suffix;
 * {@code all} trains everything, system and user text included. An assistant message's own {@code "loss"}
 * overrides the strategy for its response: false never trains it, true always does, a number weights it.
 * jswift lets that flag also cover the suffix ending the message (ms-swift keeps training the suffix of a
 * {@code "loss": false} response, which teaches the end token after text the model does not learn).
 *
 * <p>{@code ignore_empty_think} (a suffix {@code +ignore_empty_think}, or the ms-swift 3.x names
 * {@code ignore_empty_think} and {@code last_round_with_ignore_empty_think}) gives weight 0 to an empty
 * reasoning block at the start of a response ({@code <think>\n\n</think>\n\n}, e.g. the non-thinking prefix of
 * Qwen3), so a hybrid model is not taught to skip reasoning by every plain answer.
 *
 * <p>The agent weightings {@code react}, {@code qwen} and {@code hermes} ({@link AgentWeights}) train the
 * responses as {@code default} does but weight their parts: a keyword and the text after it up to the next
 * keyword each get their own weight (ReAct's {@code Action:} 2 / 2, {@code Observation:} 2 / 0, ...), or a
 * pattern's matches get one ({@code <tool_call>...</tool_call>} 2 for hermes).
 */
public record LossScale(Strategy strategy, boolean ignoreEmptyThink, AgentWeights agent) {
  /** The base strategies. */
  public enum Strategy { DEFAULT, LAST_ROUND, ALL }

  public static final LossScale DEFAULT = new LossScale(Strategy.DEFAULT, false);
  public static final LossScale LAST_ROUND = new LossScale(Strategy.LAST_ROUND, false);
  public static final LossScale ALL = new LossScale(Strategy.ALL, false);

  public LossScale(Strategy strategy, boolean ignoreEmptyThink) {
    this(strategy, ignoreEmptyThink, null);
  }

  private static final Pattern EMPTY_THINK = Pattern.compile("^<think>\\s*</think>\\s*", Pattern.UNICODE_CHARACTER_CLASS);

  public LossScale {
    if (strategy == null) throw new IllegalArgumentException("loss_scale strategy is null");
  }

  /**
   * An ms-swift {@code --loss_scale} value.
   *
   * @throws IllegalArgumentException naming the accepted values; ms-swift's agentflan and alpha_umi weightings
   *     are named as not supported yet
   */
  public static LossScale parse(String name) {
    String n = name == null ? "" : name.trim().toLowerCase(Locale.ROOT);
    switch (n) {
      case "ignore_empty_think": return new LossScale(Strategy.DEFAULT, true);
      case "last_round_with_ignore_empty_think": return new LossScale(Strategy.LAST_ROUND, true);
      default: break;
    }
    boolean ignore = false;
    if (n.endsWith("+ignore_empty_think")) {
      ignore = true;
      n = n.substring(0, n.length() - "+ignore_empty_think".length());
    }
    Strategy s = switch (n) {
      case "default" -> Strategy.DEFAULT;
      case "last_round" -> Strategy.LAST_ROUND;
      case "all" -> Strategy.ALL;
      case "react", "hermes", "qwen" -> Strategy.DEFAULT;
      case "agentflan", "alpha_umi" -> throw new IllegalArgumentException("loss_scale '" + name + "' (an agent "
          + "keyword weighting) is not supported by jswift yet; use default, last_round, all, react, qwen or hermes");
      default -> throw new IllegalArgumentException("unknown loss_scale '" + name + "': expected default, last_round, all, "
          + "react, qwen or hermes, optionally followed by +ignore_empty_think");
    };
    return new LossScale(s, ignore, AgentWeights.named(n));
  }

  /** The ms-swift spelling, e.g. {@code last_round+ignore_empty_think}. */
  public String msSwiftName() {
    return (agent != null ? agent.name() : strategy.name().toLowerCase(Locale.ROOT))
        + (ignoreEmptyThink ? "+ignore_empty_think" : "");
  }

  /** Assigns each piece its weight; an empty reasoning block may become a piece of its own. */
  List<Piece> weigh(List<Piece> pieces, Dialogue dialogue) {
    int lastUser = dialogue.lastUserRound();
    List<Round> rounds = dialogue.rounds();
    List<Piece> out = new ArrayList<>(pieces.size() + 1);
    for (Piece p : pieces) {
      Double own = p.round() >= 0 && p.type() != PieceType.OTHER ? rounds.get(p.round()).loss() : null;
      boolean assistant = p.type() != PieceType.OTHER;
      double w;
      if (own != null && assistant) {
        w = own;
      } else {
        w = switch (strategy) {
          case ALL -> 1;
          case DEFAULT -> assistant ? 1 : 0;
          case LAST_ROUND -> assistant && p.round() >= lastUser ? 1 : 0;
        };
      }
      Piece weighed = p.withWeight(w);
      String text = p.text();
      if (ignoreEmptyThink && p.type() == PieceType.RESPONSE && w > 0 && text != null) {
        Matcher m = EMPTY_THINK.matcher(text);
        if (m.lookingAt()) {
          out.add(p.withPart(PromptPart.text(m.group())).withWeight(0));
          text = text.substring(m.end());
          if (text.isEmpty()) continue;
          weighed = p.withPart(PromptPart.text(text)).withWeight(w);
        }
      }
      // an agent weighting splits a response the strategy trains (a message's own "loss" is kept whole, as ms-swift)
      if (agent != null && p.type() == PieceType.RESPONSE && w > 0 && own == null && text != null) {
        for (AgentWeights.Part part : agent.split(text))
          out.add(p.withPart(PromptPart.text(part.text())).withWeight(w * part.weight()));
        continue;
      }
      out.add(weighed);
    }
    return out;
  }
}
