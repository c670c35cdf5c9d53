package jswift.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.TextNode;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** GRPO's built-in reward functions against ms-swift's definitions, and a reward function found as a service. */
class RewardsTest {
  /** A reward of the tests' own, registered in META-INF/services as a user's plugin would be. */
  public static final class Politeness implements RewardFunction {
    @Override
    public String name() {
      return "politeness";
    }

    @Override
    public double reward(Completion c) {
      return c.text().contains("please") ? 1 : 0;
    }
  }

  /** A reward every answer earns (the sample command's easy-prompt cut is tested with it). */
  public static final class AlwaysOne implements RewardFunction {
    @Override
    public String name() {
      return "always_one";
    }

    @Override
    public double reward(Completion c) {
      return 1;
    }
  }

  private static RewardFunction.Completion completion(String text, int tokens, String solution) {
    Map<String, JsonNode> columns = solution == null ? Map.of() : Map.of("solution", TextNode.valueOf(solution));
    return new RewardFunction.Completion(text, tokens, false, List.of(), columns);
  }

  private static double reward(String name, String text, int tokens, String solution) {
    return Rewards.resolve(List.of(name), Rewards.Settings.defaults(100)).get(0).reward(completion(text, tokens, solution));
  }

  @Test
  void formatRewardsThinkThenAnswerAndNothingAfter() {
    assertEquals(1, reward("format", "<think>\n2 and 2\n</think>\n<answer>4</answer>", 9, null));
    assertEquals(0, reward("format", "<think>x</think><answer>4</answer> and more", 9, null));
    assertEquals(0, reward("format", "<answer>4</answer>", 3, null));
    assertEquals(1, reward("react_format", "<think>look it up</think>\nAction: search\nAction Input: {\"q\": 1}", 9, null));
    assertEquals(0, reward("react_format", "Action: search\nAction Input: {}", 9, null));
  }

  @Test
  void accuracyComparesTheFinalAnswerWithTheSolution() {
    assertEquals(1, reward("accuracy", "3 times 7 is \\boxed{21}.", 5, "21"));
    assertEquals(1, reward("accuracy", "so the answer is 21, done", 5, "The answer is \\boxed{21}"));
    assertEquals(0, reward("accuracy", "the answer is 22", 5, "21"));
    assertEquals(1, reward("accuracy", "\\boxed{\\dfrac{1}{2}}", 5, "0.5"));
    assertEquals(1, reward("accuracy", "<answer> 1,000 </answer>", 5, "1000"));
    assertEquals(1, reward("accuracy", "\\boxed{x^{2}+1}", 5, "$x^{2} + 1$"));
    assertEquals(0, reward("accuracy", "no number here", 5, "21"));
    assertTrue(jswift.eval.MathAnswer.matches("\\boxed{\\frac{3}{4}}", "3/4"));
    assertFalse(jswift.eval.MathAnswer.matches("\\boxed{\\frac{3}{4", "3/4"), "an unbalanced box has no answer");
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> reward("accuracy", "21", 1, null));
    assertTrue(e.getMessage().contains("\"solution\" column"), e.getMessage());
  }

  @Test
  void cosineRewardsShortRightAnswersAndLongWrongOnes() {
    assertEquals(1.0, reward("cosine", "\\boxed{21}", 0, "21"), 1e-12);
    assertEquals(0.75, reward("cosine", "\\boxed{21}", 50, "21"), 1e-12);
    assertEquals(0.5, reward("cosine", "\\boxed{21}", 100, "21"), 1e-12);
    assertEquals(0.5, reward("cosine", "\\boxed{21}", 400, "21"), 1e-12, "past cosine_max_len: the value at it");
    assertEquals(-0.5, reward("cosine", "\\boxed{20}", 0, "21"), 1e-12);
    assertEquals(-0.25, reward("cosine", "\\boxed{20}", 50, "21"), 1e-12);
    assertEquals(0.0, reward("cosine", "\\boxed{20}", 100, "21"), 1e-12);
  }

  @Test
  void repetitionPenalisesRepeatedNGrams() {
    assertEquals(0, reward("repetition", "one two three four five", 5, null));
    // 6 words, 4 trigrams of which 2 distinct ("a b a", "b a b"): (1 - 2/4) x -1
    assertEquals(-0.5, reward("repetition", "a b a b a b", 6, null), 1e-12);
    assertEquals(0, reward("repetition", "too short", 2, null));
  }

  @Test
  void softOverlongPunishesTheLastCacheLengthTokensLinearly() {
    Rewards.Settings s = new Rewards.Settings(-0.5, 0, 1, 0.5, 100, 3, -1, 100, 20);
    RewardFunction f = Rewards.resolve(List.of("soft_overlong"), s).get(0);
    assertEquals(0, f.reward(completion("x", 80, null)), 0);
    assertEquals(-0.5, f.reward(completion("x", 90, null)), 1e-12);
    assertEquals(-1, f.reward(completion("x", 100, null)), 1e-12);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> Rewards.resolve(List.of("soft_overlong"), Rewards.Settings.defaults(100)));
    assertTrue(e.getMessage().contains("--soft_cache_length"), e.getMessage());
  }

  @Test
  void otherNamesAreServicesOnTheClassPath() {
    RewardFunction f = Rewards.resolve(List.of("politeness"), Rewards.Settings.defaults(100)).get(0);
    assertEquals(1, f.reward(completion("yes please", 2, null)));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> Rewards.resolve(List.of("accuracy", "kindness"), Rewards.Settings.defaults(100)));
    assertTrue(e.getMessage().contains("kindness") && e.getMessage().contains("politeness")
        && e.getMessage().contains("soft_overlong"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> Rewards.resolve(List.of(), Rewards.Settings.defaults(100)));
    assertThrows(IllegalArgumentException.class,
        () -> Rewards.resolve(List.of("format", "format"), Rewards.Settings.defaults(100)));
  }
}
