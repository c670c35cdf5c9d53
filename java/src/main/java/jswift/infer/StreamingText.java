package jswift.infer;

import java.util.Arrays;
import java.util.function.Function;

/**
 * Turns a growing list of generated token ids into text deltas for streaming. Byte-level BPE tokens can end in
 * the middle of a UTF-8 character; the decoder then yields U+FFFD, so text ending in it is held back until the
 * next token completes the character.
 */
public final class StreamingText {
  private final Function<int[], String> decode;
  private int[] ids = new int[16];
  private int count;
  private int emitted;

  public StreamingText(Function<int[], String> decode) {
    this.decode = decode;
  }

  /** Adds a token; returns the new text since the last call ("" while a character is incomplete). */
  public String add(int id) {
    if (count == ids.length) ids = Arrays.copyOf(ids, count * 2);
    ids[count++] = id;
    String text = decode.apply(Arrays.copyOf(ids, count));
    if (text.endsWith("\uFFFD") || text.length() < emitted) return "";
    String delta = text.substring(emitted);
    emitted = text.length();
    return delta;
  }

  /** Everything decoded so far. */
  public String text() {
    return decode.apply(Arrays.copyOf(ids, count));
  }
}
