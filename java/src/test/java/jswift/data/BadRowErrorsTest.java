package jswift.data;

import static jswift.data.DataTesting.load;
import static jswift.data.DataTesting.write;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every way a row can be unusable, each reported as {@code file:line: what is wrong}: the bad row is on line 3
 * of a JSON Lines file (after a good row and a blank line), and the whole message is compared.
 */
class BadRowErrorsTest {
  private static final String GOOD = "{\"query\":\"q\",\"response\":\"r\"}";
  private static final String ROLES = "system, user, assistant, tool_call, tool_response (or tool); and in conversations "
      + "human, gpt, bot, function_call, function_response, observation";

  @TempDir Path dir;

  static Stream<Arguments> badRows() {
    return Stream.of(
        Arguments.of("{\"query\": \"a\", }",
            "invalid JSON at column 16: Unexpected character ('}' (code 125)): was expecting double-quote to start field name"),
        // the column counts characters, not UTF-8 bytes
        Arguments.of("{\"q\": \"\u00e9\", }",
            "invalid JSON at column 12: Unexpected character ('}' (code 125)): was expecting double-quote to start field name"),
        Arguments.of("{\"query\": \"a\"} {\"response\": \"b\"}",
            "more than one JSON value on the line (column 16); JSON Lines holds one object per line"),
        Arguments.of("[\"q\", \"r\"]", "a row must be a JSON object, found an array"),
        Arguments.of("{\"foo\": 1, \"bar\": [2]}",
            "no usable fields (found: foo, bar). A row needs messages (or conversation/conversations); or instruction "
                + "+ input + output (alpaca); or a query (query/prompt/input/instruction/question/problem) and/or a "
                + "response (response/answer/output/targets/target/answer_key/answers/solution/text/completion/content)."
                + " Name other columns with --columns '{\"your_column\": \"query\"}'"),
        Arguments.of("{\"prompt\": \"p\", \"question\": \"q\"}",
            "no usable fields (found: prompt, question); prompt and question both mean query, so none of them is used. "
                + "A row needs messages (or conversation/conversations); or instruction + input + output (alpaca); or a "
                + "query (query/prompt/input/instruction/question/problem) and/or a response (response/answer/output/"
                + "targets/target/answer_key/answers/solution/text/completion/content). Name other columns with "
                + "--columns '{\"your_column\": \"query\"}'"),
        Arguments.of("{\"conversation\": [], \"conversations\": [{\"from\": \"human\", \"value\": \"x\"}]}",
            "no messages column: conversation and conversations both mean messages, so none is used (keep one, or "
                + "pick one with --columns '{\"conversations\": \"messages\"}')"),
        Arguments.of("{\"messages\": [{\"role\": \"narrator\", \"content\": \"Once...\"}]}",
            "messages[0]: unknown role \"narrator\" (accepted: " + ROLES + ")"),
        Arguments.of("{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"hi\"}]},"
            + " {\"role\": \"assistant\", \"content\": \"hello\"}]}", "messages[0].content must be a string, found an array"),
        Arguments.of("{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": 7}]}",
            "messages[1].content must be a string, found a number (7)"),
        Arguments.of("{\"messages\": [{\"role\": \"system\", \"content\": \"s\"}, {\"role\": \"user\", \"content\": \"hi\"}]}",
            "the conversation has no assistant turn (roles: system, user); training learns from assistant messages"),
        Arguments.of("{\"messages\": [{\"role\": \"user\"}, {\"role\": \"assistant\", \"content\": \"a\"}]}",
            "messages[0] has no content"),
        Arguments.of("{\"messages\": [{\"content\": \"x\"}, {\"role\": \"assistant\", \"content\": \"a\"}]}",
            "messages[0] has no role"),
        Arguments.of("{\"messages\": [{\"role\": 1, \"content\": \"x\"}]}", "messages[0].role must be a string, found a number (1)"),
        Arguments.of("{\"messages\": []}", "messages is empty"),
        Arguments.of("{\"messages\": {\"role\": \"user\"}}", "messages must be a list of messages, found an object"),
        Arguments.of("{\"messages\": [\"hi\"]}", "messages[0] must be an object with role and content, found a string"),
        Arguments.of("{\"messages\": \"not [a list\"}",
            "messages is a string, but not the text of a list: not a Python literal: unexpected name 'not' at character 4"),
        Arguments.of("{\"conversation\": [{\"human\": \"hi\"}]}",
            "conversation[0] has neither role/content (a message) nor assistant/gpt/bot (a ShareGPT pair); keys found: user"),
        Arguments.of("{\"messages\": [{\"role\": \"user\", \"content\": \"q\"}, {\"role\": \"assistant\", \"content\": \"a\", "
            + "\"loss\": \"yes\"}]}", "messages[1].loss must be true or false, found a string"),
        Arguments.of("{\"query\": \"q\", \"response\": \"r\", \"tools\": \"[{bad\"}",
            "tools is not valid JSON: Unexpected character ('b' (code 98)): was expecting double-quote to start field name"),
        Arguments.of("{\"query\": \"q\", \"response\": \"r\", \"tools\": [\"get_time\"]}",
            "tools[0] must be an object (a function), found a string"),
        Arguments.of("{\"query\": \"q\", \"response\": \"r\", \"history\": [[\"only one\"]]}",
            "history[0] must be a [query, response] pair, found an array of 1"),
        Arguments.of("{\"query\": \"q\", \"response\": \"r\", \"history\": \"[['a', 'b']\"}",
            "history is a string, but not the text of a list of [query, response] pairs: not a Python literal: missing "
                + "']' at character 12"),
        Arguments.of("{\"query\": \"q\", \"response\": \"r\", \"history\": {\"a\": \"b\"}}",
            "history must be a list of [query, response] pairs, found an object"),
        Arguments.of("{\"query\": \"q\", \"response\": \"same\", \"rejected_response\": \"same\"}",
            "rejected_response is the same as the chosen response"),
        Arguments.of("{\"query\": \"q\", \"response\": \"r\", \"rejected_response\": null}", "rejected_response is null"),
        Arguments.of("{\"query\": \"q\", \"response\": []}", "the response is an empty list"),
        Arguments.of("{\"instruction\": null, \"input\": null, \"output\": \"o\"}", "instruction and input are both missing"),
        Arguments.of("{\"instruction\": [\"x\"], \"input\": \"\", \"output\": \"o\"}", "instruction must be a string, found an array"),
        Arguments.of("{\"query\": \"q\", \"response\": \"r\", \"images\": [\"a.png\", 3]}",
            "images[1] must be a path, URL or data URI string (or {\"path\": ...}), found a number (3)"));
  }

  @ParameterizedTest
  @MethodSource("badRows")
  void badRowIsReportedWithFileAndLine(String badLine, String problem) throws IOException {
    Path file = write(dir, "data.jsonl", GOOD + "\n\n" + badLine + "\n" + GOOD + "\n");
    DatasetException e = assertThrows(DatasetException.class, () -> load(DatasetOptions.defaults(), file.toString()));
    assertEquals(file + ":3: " + problem, e.getMessage());
    assertEquals(new Location(file.toString(), 3), e.location());
    assertTrue(e.skippable());
    // and the same row is skipped and counted on request
    try (LoadedDatasets d = load(DatasetOptions.defaults().withSkipBadRows(true), file.toString())) {
      assertEquals(2, d.trainList().size());
      assertEquals(1, d.badRows().count());
      assertEquals(List.of(file + ":3: " + problem), d.badRows().examples());
    }
  }

  @Test
  void invalidUtf8InTextAndCsv() throws IOException {
    Path txt = dir.resolve("bad.txt");
    Files.write(txt, new byte[] {'o', 'k', '\n', 'b', (byte) 0xff, 'd', '\n'});
    DatasetException e = assertThrows(DatasetException.class, () -> load(DatasetOptions.defaults(), txt.toString()));
    assertEquals(txt + ":2: not valid UTF-8 text (save the file as UTF-8)", e.getMessage());
    Path csv = dir.resolve("bad.csv");
    Files.write(csv, new byte[] {'q', ',', 'r', '\n', 'a', ',', (byte) 0xC3, '\n'});
    e = assertThrows(DatasetException.class, () -> load(DatasetOptions.defaults(), csv.toString()));
    assertEquals(csv + ":2: not valid UTF-8 text (save the file as UTF-8)", e.getMessage());
  }

  @Test
  void csvRecordWithTheWrongNumberOfFields() throws IOException {
    Path csv = write(dir, "qa.csv", "query,response\nq1,r1\nq2,r2,extra\nq3\nq4,r4\n");
    DatasetException e = assertThrows(DatasetException.class, () -> load(DatasetOptions.defaults(), csv.toString()));
    assertEquals(csv + ":3: 3 fields, but the header has 2 (a field holding a comma or a line break must be quoted)",
        e.getMessage());
    try (LoadedDatasets d = load(DatasetOptions.defaults().withSkipBadRows(true).withDatasetShuffle(false), csv.toString())) {
      assertEquals(List.of("r1", "r4"), DataTesting.lastContents(d.train()));
      assertEquals(2, d.badRows().count());
    }
  }

  @Test
  void jsonArrayElementThatIsNotAnObjectIsSkippableButASyntaxErrorIsNot() throws IOException {
    Path ok = write(dir, "a.json", "[\n{\"text\": \"one\"},\n[1, 2],\n{\"text\": \"two\"}\n]");
    DatasetException e = assertThrows(DatasetException.class, () -> load(DatasetOptions.defaults(), ok.toString()));
    assertEquals(ok + ":3: a row must be a JSON object, found an array", e.getMessage());
    try (LoadedDatasets d = load(DatasetOptions.defaults().withSkipBadRows(true).withDatasetShuffle(false), ok.toString())) {
      assertEquals(List.of("one", "two"), DataTesting.lastContents(d.train()));
    }
    Path broken = write(dir, "b.json", "[\n{\"text\": \"one\"},\n{\"text\": \"two\" \"x\"},\n{\"text\": \"three\"}\n]");
    e = assertThrows(DatasetException.class,
        () -> load(DatasetOptions.defaults().withSkipBadRows(true), broken.toString()));
    assertTrue(e.getMessage().startsWith(broken + ":3: invalid JSON at column 16: Unexpected character ('\"'"), e.getMessage());
    assertTrue(e.getMessage().endsWith("(the rest of this .json file cannot be read)"), e.getMessage());
    assertFalse(e.skippable());
    Path notArray = write(dir, "c.json", "\n\n\"just a string\"");
    e = assertThrows(DatasetException.class, () -> load(DatasetOptions.defaults(), notArray.toString()));
    assertEquals(notArray + ":3: a .json dataset must be one top-level array of row objects (or JSON Lines, one "
        + "object per line); found a string", e.getMessage());
    Path unclosed = write(dir, "d.json", "[{\"text\": \"one\"},\n");
    e = assertThrows(DatasetException.class, () -> load(DatasetOptions.defaults(), unclosed.toString()));
    assertTrue(e.getMessage().startsWith(unclosed + ":2: invalid JSON"), e.getMessage());
  }

  @Test
  void specsThatNameNothingReadable() throws IOException {
    IllegalArgumentException hub = assertThrows(IllegalArgumentException.class,
        () -> load(DatasetOptions.defaults(), "AI-ModelScope/alpaca-gpt4-data-en#500"));
    assertEquals("dataset AI-ModelScope/alpaca-gpt4-data-en#500: no such file or folder (jswift reads local files and "
        + "its bundled datasets jswift/quickstart-sft and swift/self-cognition; download a hub dataset first and give its "
        + "path)", hub.getMessage());
    Path empty = write(dir, "empty.jsonl", "\n\n");
    IllegalArgumentException none = assertThrows(IllegalArgumentException.class,
        () -> load(DatasetOptions.defaults(), empty.toString()));
    assertEquals(empty + ": no usable rows", none.getMessage());
    Path allBad = write(dir, "bad.jsonl", "{\"x\": 1}\n{\"y\": 2}\n");
    none = assertThrows(IllegalArgumentException.class,
        () -> load(DatasetOptions.defaults().withSkipBadRows(true), allBad.toString()));
    assertEquals(allBad + ": no usable rows (2 bad rows skipped so far)", none.getMessage());
    IllegalArgumentException subset = assertThrows(IllegalArgumentException.class,
        () -> load(DatasetOptions.defaults(), allBad + ":default"));
    assertEquals(allBad + ":default: subsets (':...') apply to hub datasets, not to local files", subset.getMessage());
  }

  @Test
  void fileChangedAfterIndexingIsReportedNotMisread() throws IOException {
    Path file = write(dir, "data.jsonl", GOOD + "\n" + GOOD + "\n");
    try (LoadedDatasets d = load(DatasetOptions.defaults().withDatasetShuffle(false), file.toString())) {
      Files.writeString(file, "{\"query\":\"q\"}\n");
      DatasetException e = assertThrows(DatasetException.class, () -> d.trainList().get(1));
      assertTrue(e.getMessage().startsWith(file + ":2: the file changed since it was loaded"), e.getMessage());
    }
  }
}
