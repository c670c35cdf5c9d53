package jswift.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** ms-swift's dataset spec syntax {@code id_or_path[:subset1/subset2][#N]}. */
class DatasetSpecTest {
  @TempDir Path dir;

  @Test
  void parsesPathSubsetsAndSample() {
    assertEquals(new DatasetSpec("data/train.jsonl", List.of(), 500), DatasetSpec.parse("data/train.jsonl#500"));
    assertEquals(new DatasetSpec("data/train.jsonl", List.of(), null), DatasetSpec.parse(" data/train.jsonl "));
    assertEquals(new DatasetSpec("AI-ModelScope/x", List.of("zh", "en"), 20), DatasetSpec.parse("AI-ModelScope/x:zh/en#20"));
    assertEquals("AI-ModelScope/x:zh/en#20", DatasetSpec.parse("AI-ModelScope/x:zh/en#20").toString());
  }

  @Test
  void anExistingPathIsTakenWhole() {
    Path odd = DataTesting.write(dir, "v1#2:final.jsonl", "{\"text\":\"t\"}\n");
    DatasetSpec whole = DatasetSpec.parse(odd.toString());
    assertEquals(odd.toString(), whole.name());
    assertNull(whole.sample());
    assertEquals(3, DatasetSpec.parse(odd + "#3").sample());
    assertEquals(odd.toString(), DatasetSpec.parse(odd + "#3").name());
  }

  @Test
  void bundledNamesIgnoreCase() {
    assertEquals(DatasetSpec.SELF_COGNITION, DatasetSpec.parse("SWIFT/Self-Cognition#100").bundledName());
    assertEquals(DatasetSpec.QUICKSTART, DatasetSpec.parse("jswift/quickstart-sft").bundledName());
    assertNull(DatasetSpec.parse("my/data.jsonl").bundledName());
  }

  @Test
  void badSampleCounts() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> DatasetSpec.parse("a.jsonl#ten"));
    assertEquals("dataset spec a.jsonl#ten: after '#' comes the number of rows to use, not \"ten\"", e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> DatasetSpec.parse("a.jsonl#0"));
    assertTrue(e.getMessage().contains("#N must be positive"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> DatasetSpec.parse("  "));
  }
}
