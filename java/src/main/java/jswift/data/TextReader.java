package jswift.data;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;

/**
 * Plain text for pre-training: each non-blank line is one row {@code {"text": line}}, which the conversion turns
 * into a single assistant message (as ms-swift reads a {@code .txt} file). Blank lines are skipped, since an
 * empty document teaches nothing.
 */
final class TextReader implements RowCursor {
  private final ByteSource source;
  private final String file;
  private long line;

  TextReader(ByteSource source, String file, long firstLine) {
    this.source = source;
    this.file = file;
    this.line = firstLine - 1;
  }

  @Override
  public RawRow next() throws IOException {
    while (source.nextLine()) {
      line++;
      byte[] buf = source.buffer();
      if (JsonlReader.isBlank(buf, source.lineFrom(), source.lineTo())) continue;
      Location where = new Location(file, line);
      ObjectNode row = Json.MAPPER.createObjectNode();
      row.put("text", Utf8.decode(buf, source.lineFrom(), source.lineTo(), where));
      return new RawRow(row, where, source.lineOffset());
    }
    return null;
  }

  @Override
  public void close() throws IOException {
    source.close();
  }
}
