package jswift.data;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** Shared helpers of the jswift.data tests: rows from JSON text, files in a temp folder, rows as JSON. */
final class DataTesting {
  static final ObjectMapper JSON = new ObjectMapper();
  static final Location HERE = new Location("test.jsonl", 7);

  private DataTesting() {}

  static ObjectNode obj(String json) {
    try {
      return (ObjectNode) JSON.readTree(json);
    } catch (JsonProcessingException e) {
      throw new UncheckedIOException(e);
    }
  }

  static JsonNode tree(String json) {
    try {
      return JSON.readTree(json);
    } catch (JsonProcessingException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Converts one row as training does (an assistant turn required, no --columns). */
  static Row train(String json) {
    return new AutoPreprocessor(Map.of(), true, null).convert(obj(json), HERE);
  }

  /** Converts one row as inference does (no assistant turn needed). */
  static Row infer(String json) {
    return new AutoPreprocessor(Map.of(), false, null).convert(obj(json), HERE);
  }

  /** Asserts the row's standard form equals the expected JSON (compared as trees: key order aside). */
  static void assertRow(String expected, Row row) {
    assertEquals(tree(expected), row.toJson(), () -> "row " + row.toJson());
  }

  static Path write(Path dir, String name, String content) {
    try {
      Path p = dir.resolve(name);
      Files.createDirectories(p.getParent());
      Files.writeString(p, content, StandardCharsets.UTF_8);
      return p;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  static LoadedDatasets load(DatasetOptions options, String... datasets) throws IOException {
    return DatasetLoader.load(List.of(datasets), List.of(), options);
  }

  /** All rows of a stream, in order. */
  static List<Row> rows(RowStream stream) {
    List<Row> out = new ArrayList<>();
    try (CloseableIterator<Row> it = stream.iterator()) {
      it.forEachRemaining(out::add);
    }
    return out;
  }

  /** The last message's content of each row: a short fingerprint of a dataset's order. */
  static List<String> lastContents(RowStream stream) {
    List<String> out = new ArrayList<>();
    for (Row r : rows(stream)) out.add(r.messages().get(r.messages().size() - 1).content());
    return out;
  }
}
