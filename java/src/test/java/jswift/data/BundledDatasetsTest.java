package jswift.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.InputStream;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import jswift.template.Message;
import jswift.template.Role;

/** The bundled datasets parse cleanly with the strictest settings and have the shape the quick start needs. */
class BundledDatasetsTest {
  @Test
  void quickstartSftParsesCleanly() throws IOException {
    byte[] bytes;
    try (InputStream in = BundledDatasetsTest.class.getResourceAsStream("/jswift/data/quickstart-sft.jsonl")) {
      assertNotNull(in);
      bytes = in.readAllBytes();
    }
    assertTrue(bytes.length < 200 * 1024, "under 200 KB: " + bytes.length);
    // strict: no skipping, an assistant turn required, file order
    try (LoadedDatasets d = DataTesting.load(DatasetOptions.defaults().withDatasetShuffle(false), "jswift/quickstart-sft")) {
      List<Row> rows = DataTesting.rows(d.train());
      assertEquals(200, rows.size());
      assertEquals(0, d.badRows().count());
      int multiTurn = 0;
      int withSystem = 0;
      Set<String> firstQuestions = new HashSet<>();
      for (Row row : rows) {
        List<Message> m = row.messages();
        assertEquals(Role.ASSISTANT, m.get(m.size() - 1).role(), row.toString());
        for (Message msg : m) assertFalse(msg.content().isBlank(), row.toString());
        if (row.system() != null) withSystem++;
        if (m.stream().filter(x -> x.role() == Role.USER).count() > 1) multiTurn++;
        assertTrue(firstQuestions.add(m.get(row.system() == null ? 0 : 1).content() + (row.system() == null ? "" : row.system())),
            "duplicate row " + row);
        assertTrue(row.extras().isEmpty(), row.toString());
        assertEquals(DatasetSpec.QUICKSTART, row.location().file());
      }
      assertTrue(multiTurn >= 20, "multi-turn rows: " + multiTurn);
      assertTrue(withSystem >= 10, "rows with a system prompt: " + withSystem);
      assertEquals(1, rows.get(0).location().line());
    }
  }

  @Test
  void selfCognitionRowsCarryTagsAndPlaceholders() throws IOException {
    int rows = 0;
    Set<String> tags = new HashSet<>();
    try (InputStream in = BundledDatasetsTest.class.getResourceAsStream(SelfCognition.RESOURCE)) {
      for (String line : new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8).split("\n")) {
        JsonNode row = DataTesting.tree(line);
        rows++;
        tags.add(row.get("tag").asText());
        String response = row.get("response").asText();
        assertTrue(response.contains("{{NAME}}") || response.contains("{{AUTHOR}}"), line);
        assertEquals(Set.of("query", "response", "tag"), Set.copyOf(iterable(row)));
      }
    }
    assertEquals(51, rows);
    assertEquals(Set.of("zh", "en"), tags);
  }

  private static List<String> iterable(JsonNode row) {
    List<String> names = new java.util.ArrayList<>();
    row.fieldNames().forEachRemaining(names::add);
    return names;
  }
}
