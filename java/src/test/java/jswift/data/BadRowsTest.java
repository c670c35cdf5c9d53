package jswift.data;

import static jswift.data.DataTesting.write;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** --dataset_skip_bad: bad rows across files are dropped, counted per file, and summed up for the end of a run. */
class BadRowsTest {
  @TempDir Path dir;

  @Test
  void skippedRowsAreCountedPerFileAndSummarized() throws IOException {
    Path a = write(dir, "a.jsonl", "{\"query\":\"q\",\"response\":\"r\"}\n{\"nothing\":1}\n{\"query\":\"q2\",\"response\":\"r2\"}\n"
        + "{\"messages\":[{\"role\":\"user\",\"content\":\"only a question\"}]}\n");
    Path b = write(dir, "b.csv", "query,response\nx,y\nbroken\n");
    DatasetOptions skip = DatasetOptions.defaults().withSkipBadRows(true);
    try (LoadedDatasets d = DatasetLoader.load(List.of(a.toString(), b.toString()), List.of(), skip)) {
      assertEquals(3, d.trainList().size());
      BadRows bad = d.badRows();
      assertEquals(3, bad.count());
      Map<String, Long> perFile = new LinkedHashMap<>();
      perFile.put(a.toString(), 2L);
      perFile.put(b.toString(), 1L);
      assertEquals(perFile, bad.perFile());
      String noUsable = a + ":2: no usable fields (found: nothing).";
      assertEquals(noUsable, bad.examples().get(0).substring(0, noUsable.length()));
      assertEquals(a + ":4: the conversation has no assistant turn (roles: user); training learns from assistant messages",
          bad.examples().get(1));
      assertEquals(b + ":3: 1 fields, but the header has 2 (a field holding a comma or a line break must be quoted)",
          bad.examples().get(2));
      assertEquals("skipped 3 bad rows (--dataset_skip_bad true): " + a + ": 2; " + b + ": 1\nfirst 3:\n  "
          + String.join("\n  ", bad.examples()), bad.summary());
    }
  }

  @Test
  void nothingSkippedMeansAnEmptySummary() throws IOException {
    Path a = write(dir, "a.jsonl", "{\"query\":\"q\",\"response\":\"r\"}\n");
    try (LoadedDatasets d = DataTesting.load(DatasetOptions.defaults().withSkipBadRows(true), a.toString())) {
      assertEquals(0, d.badRows().count());
      assertEquals("", d.badRows().summary());
    }
  }

  @Test
  void onlyTheFirstExamplesAreKept() {
    BadRows bad = new BadRows(true);
    for (int i = 1; i <= 25; i++) bad.handle(new DatasetException(new Location("f", i), "bad " + i));
    assertEquals(25, bad.count());
    assertEquals(BadRows.EXAMPLES, bad.examples().size());
    assertEquals("f:10: bad 10", bad.examples().get(9));
    BadRows strict = new BadRows(false);
    DatasetException e = new DatasetException(new Location("f", 1), "bad");
    assertEquals(e, assertThrows(DatasetException.class, () -> strict.handle(e)));
  }
}
