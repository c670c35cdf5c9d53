package jswift.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** ROUGE and BLEU on answers worked out by hand. */
class TextOverlapTest {
  private static final double EPS = 1e-12;

  @Test
  void rougeAndBleuOfACloseAnswer() {
    // answer: the cat sat on the mat / reference: the cat is on the mat (6 words each)
    Map<String, Double> s = TextOverlap.score("The cat sat on the mat.", "the cat IS on the mat");
    assertEquals(5 / 6.0, s.get("rouge-1-r"), EPS);  // the x2, cat, on, mat
    assertEquals(5 / 6.0, s.get("rouge-1-p"), EPS);
    assertEquals(5 / 6.0, s.get("rouge-1-f"), EPS);
    assertEquals(3 / 5.0, s.get("rouge-2-f"), EPS);  // the cat, on the, the mat
    assertEquals(5 / 6.0, s.get("rouge-l-f"), EPS);  // the cat on the mat
    assertEquals(5 / 6.0, s.get("bleu-1"), EPS);
    assertEquals(3 / 5.0, s.get("bleu-2"), EPS);
    assertEquals(1 / 4.0, s.get("bleu-3"), EPS);      // on the mat
    assertEquals(0.0, s.get("bleu-4"), EPS);
    assertEquals(TextOverlap.NAMES, List.copyOf(s.keySet()));
  }

  @Test
  void countsAreClippedAndShortAnswersPayTheBrevityPenalty() {
    Map<String, Double> s = TextOverlap.score("the the the", "the cat");
    assertEquals(1 / 3.0, s.get("rouge-1-p"), EPS);
    assertEquals(1 / 2.0, s.get("rouge-1-r"), EPS);
    assertEquals(1 / 3.0, s.get("bleu-1"), EPS);  // no penalty: the answer is the longer
    Map<String, Double> shortAnswer = TextOverlap.score("the cat", "the cat sat");
    assertEquals(Math.exp(1 - 3 / 2.0), shortAnswer.get("bleu-1"), EPS);
    assertEquals(Math.exp(1 - 3 / 2.0), shortAnswer.get("bleu-2"), EPS);
    assertEquals(2 / 3.0, shortAnswer.get("rouge-l-r"), EPS);
    assertEquals(1.0, shortAnswer.get("rouge-l-p"), EPS);
  }

  @Test
  void wordsAreLowerCaseRunsAndCjkCharacters() {
    assertEquals(List.of("gpu", "很", "快", "h200", "s"), TextOverlap.words("GPU很快! H200's"));
    for (double v : TextOverlap.score("", "anything").values()) assertEquals(0.0, v);
    assertEquals(1.0, TextOverlap.score("北京是首都", "北京是首都").get("bleu-4"), EPS);
  }
}
