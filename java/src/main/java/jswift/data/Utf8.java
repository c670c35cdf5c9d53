package jswift.data;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/** Strict UTF-8 decoding: a file that is not UTF-8 fails at the row, rather than turning into U+FFFD silently. */
final class Utf8 {
  private Utf8() {}

  static String decode(byte[] bytes, int from, int to, Location where) {
    // ASCII is the common case and needs no decoder
    boolean ascii = true;
    for (int i = from; i < to && ascii; i++) ascii = bytes[i] >= 0;
    if (ascii) return new String(bytes, from, to - from, StandardCharsets.ISO_8859_1);
    try {
      return StandardCharsets.UTF_8.newDecoder()
          .onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT)
          .decode(ByteBuffer.wrap(bytes, from, to - from))
          .toString();
    } catch (CharacterCodingException e) {
      throw new DatasetException(where, "not valid UTF-8 text (save the file as UTF-8)");
    }
  }
}
