package jswift.data;

import static jswift.data.DataTesting.lastContents;
import static jswift.data.DataTesting.load;
import static jswift.data.DataTesting.rows;
import static jswift.data.DataTesting.write;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import jswift.template.Message;
import jswift.template.Role;

/**
 * Each file format end to end, indexed and streaming: JSON Lines (blank lines, CRLF, a byte-order mark,
 * non-ASCII text), a top-level JSON array, a .json file holding JSON Lines, plain text, and a folder of files.
 */
class FormatsTest {
  private static final DatasetOptions IN_ORDER = DatasetOptions.defaults().withDatasetShuffle(false);

  @TempDir Path dir;

  private List<String> contents(String path, boolean streaming) throws IOException {
    try (LoadedDatasets d = load(IN_ORDER.withStreaming(streaming), path)) {
      return lastContents(d.train());
    }
  }

  private List<Long> lines(String path) throws IOException {
    try (LoadedDatasets d = load(IN_ORDER, path)) {
      List<Long> out = new ArrayList<>();
      for (Row r : rows(d.train())) out.add(r.location().line());
      return out;
    }
  }

  @Test
  void jsonLines() throws IOException {
    String p = write(dir, "a.jsonl", "\uFEFF{\"query\":\"q1\",\"response\":\"r1\"}\r\n\r\n   \n"
        + "{\"query\":\"q2\",\"response\":\"Gr\u00fc\u00dfe \u4f60\u597d \ud83d\ude00\"}\n"
        + "{\"query\":\"q3\",\"response\":\"no newline at the end\"}").toString();
    List<String> want = List.of("r1", "Gr\u00fc\u00dfe \u4f60\u597d \ud83d\ude00", "no newline at the end");
    assertEquals(want, contents(p, false));
    assertEquals(want, contents(p, true));
    assertEquals(List.of(1L, 4L, 5L), lines(p));
  }

  @Test
  void jsonArray() throws IOException {
    String p = write(dir, "a.json", "[\n  {\"instruction\": \"i1\", \"input\": \"\", \"output\": \"o1\"},\n"
        + "  {\n    \"instruction\": \"i2\",\n    \"input\": \"x\",\n    \"output\": \"o2\"\n  }\n]\n").toString();
    assertEquals(List.of("o1", "o2"), contents(p, false));
    assertEquals(List.of("o1", "o2"), contents(p, true));
    assertEquals(List.of(2L, 3L), lines(p));
  }

  @Test
  void jsonFileHoldingJsonLines() throws IOException {
    // the Hugging Face json loader that ms-swift uses reads JSON Lines from a .json file too
    String p = write(dir, "lines.json", "{\"text\":\"one\"}\n{\"text\":\"two\"}\n").toString();
    assertEquals(List.of("one", "two"), contents(p, false));
  }

  @Test
  void plainTextIsOneAssistantMessagePerLine() throws IOException {
    String p = write(dir, "corpus.txt", "First document.\r\n\r\nSecond document.\nThird.").toString();
    try (LoadedDatasets d = load(IN_ORDER, p)) {
      List<Row> rows = rows(d.train());
      assertEquals(3, rows.size());
      assertEquals(List.of(new Message(Role.ASSISTANT, "First document.")), rows.get(0).messages());
      assertEquals(3, rows.get(1).location().line());
    }
  }

  @Test
  void folderReadsItsDatasetFilesSortedByName() throws IOException {
    Path folder = dir.resolve("mix");
    write(folder, "b.csv", "query,response\nqb,rb\n");
    write(folder, "a.jsonl", "{\"query\":\"qa\",\"response\":\"ra\"}\n");
    write(folder, "c.txt", "raw c\n");
    write(folder, "README.md", "not data");
    write(folder, ".hidden.jsonl", "{broken");
    write(folder, "sub/d.jsonl", "{\"query\":\"qd\",\"response\":\"rd\"}\n");
    assertEquals(List.of("ra", "rb", "raw c"), contents(folder.toString(), false));
    assertEquals(List.of("ra", "rb", "raw c"), contents(folder.toString(), true));
    try (LoadedDatasets d = load(IN_ORDER, folder.toString())) {
      assertEquals(folder.resolve("b.csv") + ":2", d.trainList().get(1).location().toString());
    }
  }

  @Test
  void unknownExtensionsAndEmptyFoldersAreRejected() {
    write(dir, "data.parquet", "x");
    IllegalArgumentException ext = assertThrows(IllegalArgumentException.class,
        () -> load(IN_ORDER, dir.resolve("data.parquet").toString()));
    assertTrue(ext.getMessage().contains("not a dataset file (accepted: .jsonl, .json, .csv, .txt)"), ext.getMessage());
    Path empty = dir.resolve("empty");
    write(empty, "notes.md", "");
    IllegalArgumentException none = assertThrows(IllegalArgumentException.class, () -> load(IN_ORDER, empty.toString()));
    assertTrue(none.getMessage().contains("the folder holds no dataset files"), none.getMessage());
  }

  @Test
  void randomAccessMatchesSequentialReading() throws IOException {
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < 500; i++) {
      // rows of very different lengths, so the read-size hint is exercised both ways
      sb.append("{\"query\":\"q").append(i).append("\",\"response\":\"").append("x".repeat(i * 37 % 5000))
          .append(i).append("\"}\n");
      if (i % 50 == 0) sb.append('\n');
    }
    String p = write(dir, "big.jsonl", sb.toString()).toString();
    List<String> streamed = contents(p, true);
    try (LoadedDatasets d = load(IN_ORDER, p)) {
      RowList rows = d.trainList();
      assertEquals(500, rows.size());
      for (int i = rows.size() - 1; i >= 0; i -= 7)
        assertEquals(streamed.get(i), rows.get(i).messages().get(1).content());
      assertEquals(streamed, lastContents(rows));
    }
  }
}
