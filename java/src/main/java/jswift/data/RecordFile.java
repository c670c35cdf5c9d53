package jswift.data;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The raw records of one file (.jsonl, .json, .csv, .txt) with where each came from, before any dataset
 * conversion: for data that is not a training set, such as an evaluation suite's questions.
 */
public final class RecordFile {
  private RecordFile() {}

  /** One record: its fields (strings for CSV) and its file and line. */
  public record Record(ObjectNode fields, Location location) {
    /** A field's text; a missing or non-text field is a {@link DatasetException} naming the record. */
    public String text(String field) {
      if (!fields.hasNonNull(field) || !fields.get(field).isValueNode())
        throw new DatasetException(location, "no \"" + field + "\" field (fields: " + names() + ")");
      return fields.get(field).asText();
    }

    /** The field names, in order. */
    public List<String> names() {
      List<String> out = new ArrayList<>();
      fields.fieldNames().forEachRemaining(out::add);
      return out;
    }
  }

  /**
   * Every record of a CSV file that has no header row (the original MMLU files), its columns named {@code header}.
   */
  public static List<Record> readHeaderlessCsv(Path file, List<String> header) throws IOException {
    if (!Files.isRegularFile(file)) throw new IOException(file + " does not exist or is not a file");
    List<Record> out = new ArrayList<>();
    try (InputStream in = Files.newInputStream(file);
        RowCursor rows = new CsvReader(new ByteSource(in, 0, 1 << 16), file.toString(), 1, List.copyOf(header))) {
      for (RawRow r; (r = rows.next()) != null; ) out.add(new Record(r.fields(), r.location()));
    }
    return out;
  }

  /** Every record of a file, in order. */
  public static List<Record> read(Path file) throws IOException {
    if (!Files.isRegularFile(file)) throw new IOException(file + " does not exist or is not a file");
    List<Record> out = new ArrayList<>();
    try (InputStream in = Files.newInputStream(file); RowCursor rows = DataFormat.of(file).open(in, file.toString())) {
      for (RawRow r; (r = rows.next()) != null; ) out.add(new Record(r.fields(), r.location()));
    }
    return out;
  }
}
