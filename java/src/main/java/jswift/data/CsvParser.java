package jswift.data;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A small RFC 4180 CSV parser over bytes: fields separated by commas, records by CRLF, LF or CR; a field in
 * double quotes may hold commas, line breaks and quotes (written twice, {@code ""}). Quoted line breaks are kept
 * as they are. A quote inside an unquoted field is an ordinary character, as Python's csv module reads it.
 *
 * <p>It reads bytes, not characters, so that each record's byte offset can go into the random-access index;
 * fields are decoded as UTF-8 once complete. Physical lines are counted, quoted line breaks included, so errors
 * name the line an editor shows.
 */
final class CsvParser {
  /** One record: its fields, the byte offset and line where it starts, and whether the line was empty. */
  record Record(List<String> fields, long offset, long line, boolean blank) {}

  private final ByteSource source;
  private final String file;
  private long line;
  private byte[] field = new byte[256];
  private int fieldLength;

  CsvParser(ByteSource source, String file, long firstLine) {
    this.source = source;
    this.file = file;
    this.line = firstLine;
  }

  /**
   * The next record, or null at the end of the file.
   *
   * @throws DatasetException (skippable) for a malformed record, after consuming it; (not skippable) for a quote
   *     that is never closed, which swallows the rest of the file
   */
  Record next() throws IOException {
    long offset = source.offset();
    long startLine = line;
    int c = source.read();
    if (c < 0) return null;
    List<String> fields = new ArrayList<>();
    String problem = null;
    boolean quotedAny = false;
    while (true) {
      fieldLength = 0;
      if (c == '"') {
        quotedAny = true;
        long quoteLine = line;
        while (true) {
          c = source.read();
          if (c < 0)
            throw new DatasetException(new Location(file, quoteLine), "field " + (fields.size() + 1) + ": the quote "
                + "opened here is never closed", false, null);
          if (c == '"') {
            c = source.read();
            if (c != '"') break;
          } else if (c == '\n' || (c == '\r' && source.peek() != '\n')) {
            line++;
          }
          append(c);
        }
        // after the closing quote only a separator may follow
        if (c >= 0 && c != ',' && c != '\n' && c != '\r') {
          if (problem == null)
            problem = "field " + (fields.size() + 1) + ": unexpected character '" + (char) c + "' after the closing "
                + "quote (a quote inside a quoted field is written twice: \"\")";
          while (c >= 0 && c != ',' && c != '\n' && c != '\r') {
            append(c);
            c = source.read();
          }
        }
      } else {
        while (c >= 0 && c != ',' && c != '\n' && c != '\r') {
          append(c);
          c = source.read();
        }
      }
      fields.add(Utf8.decode(field, 0, fieldLength, new Location(file, startLine)));
      if (c == ',') {
        c = source.read();
        continue;
      }
      if (c == '\r' && source.peek() == '\n') source.read();
      if (c >= 0) line++;
      break;
    }
    if (problem != null) throw new DatasetException(new Location(file, startLine), problem);
    boolean blank = !quotedAny && fields.size() == 1 && fields.get(0).isEmpty();
    return new Record(fields, offset, startLine, blank);
  }

  private void append(int c) {
    if (fieldLength == field.length) field = Arrays.copyOf(field, field.length * 2);
    field[fieldLength++] = (byte) c;
  }
}
