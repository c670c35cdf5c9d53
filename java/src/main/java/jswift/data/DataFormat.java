package jswift.data;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * The file formats a dataset may come in, chosen by extension: {@code .jsonl}, {@code .json}, {@code .csv},
 * {@code .txt}. A {@code .json} file whose first character is <code>{</code> is read as JSON Lines, as the
 * Hugging Face json loader ms-swift uses reads it; one starting with {@code [} is a top-level array of rows.
 */
enum DataFormat {
  JSONL,
  JSON_ARRAY,
  CSV,
  TEXT;

  static final String EXTENSIONS = ".jsonl, .json, .csv, .txt";

  /** Whether a file name has one of the dataset extensions. */
  static boolean hasDatasetExtension(Path path) {
    String name = path.getFileName().toString().toLowerCase(Locale.ROOT);
    return name.endsWith(".jsonl") || name.endsWith(".json") || name.endsWith(".csv") || name.endsWith(".txt");
  }

  /** The format of a file; a {@code .json} file is sniffed (array or JSON Lines). */
  static DataFormat of(Path path) throws IOException {
    String name = path.getFileName().toString().toLowerCase(Locale.ROOT);
    if (name.endsWith(".jsonl")) return JSONL;
    if (name.endsWith(".csv")) return CSV;
    if (name.endsWith(".txt")) return TEXT;
    if (name.endsWith(".json")) {
      try (InputStream in = Files.newInputStream(path)) {
        return sniffJson(in);
      }
    }
    throw new IllegalArgumentException(path + ": not a dataset file (accepted: " + EXTENSIONS + ")");
  }

  /** Opens a reader at the start of a file. */
  RowCursor open(InputStream in, String file) throws IOException {
    if (this == JSON_ARRAY) return new JsonArrayReader(in, file);
    ByteSource source = new ByteSource(in, 0, 1 << 16);
    source.skipBom();
    switch (this) {
      case JSONL: return new JsonlReader(source, file, 1);
      case TEXT: return new TextReader(source, file, 1);
      default: return new CsvReader(source, file);
    }
  }

  /**
   * Reads the one row that starts at the stream's first byte (which is at {@code offset} in the file).
   *
   * @param header the CSV header (null for the other formats)
   * @param sizeHint about how many bytes the row takes
   */
  RawRow readAt(InputStream in, long offset, Location where, List<String> header, int sizeHint) throws IOException {
    if (this == JSON_ARRAY) return new RawRow(JsonArrayReader.readOne(in, where), where, offset);
    ByteSource source = new ByteSource(in, offset, sizeHint);
    RowCursor cursor;
    switch (this) {
      case JSONL: cursor = new JsonlReader(source, where.file(), where.line()); break;
      case TEXT: cursor = new TextReader(source, where.file(), where.line()); break;
      default: cursor = new CsvReader(source, where.file(), where.line(), header); break;
    }
    RawRow row = cursor.next();
    if (row == null) throw new DatasetException(where, "no row at byte offset " + offset);
    return row;
  }

  private static DataFormat sniffJson(InputStream in) throws IOException {
    byte[] head = in.readNBytes(4096);
    boolean bom = head.length >= 3 && (head[0] & 0xff) == 0xEF && (head[1] & 0xff) == 0xBB && (head[2] & 0xff) == 0xBF;
    int i = bom ? 3 : 0;
    while (i < head.length && (head[i] == ' ' || head[i] == '\t' || head[i] == '\r' || head[i] == '\n')) i++;
    return i < head.length && head[i] == '{' ? JSONL : JSON_ARRAY;
  }
}
