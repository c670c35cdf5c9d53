package jswift.data;

import static jswift.data.DataTesting.lastContents;
import static jswift.data.DataTesting.write;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code --streaming true}: no index, rows read while iterating; {@code #N} takes the first N rows and repeats
 * from the start when short; a split takes the first part as validation; shuffling goes through a seeded
 * buffer; bad rows are skipped as they are met and counted once however often they are re-read.
 */
class StreamingTest {
  private static final DatasetOptions STREAM = DatasetOptions.defaults().withStreaming(true).withDatasetShuffle(false);

  @TempDir Path dir;
  private String ten;

  @BeforeEach
  void file() {
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < 10; i++) sb.append("{\"query\":\"q").append(i).append("\",\"response\":\"r").append(i).append("\"}\n");
    ten = write(dir, "ten.jsonl", sb.toString()).toString();
  }

  private static List<String> seq(int from, int to) {
    List<String> out = new ArrayList<>();
    for (int i = from; i < to; i++) out.add("r" + (i % 10));
    return out;
  }

  @Test
  void streamingDatasetHasNoRandomAccess() throws IOException {
    try (LoadedDatasets d = DataTesting.load(STREAM, ten)) {
      assertFalse(d.train() instanceof RowList);
      assertThrows(IllegalStateException.class, d::trainList);
      assertEquals(seq(0, 10), lastContents(d.train()));
      // each iteration is an epoch that reads the file again
      assertEquals(seq(0, 10), lastContents(d.train()));
    }
  }

  @Test
  void sampleTakesTheFirstRowsAndRepeatsInOrder() throws IOException {
    try (LoadedDatasets d = DataTesting.load(STREAM, ten + "#4")) {
      assertEquals(seq(0, 4), lastContents(d.train()));
    }
    try (LoadedDatasets d = DataTesting.load(STREAM, ten + "#25")) {
      assertEquals(seq(0, 25), lastContents(d.train()));
    }
  }

  @Test
  void splitTakesTheFirstRowsAsValidation() throws IOException {
    DatasetOptions split = STREAM.withSplitDatasetRatio(0.3);
    try (LoadedDatasets d = DataTesting.load(split, ten + "#10")) {
      assertEquals(seq(0, 3), lastContents(d.val()));
      assertEquals(seq(3, 10), lastContents(d.train()));
    }
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> DataTesting.load(split, ten));
    assertTrue(e.getMessage().contains("needs #N on the spec"), e.getMessage());
  }

  @Test
  void bufferShuffleIsSeededAndDiffersPerEpoch() throws IOException {
    DatasetOptions shuffled = STREAM.withDatasetShuffle(true).withShuffleBufferSize(4);
    List<String> first;
    List<String> second;
    try (LoadedDatasets d = DataTesting.load(shuffled, ten)) {
      first = lastContents(d.train());
      second = lastContents(d.train());
    }
    assertEquals(new HashSet<>(seq(0, 10)), new HashSet<>(first));
    assertEquals(10, first.size());
    assertNotEquals(seq(0, 10), first);
    assertNotEquals(first, second, "another epoch, another order");
    try (LoadedDatasets d = DataTesting.load(shuffled, ten)) {
      assertEquals(first, lastContents(d.train()), "same seed, same first epoch");
      assertEquals(second, lastContents(d.train()), "and same second epoch");
    }
    // a buffer of 4 can move a row at most a few places early: r9 cannot come first
    assertNotEquals("r9", first.get(0));
  }

  @Test
  void badRowsAreSkippedWhileReadingAndCountedOnce() throws IOException {
    Path file = write(dir, "mixed.jsonl", "{\"query\":\"a\",\"response\":\"1\"}\n{oops\n{\"query\":\"b\",\"response\":\"2\"}\n");
    DatasetOptions skip = STREAM.withSkipBadRows(true);
    try (LoadedDatasets d = DataTesting.load(skip, file + "#5")) {
      assertEquals(0, d.badRows().count(), "nothing is read before iterating");
      assertEquals(List.of("1", "2", "1", "2", "1"), lastContents(d.train()));
      lastContents(d.train());
      assertEquals(1, d.badRows().count());
      assertTrue(d.badRows().examples().get(0).startsWith(file + ":2: invalid JSON at column 2"));
    }
    try (LoadedDatasets d = DataTesting.load(STREAM, file.toString())) {
      DatasetException e = assertThrows(DatasetException.class, () -> lastContents(d.train()));
      assertEquals(new Location(file.toString(), 2), e.location());
    }
  }
}
