package jswift.template;

import static jswift.template.TemplateTestSupport.row;
import static jswift.template.TemplateTestSupport.swift;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import org.junit.jupiter.api.Test;

/** max_length with the three truncation strategies, on real encoded rows. */
class TruncationTest {
  private static final Conversation ROW = row("""
      {"messages": [{"role": "user", "content": "Tell me about the sea."},
                    {"role": "assistant", "content": "The sea is large, salty and deep.", "loss": 1.5}]}""");

  private static Encoded full() {
    return swift("qwen2_5", "qwen3").encode(ROW);
  }

  private static Encoded cut(int max, Truncation t) {
    return swift("qwen2_5", "qwen3", TemplateOptions.DEFAULT.withMaxLength(max, t)).encode(ROW);
  }

  @Test
  void deleteRefusesTheRowNamingBothLengths() {
    int n = full().length();
    SequenceTooLongException e = assertThrows(SequenceTooLongException.class, () -> cut(n - 1, Truncation.DELETE));
    assertEquals(n, e.length());
    assertEquals(n - 1, e.maxLength());
    assertTrue(e.getMessage().contains(n + " tokens") && e.getMessage().contains("max_length " + (n - 1)), e.getMessage());
    assertEquals(full(), cut(n, Truncation.DELETE));  // exactly max_length is kept whole
  }

  @Test
  void leftKeepsTheEndRightKeepsTheStart() {
    Encoded f = full();
    assertNotNull(f.lossScale());  // the 1.5 weight keeps the float array, which is cut along
    int n = f.length(), max = n - 7;
    Encoded left = cut(max, Truncation.LEFT);
    assertArrayEquals(Arrays.copyOfRange(f.inputIds(), n - max, n), left.inputIds());
    int[] wantLabels = Arrays.copyOfRange(f.labels(), n - max, n);
    wantLabels[0] = Encoded.IGNORE;
    assertArrayEquals(wantLabels, left.labels());
    assertArrayEquals(Arrays.copyOfRange(f.lossScale(), n - max + 1, n), Arrays.copyOfRange(left.lossScale(), 1, max));
    assertEquals(f.labelledCount(), left.labelledCount());  // only the prompt's start went

    Encoded right = cut(max, Truncation.RIGHT);
    assertArrayEquals(Arrays.copyOf(f.inputIds(), max), right.inputIds());
    assertArrayEquals(Arrays.copyOf(f.labels(), max), right.labels());
    assertEquals(f.labelledCount() - 7, right.labelledCount());  // the answer's last 7 tokens went
  }

  @Test
  void noLimitLeavesTheRowAlone() {
    Encoded f = full();
    assertSame(f, Truncation.RIGHT.apply(f, 0));
    assertSame(f, Truncation.DELETE.apply(f, f.length()));
  }

  @Test
  void promptsAreCutOnTheLeftOrRefused() {
    Conversation q = row("{\"messages\": [{\"role\": \"user\", \"content\": \"Tell me about the sea.\"}]}");
    int[] whole = swift("qwen2_5", "qwen3").encodePrompt(q).inputIds();
    int max = whole.length - 3;
    int[] left = swift("qwen2_5", "qwen3", TemplateOptions.DEFAULT.withMaxLength(max, Truncation.LEFT)).encodePrompt(q).inputIds();
    assertArrayEquals(Arrays.copyOfRange(whole, 3, whole.length), left);
    assertThrows(SequenceTooLongException.class,
        () -> swift("qwen2_5", "qwen3", TemplateOptions.DEFAULT.withMaxLength(max, Truncation.RIGHT)).encodePrompt(q));
  }

  @Test
  void strategiesParseFromMsSwiftNames() {
    assertEquals(Truncation.DELETE, Truncation.parse("delete"));
    assertEquals(Truncation.DELETE, Truncation.parse("raise"));
    assertEquals(Truncation.LEFT, Truncation.parse("LEFT"));
    assertEquals(Truncation.SPLIT, Truncation.parse("split"));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Truncation.parse("middle"));
    assertTrue(e.getMessage().contains("'middle'") && e.getMessage().contains("delete, left, right or split"),
        e.getMessage());
  }

  @Test
  void splitLeavesTheRowWholeAndCutsItIntoChunksWithTheFirstLabelIgnored() {
    Encoded f = full();
    int n = f.length(), max = 6;
    assertEquals(f, cut(max, Truncation.SPLIT), "the encoder keeps every token; the sample stream splits");
    Encoded[] chunks = Truncation.split(f, max);
    assertEquals((n + max - 1) / max, chunks.length);
    int at = 0;
    for (Encoded c : chunks) {
      assertTrue(c.length() <= max && c.length() > 0);
      assertArrayEquals(Arrays.copyOfRange(f.inputIds(), at, at + c.length()), c.inputIds());
      assertEquals(Encoded.IGNORE, c.labels()[0]);
      assertEquals(0f, c.lossScale()[0]);
      assertArrayEquals(Arrays.copyOfRange(f.labels(), at + 1, at + c.length()),
          Arrays.copyOfRange(c.labels(), 1, c.length()));
      assertArrayEquals(Arrays.copyOfRange(f.lossScale(), at + 1, at + c.length()),
          Arrays.copyOfRange(c.lossScale(), 1, c.length()), 0f);
      at += c.length();
    }
    assertEquals(n, at, "the chunks cover the row exactly");
    assertEquals(1, Truncation.split(f, n).length);
    assertThrows(IllegalArgumentException.class, () -> Truncation.split(f, 1));
  }
}
