package jswift.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

/** Python literals as ast.literal_eval reads them (the expected values were checked with Python 3). */
class PyLiteralTest {
  private static void same(String json, String python) {
    assertEquals(DataTesting.tree(json), PyLiteral.parse(python), python);
  }

  @Test
  void historyShapes() {
    same("[[\"q1\",\"r1\"],[\"q2\",null]]", "[['q1', 'r1'], ['q2', None]]");
    same("[[\"a\",\"b\"]]", "[('a', 'b',)]");
    same("[]", " [ ] ");
    same("[{\"role\":\"user\",\"content\":\"x\",\"loss\":true}]", "[{'role': 'user', 'content': \"x\", 'loss': True}]");
  }

  @Test
  void strings() {
    same("[\"it's\"]", "[\"it's\"]");
    same("[\"tab\\tnew\\nline \\\\ quote' \\u00e9 A\"]", "['tab\\tnew\\nline \\\\ quote\\' \\xe9 \\u0041']");
    same("[\"raw \\\\n\"]", "[r'raw \\n']");
    same("[\"ab\"]", "['a' \"b\"]");
    same("[\"multi\\nline\"]", "['''multi\nline''']");
    same("[\"\\ud83d\\ude00\"]", "['\\U0001F600']");
    same("[\"keep \\\\d\"]", "['keep \\d']");
  }

  @Test
  void numbersAndConstants() {
    same("[1, -2, 3.5, 1000000, 255, false]", "[1, -2, 3.5, 1_000_000, 0xff, False]");
    same("{\"1\": \"one\"}", "{1: 'one'}");
  }

  @Test
  void jsonIsAcceptedToo() {
    same("[[\"q\", null], [true, false]]", "[[\"q\", null], [true, false]]");
  }

  @Test
  void errorsSayWhere() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> PyLiteral.parse("[['a', 'b']"));
    assertEquals("not a Python literal: missing ']' at character 12", e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> PyLiteral.parse("['a' 'b' c]"));
    assertEquals("not a Python literal: expected ',' or ']' at character 10", e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> PyLiteral.parse("['unterminated]"));
    assertEquals("not a Python literal: the string is never closed at character 2", e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> PyLiteral.parse("[os.system('x')]"));
    assertEquals("not a Python literal: unexpected name 'os' at character 4", e.getMessage());
  }
}
