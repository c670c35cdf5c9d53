package jswift.data;

import static jswift.data.DataTesting.lastContents;
import static jswift.data.DataTesting.write;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code #N} sampling both ways, {@code split_dataset_ratio}, {@code dataset_shuffle}, {@code val_dataset} and
 * the concatenation of several datasets, with ms-swift's counting rules (sample_dataset, post_process) and a
 * fixed seed. Rows are told apart by their response, "r0" to "r9" for the ten rows of ten.jsonl.
 */
class SamplingTest {
  private static final DatasetOptions IN_ORDER = DatasetOptions.defaults().withDatasetShuffle(false);

  // regression pins (seed 42): recorded from this implementation, not from ms-swift, whose numpy draws differ
  private static final List<String> PINNED_BELOW = List.of("r4", "r1", "r6", "r2");
  private static final List<String> PINNED_ABOVE = List.of("r1", "r3", "r4", "r9", "r5", "r2");

  @TempDir Path dir;
  private String ten;
  private String three;

  @BeforeEach
  void files() {
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < 10; i++) sb.append("{\"query\":\"q").append(i).append("\",\"response\":\"r").append(i).append("\"}\n");
    ten = write(dir, "ten.jsonl", sb.toString()).toString();
    three = write(dir, "three.csv", "query,response\na,s0\nb,s1\nc,s2\n").toString();
  }

  private List<String> train(DatasetOptions options, String... specs) throws IOException {
    try (LoadedDatasets d = DataTesting.load(options, specs)) {
      return lastContents(d.train());
    }
  }

  private static Map<String, Integer> counts(List<String> rows) {
    Map<String, Integer> c = new HashMap<>();
    rows.forEach(r -> c.merge(r, 1, Integer::sum));
    return c;
  }

  @Test
  void sampleBelowTheSizeDrawsDistinctRows() throws IOException {
    DatasetOptions shuffled = DatasetOptions.defaults();
    List<String> a = train(shuffled, ten + "#4");
    assertEquals(4, a.size());
    assertEquals(4, new HashSet<>(a).size());
    assertEquals(a, train(shuffled, ten + "#4"), "same seed, same rows");
    assertNotEquals(a, train(shuffled.withSeed(7), ten + "#4"), "another seed, other rows");
    // pinned, so that a change of the draws (which would change every seeded run) is noticed
    assertEquals(PINNED_BELOW, a);
    // without shuffling, #N is the first N rows
    assertEquals(List.of("r0", "r1", "r2", "r3"), train(IN_ORDER, ten + "#4"));
  }

  @Test
  void sampleAboveTheSizeRepeatsEveryRowThenTopsUpWithDistinctRandomRows() throws IOException {
    List<String> rows = train(DatasetOptions.defaults(), ten + "#23");
    assertEquals(23, rows.size());
    Map<String, Integer> c = counts(rows);
    assertEquals(10, c.size());
    // 23 = 2 x 10 + 3: every row twice, three distinct rows a third time
    assertEquals(7, c.values().stream().filter(n -> n == 2).count());
    assertEquals(3, c.values().stream().filter(n -> n == 3).count());
    assertEquals(rows, train(DatasetOptions.defaults(), ten + "#23"));
    assertEquals(PINNED_ABOVE, rows.subList(0, 6));
  }

  @Test
  void sampleAboveTheSizeWithoutShufflingRepeatsInOrder() throws IOException {
    List<String> rows = train(IN_ORDER, ten + "#23");
    List<String> want = new ArrayList<>();
    for (int i = 0; i < 23; i++) want.add("r" + (i % 10));
    assertEquals(want, rows);
  }

  @Test
  void withoutShufflingSampleTakesTheFirstRows() {
    int[] below = Sampling.sampleIndices(10, 4, false, new Random(1));
    assertArrayEquals(new int[] {0, 1, 2, 3}, below);
    int[] above = Sampling.sampleIndices(3, 7, false, new Random(1));
    assertArrayEquals(new int[] {0, 1, 2, 0, 1, 2, 0}, above);
    int[] exact = Sampling.sampleIndices(3, 3, true, new Random(1));
    assertArrayEquals(new int[] {0, 1, 2}, exact);
  }

  @Test
  void splitRatioMovesRandomRowsToValidation() throws IOException {
    DatasetOptions split = IN_ORDER.withSplitDatasetRatio(0.2);
    try (LoadedDatasets d = DataTesting.load(split, ten)) {
      List<String> train = lastContents(d.train());
      List<String> val = lastContents(d.val());
      // max(floor(10 * 0.2), 1) = 2 validation rows; the other 8 train, each once
      assertEquals(2, val.size());
      assertEquals(8, train.size());
      Set<String> all = new HashSet<>(train);
      all.addAll(val);
      assertEquals(10, all.size());
      try (LoadedDatasets again = DataTesting.load(split, ten)) {
        assertEquals(val, lastContents(again.val()));
        assertEquals(train, lastContents(again.train()));
      }
    }
    // with #N the count is min(size, N): #5 at 0.2 gives 1 validation row and 4 training rows
    try (LoadedDatasets d = DataTesting.load(split, ten + "#5")) {
      assertEquals(1, d.valList().size());
      assertEquals(4, d.trainList().size());
    }
    // #30 at 0.1: floor(10 * 0.1) = 1 validation row; 29 training rows drawn from the other 9 (repeated)
    try (LoadedDatasets d = DataTesting.load(IN_ORDER.withSplitDatasetRatio(0.1), ten + "#30")) {
      List<String> val = lastContents(d.val());
      List<String> train = lastContents(d.train());
      assertEquals(1, val.size());
      assertEquals(29, train.size());
      assertTrue(!train.contains(val.get(0)), "the validation row is not trained on");
      assertEquals(9, counts(train).size());
    }
    // a tiny ratio still gives one validation row
    try (LoadedDatasets d = DataTesting.load(IN_ORDER.withSplitDatasetRatio(0.01), ten)) {
      assertEquals(1, d.valList().size());
      assertEquals(9, d.trainList().size());
    }
  }

  @Test
  void ratioOneMakesEverythingValidation() throws IOException {
    try (LoadedDatasets d = DataTesting.load(IN_ORDER.withSplitDatasetRatio(1.0), ten + "#6")) {
      assertNull(d.train());
      assertEquals(6, new HashSet<>(lastContents(d.val())).size());
    }
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> DataTesting.load(IN_ORDER.withSplitDatasetRatio(1.0), ten + "#11"));
    assertTrue(e.getMessage().contains("asks for more validation rows than the 10 there are"), e.getMessage());
  }

  @Test
  void splitThatLeavesNoTrainingRowsIsAnError() {
    Path one = write(dir, "one.jsonl", "{\"query\":\"q\",\"response\":\"r\"}\n");
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> DataTesting.load(IN_ORDER.withSplitDatasetRatio(0.5), one.toString()));
    assertTrue(e.getMessage().contains("leaves no training rows"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> DatasetOptions.defaults().withSplitDatasetRatio(1.5));
  }

  @Test
  void shuffleIsSeededAndAPermutation() throws IOException {
    DatasetOptions shuffled = DatasetOptions.defaults();
    List<String> a = train(shuffled, ten, three);
    assertEquals(a, train(shuffled, ten, three));
    assertNotEquals(a, train(shuffled.withSeed(43), ten, three));
    List<String> inOrder = train(IN_ORDER, ten, three);
    assertNotEquals(inOrder, a);
    assertEquals(new HashSet<>(inOrder), new HashSet<>(a));
    assertEquals(13, a.size());
  }

  @Test
  void severalDatasetsConcatenateInTheGivenOrder() throws IOException {
    List<String> rows = train(IN_ORDER, three, ten + "#2", three);
    assertEquals(List.of("s0", "s1", "s2"), rows.subList(0, 3));
    assertEquals(List.of("s0", "s1", "s2"), rows.subList(5, 8));
    assertEquals(8, rows.size());
  }

  @Test
  void valDatasetIsLoadedSeparately() throws IOException {
    try (LoadedDatasets d = DatasetLoader.load(List.of(ten), List.of(three), DatasetOptions.defaults())) {
      assertEquals(10, d.trainList().size());
      // val_dataset_shuffle is false by default: the validation file's own order
      assertEquals(List.of("s0", "s1", "s2"), lastContents(d.val()));
    }
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> DatasetLoader.load(List.of(ten), List.of(three), DatasetOptions.defaults().withSplitDatasetRatio(0.1)));
    assertEquals("--split_dataset_ratio 0.1 splits a validation set off --dataset; with --val_dataset it must be 0",
        e.getMessage());
    try (LoadedDatasets d = DatasetLoader.load(List.of(), List.of(three + "#2"), IN_ORDER.withRequireAssistant(false))) {
      assertNull(d.train());
      assertEquals(2, d.valList().size());
    }
  }
}
