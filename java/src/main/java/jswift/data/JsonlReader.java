package jswift.data;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;

/**
 * JSON Lines: one JSON object per line; blank lines are skipped. Each line is parsed straight from the read
 * buffer, so a file of any size streams through a buffer the size of its longest line.
 *
 * <p>A line that is not valid JSON fails with the column (in characters) where the parser stopped; a line
 * holding more than one value, or a value that is not an object, fails too. Both are skippable.
 */
final class JsonlReader implements RowCursor {
  private final ByteSource source;
  private final String file;
  private long line;

  /**
   * @param firstLine the line number of the source's first byte (1 at the start of a file)
   */
  JsonlReader(ByteSource source, String file, long firstLine) {
    this.source = source;
    this.file = file;
    this.line = firstLine - 1;
  }

  @Override
  public RawRow next() throws IOException {
    while (source.nextLine()) {
      line++;
      byte[] buf = source.buffer();
      int from = source.lineFrom();
      int to = source.lineTo();
      if (isBlank(buf, from, to)) continue;
      Location where = new Location(file, line);
      return new RawRow(parseObject(buf, from, to, where), where, source.lineOffset());
    }
    return null;
  }

  @Override
  public void close() throws IOException {
    source.close();
  }

  /** Parses one line that must hold exactly one JSON object. */
  static ObjectNode parseObject(byte[] buf, int from, int to, Location where) throws IOException {
    JsonNode node;
    try (JsonParser parser = Json.parser(buf, from, to)) {
      node = Json.MAPPER.readTree(parser);
      if (parser.nextToken() != null)
        throw new DatasetException(where, "more than one JSON value on the line (column "
            + column(buf, from, parser.currentTokenLocation().getByteOffset()) + "); JSON Lines holds one object "
            + "per line");
    } catch (JsonProcessingException e) {
      long byteOffset = e.getLocation() == null ? 0 : e.getLocation().getByteOffset();
      throw new DatasetException(where, "invalid JSON at column " + column(buf, from, byteOffset) + ": "
          + e.getOriginalMessage());
    }
    if (!(node instanceof ObjectNode))
      throw new DatasetException(where, "a row must be a JSON object, found " + Json.typeName(node));
    return (ObjectNode) node;
  }

  /** The 1-based character column of a byte offset within the line (the parser counts bytes). */
  static long column(byte[] buf, int from, long byteOffset) {
    int end = (int) Math.max(0, Math.min(byteOffset, buf.length - from));
    String prefix = new String(buf, from, end, StandardCharsets.UTF_8);
    return prefix.codePointCount(0, prefix.length()) + 1;
  }

  static boolean isBlank(byte[] buf, int from, int to) {
    for (int i = from; i < to; i++) {
      byte b = buf[i];
      if (b != ' ' && b != '\t' && b != '\r') return false;
    }
    return true;
  }
}
