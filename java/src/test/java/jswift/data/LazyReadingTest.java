package jswift.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A 200 MB JSON Lines file is read without being loaded: indexing it keeps only the 8-byte row offsets, random
 * access and streaming both hold a row at a time. Heap in use is measured after a full GC while the dataset is
 * open, and must stay far below the file's size.
 */
class LazyReadingTest {
  private static final long FILE_BYTES = 200L << 20;
  private static final int ANSWER_CHARS = 1800;
  /** Heap the dataset may hold: the index (≈ 110 000 rows x 8 bytes ≈ 1 MB) and buffers, with a wide margin. */
  private static final long HEAP_BUDGET = 24L << 20;

  private static Path dir;
  private static Path file;
  private static int rowsWritten;

  @BeforeAll
  static void writeFile() throws IOException {
    dir = Files.createTempDirectory("jswift-lazy");
    file = dir.resolve("big.jsonl");
    String filler = "lorem ipsum dolor sit amet ".repeat(ANSWER_CHARS / 27 + 1).substring(0, ANSWER_CHARS);
    long written = 0;
    try (OutputStream out = new BufferedOutputStream(Files.newOutputStream(file), 1 << 20)) {
      while (written < FILE_BYTES) {
        byte[] line = ("{\"query\":\"question " + rowsWritten + "\",\"response\":\"" + filler + " #" + rowsWritten + "\"}\n")
            .getBytes(StandardCharsets.US_ASCII);
        out.write(line);
        written += line.length;
        rowsWritten++;
      }
    }
  }

  @AfterAll
  static void deleteFile() throws IOException {
    Files.deleteIfExists(file);
    Files.deleteIfExists(dir);
  }

  private static long usedHeapAfterGc() {
    MemoryMXBean memory = ManagementFactory.getMemoryMXBean();
    for (int i = 0; i < 3; i++) memory.gc();
    return memory.getHeapMemoryUsage().getUsed();
  }

  @Test
  void indexedDatasetKeepsOnlyOffsets() throws IOException {
    long before = usedHeapAfterGc();
    try (LoadedDatasets d = DataTesting.load(DatasetOptions.defaults(), file.toString())) {
      RowList rows = d.trainList();
      assertEquals(rowsWritten, rows.size());
      long held = usedHeapAfterGc() - before;
      assertTrue(held < HEAP_BUDGET, "heap held by the indexed dataset: " + (held >> 20) + " MB for a "
          + (Files.size(file) >> 20) + " MB file");
      // shuffled random access gives whole rows; the row number is at the end of each response
      for (int i = 0; i < rows.size(); i += 9973) {
        String response = rows.get(i).messages().get(1).content();
        String suffix = response.substring(response.lastIndexOf('#') + 1);
        Row again = rows.get(i);
        assertEquals(response, again.messages().get(1).content());
        assertEquals("question " + suffix, again.messages().get(0).content());
        assertEquals(Long.parseLong(suffix) + 1, again.location().line());
      }
    }
  }

  @Test
  void streamingDatasetHoldsARowAtATime() throws IOException {
    DatasetOptions streaming = DatasetOptions.defaults().withStreaming(true).withDatasetShuffle(false);
    long before = usedHeapAfterGc();
    try (LoadedDatasets d = DataTesting.load(streaming, file.toString());
        CloseableIterator<Row> it = d.train().iterator()) {
      long count = 0;
      long peak = 0;
      while (it.hasNext()) {
        Row row = it.next();
        assertEquals("question " + count, row.messages().get(0).content());
        count++;
        if (count % 40_000 == 0) peak = Math.max(peak, usedHeapAfterGc() - before);
      }
      assertEquals(rowsWritten, count);
      assertTrue(peak < HEAP_BUDGET, "heap held while streaming: " + (peak >> 20) + " MB");
    }
  }
}
