package jswift.train;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** --save_total_limit as transformers rotates checkpoints: the best one (best_model_checkpoint) is never removed. */
class CheckpointRotationTest {
  private static List<Path> ckpts(int... steps) {
    return java.util.Arrays.stream(steps).mapToObj(s -> Path.of("run/checkpoint-" + s)).toList();
  }

  @Test
  void theOldestGoWhateverIsBestOrNot() {
    List<Path> all = ckpts(2, 4, 6, 8);
    assertEquals(ckpts(2, 4), Checkpoints.rotated(all, null, 2), "no best: the two oldest");
    assertEquals(ckpts(2, 6), Checkpoints.rotated(all, Path.of("run/checkpoint-4"), 2), "the best (4) stays");
    assertEquals(ckpts(2, 4), Checkpoints.rotated(all, Path.of("run/checkpoint-8"), 2), "the best is the newest");
    assertEquals(ckpts(2, 6), Checkpoints.rotated(all, Path.of("run/checkpoint-4"), 1),
        "limit 1 keeps the best and the newest");
    assertEquals(ckpts(2, 4, 6), Checkpoints.rotated(all, Path.of("run/checkpoint-8"), 1), "limit 1, best is newest");
    assertEquals(List.of(), Checkpoints.rotated(ckpts(2), Path.of("run/checkpoint-2"), 1));
    assertEquals(List.of(), Checkpoints.rotated(ckpts(2, 4), null, 5));
  }
}
