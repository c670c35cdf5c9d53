package jswift.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

/** How a classifier's labels read and its predictions come out, per problem type (ms-swift's conventions). */
class ProblemTypeTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  private static JsonNode json(String s) throws Exception {
    return JSON.readTree(s);
  }

  @Test
  void defaultsAsMsSwift() {
    assertEquals(ProblemType.REGRESSION, ProblemType.parse(null, 1), "one label: a score");
    assertEquals(ProblemType.SINGLE_LABEL, ProblemType.parse(null, 4));
    assertEquals(ProblemType.MULTI_LABEL, ProblemType.parse("multi_label_classification", 4));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ProblemType.parse("multi", 4));
    assertTrue(e.getMessage().contains("single_label_classification"), e.getMessage());
  }

  @Test
  void readsLabels() throws Exception {
    assertArrayEquals(new double[] {2}, ProblemType.SINGLE_LABEL.target(json("2"), 3));
    assertArrayEquals(new double[] {1}, ProblemType.SINGLE_LABEL.target(json("1.0"), 3), "an integral float is a class");
    assertArrayEquals(new double[] {1, 0, 1}, ProblemType.MULTI_LABEL.target(json("[0, 2]"), 3), "one-hot, as ms-swift");
    assertArrayEquals(new double[] {0, 0, 0}, ProblemType.MULTI_LABEL.target(json("[]"), 3), "no class at all");
    assertArrayEquals(new double[] {0.25}, ProblemType.REGRESSION.target(json("0.25"), 1));
    assertArrayEquals(new double[] {1, -2}, ProblemType.REGRESSION.target(json("[1, -2.0]"), 2));
    // a CSV cell is text: read as the number or list it spells
    assertArrayEquals(new double[] {2}, ProblemType.SINGLE_LABEL.target(json("\" 2\""), 3));
    assertArrayEquals(new double[] {1, 0, 1}, ProblemType.MULTI_LABEL.target(json("\"[0, 2]\""), 3));
    assertArrayEquals(new double[] {-0.5}, ProblemType.REGRESSION.target(json("\"-0.5\""), 1));
  }

  @Test
  void badLabelsAreNamed() {
    String[][] cases = {
        {"SINGLE_LABEL", "3", "out of range"}, {"SINGLE_LABEL", "-1", "out of range"},
        {"SINGLE_LABEL", "1.5", "not an integer"}, {"SINGLE_LABEL", "\"pos\"", "not an integer"},
        {"MULTI_LABEL", "1", "list of class indices"}, {"MULTI_LABEL", "[0, 5]", "out of range"},
        {"REGRESSION", "[1, 2]", "a number"}, {"REGRESSION", "\"x\"", "a number"}};
    for (String[] c : cases) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> ProblemType.valueOf(c[0]).target(json(c[1]), c[0].equals("REGRESSION") ? 1 : 3), c[1]);
      assertTrue(e.getMessage().contains(c[2]), c[0] + " " + c[1] + ": " + e.getMessage());
    }
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> ProblemType.SINGLE_LABEL.target(null, 3));
    assertTrue(e.getMessage().contains("no \"label\"") && e.getMessage().contains("\"label\": 1"), e.getMessage());
  }

  @Test
  void predictsAsMsSwiftInfers() {
    assertEquals("1", ProblemType.SINGLE_LABEL.predict(new double[] {0.1, 2, -1}).toString());
    assertEquals("[0,2]", ProblemType.MULTI_LABEL.predict(new double[] {0.1, -2, 0}).toString(),
        "classes whose sigmoid is >= 0.5");
    assertEquals("0.5", ProblemType.REGRESSION.predict(new double[] {0.5}).toString());
    assertEquals("[0.5,-1.0]", ProblemType.REGRESSION.predict(new double[] {0.5, -1}).toString());
  }
}
