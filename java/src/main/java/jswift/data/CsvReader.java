package jswift.data;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * A {@code .csv} dataset: the first record names the columns; each later record is one row whose values are
 * strings (an empty cell is an empty string, as ms-swift reads CSV with {@code na_filter=False}). Blank lines
 * are skipped. A record with more or fewer fields than the header is an error.
 */
final class CsvReader implements RowCursor {
  private final CsvParser parser;
  private final ByteSource source;
  private final String file;
  private final List<String> header;

  /** Opens a file at its start: reads the header. */
  CsvReader(ByteSource source, String file) throws IOException {
    this.source = source;
    this.file = file;
    this.parser = new CsvParser(source, file, 1);
    CsvParser.Record first;
    do {
      first = parser.next();
    } while (first != null && first.blank());
    if (first == null) throw new DatasetException(new Location(file, 1), "empty CSV file: no header row", false, null);
    Set<String> seen = new HashSet<>();
    for (String name : first.fields())
      if (!seen.add(name))
        throw new DatasetException(new Location(file, first.line()), "the header names column \"" + name
            + "\" twice", false, null);
    this.header = List.copyOf(first.fields());
  }

  /** Reads from the middle of a file whose header is known (random access by offset). */
  CsvReader(ByteSource source, String file, long firstLine, List<String> header) {
    this.source = source;
    this.file = file;
    this.parser = new CsvParser(source, file, firstLine);
    this.header = header;
  }

  List<String> header() {
    return header;
  }

  @Override
  public RawRow next() throws IOException {
    CsvParser.Record record;
    do {
      record = parser.next();
    } while (record != null && record.blank());
    if (record == null) return null;
    Location where = new Location(file, record.line());
    List<String> fields = record.fields();
    if (fields.size() != header.size())
      throw new DatasetException(where, fields.size() + " fields, but the header has " + header.size()
          + " (a field holding a comma or a line break must be quoted)");
    ObjectNode row = Json.MAPPER.createObjectNode();
    for (int i = 0; i < fields.size(); i++) row.put(header.get(i), fields.get(i));
    return new RawRow(row, where, record.offset());
  }

  @Override
  public void close() throws IOException {
    source.close();
  }
}
