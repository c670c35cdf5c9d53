package jswift.data;

import static jswift.data.DataTesting.assertRow;
import static jswift.data.DataTesting.infer;
import static jswift.data.DataTesting.obj;
import static jswift.data.DataTesting.train;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * Alpaca and query/response rows, and column renaming, against what ms-swift's AlpacaPreprocessor,
 * ResponsePreprocessor and safe_rename_columns produce (worked out by hand from core.py and
 * history_to_messages).
 */
class ResponseConversionTest {
  private static final String QA = "[{\"role\":\"user\",\"content\":\"%s\"},{\"role\":\"assistant\",\"content\":\"%s\"}]";

  @Test
  void alpacaJoinsInstructionAndInputWithANewline() {
    assertRow("{\"messages\":" + String.format(QA, "Translate to German\\ngood morning", "guten Morgen") + "}",
        train("{\"instruction\":\"Translate to German\",\"input\":\"good morning\",\"output\":\"guten Morgen\"}"));
    // an empty input leaves the instruction alone; an empty instruction, the input
    assertRow("{\"messages\":" + String.format(QA, "Name a color.", "Blue.") + "}",
        train("{\"instruction\":\"Name a color.\",\"input\":\"\",\"output\":\"Blue.\"}"));
    assertRow("{\"messages\":" + String.format(QA, "just the input", "ok") + "}",
        train("{\"instruction\":\"\",\"input\":\"just the input\",\"output\":\"ok\"}"));
  }

  @Test
  void alpacaWithSystemAndHistory() {
    Row row = train("{\"system\":\"S\",\"instruction\":\"I\",\"input\":\"J\",\"output\":\"O\",\"history\":[[\"h1\",\"a1\"]]}");
    assertRow("{\"messages\":[{\"role\":\"system\",\"content\":\"S\"},{\"role\":\"user\",\"content\":\"h1\"},"
        + "{\"role\":\"assistant\",\"content\":\"a1\"},{\"role\":\"user\",\"content\":\"I\\nJ\"},"
        + "{\"role\":\"assistant\",\"content\":\"O\"}]}", row);
  }

  @Test
  void queryResponseWithHistoryAsListOrPythonText() {
    String expected = "{\"messages\":[{\"role\":\"user\",\"content\":\"2+2?\"},{\"role\":\"assistant\",\"content\":\"4\"},"
        + "{\"role\":\"user\",\"content\":\"and 3+3?\"},{\"role\":\"assistant\",\"content\":\"6\"}]}";
    assertRow(expected, train("{\"query\":\"and 3+3?\",\"response\":\"6\",\"history\":[[\"2+2?\",\"4\"]]}"));
    assertRow(expected, train("{\"query\":\"and 3+3?\",\"response\":\"6\",\"history\":\"[['2+2?', '4']]\"}"));
    assertRow(expected, train("{\"query\":\"and 3+3?\",\"response\":\"6\",\"history\":\"[(\\\"2+2?\\\", \\\"4\\\")]\"}"));
    // an empty history string is Python's `or []`
    assertRow("{\"messages\":" + String.format(QA, "q", "r") + "}", train("{\"query\":\"q\",\"response\":\"r\",\"history\":\"\"}"));
  }

  @Test
  void historyTurnsWithNoneSkipThatSide() {
    // history_to_messages adds a user turn only when h[0] is not None, an assistant turn only when h[1] is not
    Row row = train("{\"history\":[[null,\"Welcome!\"]],\"query\":\"hi\",\"response\":\"hello\"}");
    assertRow("{\"messages\":[{\"role\":\"assistant\",\"content\":\"Welcome!\"},{\"role\":\"user\",\"content\":\"hi\"},"
        + "{\"role\":\"assistant\",\"content\":\"hello\"}]}", row);
  }

  @Test
  void eachQueryAndResponseKeyIsAccepted() {
    assertRow("{\"messages\":" + String.format(QA, "p", "c") + "}", train("{\"prompt\":\"p\",\"completion\":\"c\"}"));
    assertRow("{\"messages\":[{\"role\":\"system\",\"content\":\"S\"}," + String.format(QA, "Q", "A").substring(1) + "}",
        train("{\"question\":\"Q\",\"answer\":\"A\",\"system\":\"S\"}"));
    assertRow("{\"messages\":" + String.format(QA, "in", "t") + "}", train("{\"input\":\"in\",\"targets\":\"t\"}"));
    assertRow("{\"messages\":" + String.format(QA, "ins", "ak") + "}", train("{\"instruction\":\"ins\",\"answer_key\":\"ak\"}"));
    // GRPO: the solution is the response and is also kept for the reward function
    assertRow("{\"messages\":" + String.format(QA, "3*7?", "21") + ",\"solution\":\"21\"}",
        train("{\"problem\":\"3*7?\",\"solution\":\"21\"}"));
  }

  @Test
  void responseOnlyIsPreTrainingAndQueryOnlyIsAPrompt() {
    assertRow("{\"messages\":[{\"role\":\"assistant\",\"content\":\"Raw text.\"}]}", train("{\"text\":\"Raw text.\"}"));
    assertRow("{\"messages\":[{\"role\":\"assistant\",\"content\":\"C\"}]}", train("{\"content\":\"C\"}"));
    assertRow("{\"messages\":[{\"role\":\"user\",\"content\":\"Only a question\"}]}", infer("{\"query\":\"Only a question\"}"));
  }

  @Test
  void anEmptySystemFieldIsStillASystemMessage() {
    // history_to_messages tests `system is not None`: a CSV's empty system cell gives an empty system turn
    assertRow("{\"messages\":[{\"role\":\"system\",\"content\":\"\"}," + String.format(QA, "q", "r").substring(1) + "}",
        train("{\"system\":\"\",\"query\":\"q\",\"response\":\"r\"}"));
  }

  @Test
  void numericResponsesBecomeText() {
    assertRow("{\"messages\":" + String.format(QA, "2+2", "4") + "}", train("{\"question\":\"2+2\",\"answer\":4}"));
  }

  @Test
  void listResponseTakesTheFirstOrASeededDraw() {
    assertRow("{\"messages\":" + String.format(QA, "q", "first") + "}",
        train("{\"query\":\"q\",\"response\":[\"first\",\"second\",\"third\"]}"));
    AutoPreprocessor random = new AutoPreprocessor(Map.of(), true, 42L);
    Set<String> picked = new HashSet<>();
    for (int line = 1; line <= 40; line++) {
      Location where = new Location("f.jsonl", line);
      Row a = random.convert(obj("{\"query\":\"q\",\"response\":[\"first\",\"second\",\"third\"]}"), where);
      Row b = random.convert(obj("{\"query\":\"q\",\"response\":[\"first\",\"second\",\"third\"]}"), where);
      // the same row read again (random access) converts to the same answer
      assertEquals(a.messages(), b.messages());
      picked.add(a.messages().get(1).content());
    }
    assertEquals(Set.of("first", "second", "third"), picked);
  }

  @Test
  void keysDifferingOnlyInCaseAreRenamed() {
    assertRow("{\"messages\":" + String.format(QA, "q", "r") + "}", train("{\"Query\":\"q\",\"RESPONSE\":\"r\"}"));
  }

  @Test
  void twoColumnsForOneRoleAreBothLeftAlone() {
    // answer and output both mean response: safe_rename_columns renames neither, so there is no response
    Row row = infer("{\"query\":\"q\",\"answer\":\"a\",\"output\":\"b\"}");
    assertRow("{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],\"answer\":\"a\",\"output\":\"b\"}", row);
    DatasetException e = assertThrows(DatasetException.class, () -> train("{\"query\":\"q\",\"answer\":\"a\",\"output\":\"b\"}"));
    assertTrue(e.getMessage().contains("no assistant turn"), e.getMessage());
    // a column already named "response" keeps its name and the other one stays as it is
    assertRow("{\"messages\":" + String.format(QA, "q", "kept") + ",\"answer\":\"other\"}",
        train("{\"query\":\"q\",\"response\":\"kept\",\"answer\":\"other\"}"));
  }

  @Test
  void columnsOptionRenamesFirst() {
    AutoPreprocessor p = new AutoPreprocessor(Columns.parse("{\"src\":\"query\",\"TGT\":\"response\"}"), true, null);
    assertRow("{\"messages\":" + String.format(QA, "Hallo", "Hello") + "}",
        p.convert(obj("{\"src\":\"Hallo\",\"tgt\":\"Hello\"}"), DataTesting.HERE));
    // renaming to messages selects the conversation preprocessor
    AutoPreprocessor dialog = new AutoPreprocessor(Map.of("dialog", "messages"), true, null);
    assertRow("{\"messages\":" + String.format(QA, "x", "y") + "}", dialog.convert(obj("{\"dialog\":[{\"role\":\"user\","
        + "\"content\":\"x\"},{\"role\":\"assistant\",\"content\":\"y\"}]}"), DataTesting.HERE));
  }

  @Test
  void columnsOntoAnExistingColumnIsAnError() {
    AutoPreprocessor p = new AutoPreprocessor(Map.of("a", "response"), true, null);
    DatasetException e = assertThrows(DatasetException.class,
        () -> p.convert(obj("{\"query\":\"q\",\"a\":\"x\",\"response\":\"y\"}"), DataTesting.HERE));
    assertEquals("test.jsonl:7: cannot rename column \"a\" to \"response\": the row already has a \"response\" column",
        e.getMessage());
  }

  @Test
  void columnsOptionMustBeAJsonObjectOfNames() {
    assertThrows(IllegalArgumentException.class, () -> Columns.parse("[1]"));
    assertThrows(IllegalArgumentException.class, () -> Columns.parse("{\"a\": 1}"));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Columns.parse("{a: b}"));
    assertTrue(e.getMessage().startsWith("--columns must be a JSON object"), e.getMessage());
    assertEquals(Map.of("a", "query"), DatasetOptions.defaults().withColumns("{\"a\": \"query\"}").columns());
    assertEquals(List.of(), List.copyOf(DatasetOptions.defaults().columns().keySet()));
  }
}
