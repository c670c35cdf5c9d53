package jswift.train;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.List;
import java.util.Map;
import jswift.template.Message;

/**
 * A GRPO reward: scores one generated completion (ms-swift's ORM, its outcome reward model). The built-in ones
 * ({@code accuracy}, {@code format}, {@code react_format}, {@code cosine}, {@code repetition},
 * {@code soft_overlong}) are in {@link Rewards}. Your own is a class implementing this interface with a public
 * no-argument constructor, listed in {@code META-INF/services/jswift.train.RewardFunction} of a jar given to
 * {@code --external_plugins} (ms-swift's flag for its Python plugins) or on the class path (Java's ServiceLoader);
 * {@code --reward_funcs} then names it by {@link #name()}.
 */
public interface RewardFunction {
  /** The name {@code --reward_funcs} selects this function by. */
  String name();

  /**
   * The reward of one completion; NaN where this function has none for it (left out of the weighted sum, as TRL
   * does with None).
   */
  double reward(Completion completion);

  /**
   * The rewards of several completions (a step's); the default calls {@link #reward} for each, a reward model scores
   * them in one batch. A failure names the completion: {@link Failure}.
   */
  default double[] rewards(List<Completion> completions) {
    double[] r = new double[completions.size()];
    for (int i = 0; i < r.length; i++) {
      try {
        r[i] = reward(completions.get(i));
      } catch (RuntimeException e) {
        throw new Failure(i, e);
      }
    }
    return r;
  }

  /** A reward that failed on completion {@link #index} of a batch; the message is the cause's. */
  final class Failure extends IllegalArgumentException {
    private final int index;

    public Failure(int index, RuntimeException cause) {
      super(cause.getMessage(), cause);
      this.index = index;
    }

    public int index() {
      return index;
    }
  }

  /** A reward function from a name and a lambda (for the Java API: {@code TrainArguments.rewardFunctions}). */
  static RewardFunction of(String name, java.util.function.ToDoubleFunction<Completion> reward) {
    return new RewardFunction() {
      @Override
      public String name() {
        return name;
      }

      @Override
      public double reward(Completion c) {
        return reward.applyAsDouble(c);
      }
    };
  }

  /**
   * One completion to score: its text (special tokens and the stop string removed), its length in tokens, whether
   * it was cut at max_completion_length, the prompt's messages, and the other columns of its dataset row
   * ({@code solution}...), as ms-swift passes them to reward functions.
   */
  record Completion(String text, int tokens, boolean truncated, List<Message> prompt, Map<String, JsonNode> columns) {
    /** A column of the row as text (a string as is, anything else as JSON), or null when the row has none. */
    public String column(String name) {
      JsonNode n = columns.get(name);
      return n == null || n.isNull() ? null : n.isTextual() ? n.asText() : n.toString();
    }
  }
}
