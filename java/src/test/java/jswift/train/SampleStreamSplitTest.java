package jswift.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import jswift.data.DatasetLoader;
import jswift.data.DatasetOptions;
import jswift.data.LoadedDatasets;
import jswift.data.RowList;
import jswift.model.Batch;
import jswift.template.PlainTextEncoder;
import jswift.template.Truncation;
import jswift.testing.Fixtures;
import jswift.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code --truncation_strategy split} in the sample stream: every token of a long document reaches training, in
 * chunks of at most max_length; and the cursor saved mid-document (with and without packing) resumes with exactly
 * the samples an uninterrupted stream gives.
 */
class SampleStreamSplitTest {
  @TempDir Path dir;

  private static final int MAX = 16;

  private RowList rows(LoadedDatasets d) {
    return d.trainList();
  }

  private LoadedDatasets documents() throws IOException {
    StringBuilder sb = new StringBuilder();
    String[] docs = {"Call me Ishmael. Some years ago, never mind how long precisely, having little or no money in my "
        + "purse, and nothing particular to interest me on shore, I thought I would sail about a little.",
        "Short one.", "It is a way I have of driving off the spleen and regulating the circulation. Whenever I find "
        + "myself growing grim about the mouth; whenever it is a damp, drizzly November in my soul.",
        "Another short line of text."};
    for (String d : docs) sb.append("{\"text\": \"").append(d).append("\"}\n");
    Path f = Files.writeString(dir.resolve("docs.jsonl"), sb.toString());
    return DatasetLoader.load(List.of(f.toString()), List.of(), DatasetOptions.defaults().withSplitDatasetRatio(0));
  }

  /** (id, target) of every token of the next n batches, with a marker between sequences' counts. */
  private static List<Long> take(SampleStream s, int batches, int batchSize) {
    List<Long> out = new ArrayList<>();
    for (int i = 0; i < batches; i++) {
      Batch b = s.nextBatch(batchSize);
      out.add(-1L - b.sequences());
      for (int t = 0; t < b.tokens(); t++) out.add(((long) b.id(t) << 32) | (b.target(t) & 0xffffffffL));
    }
    return out;
  }

  @Test
  void longDocumentsBecomeChunksAndResumeMidDocumentIsExact() throws IOException {
    try (Tokenizer tok = Tokenizer.load(Fixtures.fetchedTokenizer("qwen3")); LoadedDatasets d = documents()) {
      PlainTextEncoder enc = new PlainTextEncoder(tok, MAX, Truncation.SPLIT);
      RowList rows = rows(d);
      int total = 0;
      for (int i = 0; i < rows.size(); i++)
        total += enc.encode(jswift.template.Conversation.fromJson(rows.get(i).toJson())).length();
      assertTrue(total > 4 * MAX, "the long documents need several chunks");

      // One epoch of single samples: all tokens arrive, no sample is longer than max_length.
      SampleStream s = new SampleStream(rows, enc, 3, 0, MAX);
      int seen = 0;
      while (s.epoch() == 0) {
        Batch b = s.nextBatch(1);
        assertTrue(b.tokens() <= MAX, "a sample of " + b.tokens() + " tokens");
        seen += b.tokens();
      }
      assertTrue(seen >= total, "every token of the epoch was handed out: " + seen + " of " + total);

      for (int packTo : new int[] {0, MAX}) {
        for (int consumed = 1; consumed <= 9; consumed++) {
          SampleStream a = new SampleStream(rows, enc, 3, packTo, MAX);
          take(a, consumed, 1);
          SampleStream b = new SampleStream(rows, enc, 3, packTo, MAX);
          b.seek(a.epoch(), a.position(), a.chunk());
          assertEquals(take(a, 6, 2), take(b, 6, 2), "packTo " + packTo + ", resumed after " + consumed);
        }
      }
      SampleStream c = new SampleStream(rows, enc, 3, 0, MAX);
      assertThrows(IllegalStateException.class, () -> c.seek(0, 0, 50), "a chunk the row does not have");
    }
  }

  @Test
  void splitIsForPretrainingOnly() {
    TrainArguments a = new TrainArguments();
    a.model = dir;
    a.dataset = List.of("x.jsonl");
    a.truncationStrategy = "split";
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, a::validate);
    assertTrue(e.getMessage().contains("pre-training"), e.getMessage());
    a.pretrain = true;
    a.validate();
  }
}
