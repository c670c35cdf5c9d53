package jswift.tuner;

import java.io.IOException;
import jswift.model.Batch;
import jswift.model.SafetensorsFile;
import jswift.testing.Fixtures;

/** The llama-gqa fixture's batch (2 rows x 12 tokens, row 1 right-padded), from its reference.safetensors. */
final class FixtureBatch {
  static final int ROWS = 2, SEQ = 12;

  private FixtureBatch() {}

  static int[][] rows(String name) throws IOException {
    try (SafetensorsFile ref = SafetensorsFile.open(Fixtures.llamaGqa().resolve("reference.safetensors"))) {
      long[] v = ref.longs(name);
      int[][] out = new int[ROWS][SEQ];
      for (int i = 0; i < v.length; i++) out[i / SEQ][i % SEQ] = Math.toIntExact(v[i]);
      return out;
    }
  }

  static Batch batch() throws IOException {
    return Batch.padded(rows("input_ids"), rows("attention_mask"), null);
  }

  /** A reference tensor of the fixture (e.g. "lora.logits"). */
  static float[] reference(String name) throws IOException {
    try (SafetensorsFile ref = SafetensorsFile.open(Fixtures.llamaGqa().resolve("reference.safetensors"))) {
      return ref.floats(name);
    }
  }
}
