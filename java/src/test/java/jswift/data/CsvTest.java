package jswift.data;

import static jswift.data.DataTesting.lastContents;
import static jswift.data.DataTesting.load;
import static jswift.data.DataTesting.rows;
import static jswift.data.DataTesting.write;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The CSV reader: RFC 4180 quoting (commas, quotes, line breaks inside quotes), line endings, blank lines, a
 * byte-order mark, and the line numbers and byte offsets that the random-access index relies on.
 */
class CsvTest {
  @TempDir Path dir;

  private static List<List<String>> parse(String csv) throws IOException {
    ByteSource src = new ByteSource(new ByteArrayInputStream(csv.getBytes(StandardCharsets.UTF_8)), 0, 16);
    CsvParser p = new CsvParser(src, "t.csv", 1);
    List<List<String>> out = new ArrayList<>();
    for (CsvParser.Record r = p.next(); r != null; r = p.next()) out.add(r.fields());
    return out;
  }

  @Test
  void quotedFieldsHoldCommasQuotesAndLineBreaks() throws IOException {
    assertEquals(List.of(List.of("a", "b,c", "say \"hi\"", "line1\nline2", "")),
        parse("a,\"b,c\",\"say \"\"hi\"\"\",\"line1\nline2\",\"\"\n"));
    // CRLF inside quotes is kept as written; CRLF between records is a separator
    assertEquals(List.of(List.of("x\r\ny", "z"), List.of("1", "2")), parse("\"x\r\ny\",z\r\n1,2\r\n"));
  }

  @Test
  void separatorsAndEmptyFields() throws IOException {
    // trailing comma = a trailing empty field; no final newline is fine; a lone CR ends a record too
    assertEquals(List.of(List.of("a", "", "c", ""), List.of("d", "e")), parse("a,,c,\nd,e"));
    assertEquals(List.of(List.of("a", "b"), List.of("c", "d")), parse("a,b\rc,d\r"));
    assertEquals(List.of(List.of(""), List.of("x")), parse("\nx\n"));
    // a quote inside an unquoted field is an ordinary character (Python's csv reads it so)
    assertEquals(List.of(List.of("5\" screen", "ok")), parse("5\" screen,ok\n"));
    assertEquals(List.of(List.of("caf\u00e9", "\u65e5\u672c")), parse("caf\u00e9,\u65e5\u672c\n"));
  }

  @Test
  void textAfterAClosingQuoteIsAnErrorThatSkipsTheRecord() throws IOException {
    ByteSource src = new ByteSource(new ByteArrayInputStream("\"ab\"c,d\ne,f\n".getBytes(StandardCharsets.UTF_8)), 0, 64);
    CsvParser p = new CsvParser(src, "t.csv", 1);
    DatasetException e = assertThrows(DatasetException.class, p::next);
    assertEquals("t.csv:1: field 1: unexpected character 'c' after the closing quote (a quote inside a quoted field "
        + "is written twice: \"\")", e.getMessage());
    assertTrue(e.skippable());
    assertEquals(List.of("e", "f"), p.next().fields());
  }

  @Test
  void anUnclosedQuoteNamesTheLineWhereItOpened() throws IOException {
    DatasetException e = assertThrows(DatasetException.class, () -> parse("a,b\n1,\"never\nclosed\n2,3\n"));
    assertEquals("t.csv:2: field 2: the quote opened here is never closed", e.getMessage());
    assertTrue(!e.skippable());
  }

  @Test
  void recordsCarryTheirLineAndOffset() throws IOException {
    String csv = "h1,h2\n\"multi\nline\",x\n\nlast,y\n";
    ByteSource src = new ByteSource(new ByteArrayInputStream(csv.getBytes(StandardCharsets.UTF_8)), 0, 8);
    CsvParser p = new CsvParser(src, "t.csv", 1);
    assertEquals(1, p.next().line());
    CsvParser.Record multi = p.next();
    assertEquals(2, multi.line());
    assertEquals(6, multi.offset());
    CsvParser.Record blank = p.next();
    assertTrue(blank.blank());
    assertEquals(4, blank.line());
    CsvParser.Record last = p.next();
    assertEquals(5, last.line());
    assertEquals(csv.indexOf("last"), last.offset());
  }

  @Test
  void csvDatasetReadsRowsAndReReadsMultiLineRecordsByOffset() throws IOException {
    write(dir, "qa.csv", "\uFEFFquery,response\r\n"
        + "\"What is 1,000 + 1?\",\"1,001\"\r\n"
        + "\r\n"
        + "\"Quote me\",\"He said \"\"yes\"\".\"\r\n"
        + "\"Two\r\nlines\",\"Answer\nover\nthree\"\r\n"
        + "plain,text\r\n");
    DatasetOptions noShuffle = DatasetOptions.defaults().withDatasetShuffle(false);
    try (LoadedDatasets d = load(noShuffle, dir.resolve("qa.csv").toString())) {
      RowList rows = d.trainList();
      assertEquals(4, rows.size());
      assertEquals(List.of("1,001", "He said \"yes\".", "Answer\nover\nthree", "text"), lastContents(rows));
      assertEquals("What is 1,000 + 1?", rows.get(0).messages().get(0).content());
      assertEquals("Two\r\nlines", rows.get(2).messages().get(0).content());
      // line numbers: header 1, first row 2, a blank line 3, then 4, the record on lines 5-8, then 9
      List<Long> lines = new ArrayList<>();
      for (Row r : rows(rows)) lines.add(r.location().line());
      assertEquals(List.of(2L, 4L, 5L, 9L), lines);
      // random access in reverse order re-reads the same rows
      for (int i = rows.size() - 1; i >= 0; i--) assertEquals(rows.get(i).toJson(), rows(rows).get(i).toJson());
    }
  }

  @Test
  void csvHeaderProblemsEndTheLoad() {
    write(dir, "dup.csv", "a,a\n1,2\n");
    write(dir, "empty.csv", "\n\n");
    DatasetException dup = assertThrows(DatasetException.class,
        () -> load(DatasetOptions.defaults().withSkipBadRows(true), dir.resolve("dup.csv").toString()));
    assertTrue(dup.getMessage().endsWith("dup.csv:1: the header names column \"a\" twice"), dup.getMessage());
    DatasetException empty = assertThrows(DatasetException.class,
        () -> load(DatasetOptions.defaults(), dir.resolve("empty.csv").toString()));
    assertTrue(empty.getMessage().endsWith("empty.csv:1: empty CSV file: no header row"), empty.getMessage());
  }
}
