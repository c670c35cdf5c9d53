package jswift.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import jswift.testing.Cli;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** `jswift sample` on the bundled model: answers sampled, scored, the best kept as rows; the cuts and refusals. */
class SampleCommandTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Path MODEL = Path.of(System.getProperty("user.dir")).getParent().resolve(QuickStart.MODEL);

  private static Path prompts(Path dir) throws Exception {
    List<String> lines = new ArrayList<>();
    for (String q : List.of("Who are you?", "Say hello.", "What can you do?", "Hi!"))
      lines.add(JSON.writeValueAsString(Map.of("messages", List.of(Map.of("role", "user", "content", q),
          Map.of("role", "assistant", "content", "an old answer")), "solution", "42")));
    return Files.write(dir.resolve("prompts.jsonl"), lines);
  }

  private static String[] sample(Path data, Path out, String... more) {
    List<String> a = new ArrayList<>(List.of("sample", "--model", MODEL.toString(), "--dataset", data.toString(),
        "--num_return_sequences", "4", "--max_new_tokens", "12", "--output_dir", out.getParent().toString(),
        "--output_file", out.getFileName().toString(), "--device", "cpu"));
    a.addAll(List.of(more));
    return a.toArray(new String[0]);
  }

  @Test
  void keepsTheBestAnswersAsTrainingRows(@TempDir Path dir) throws Exception {
    Path data = prompts(dir), out = dir.resolve("out/best.jsonl");
    String r = Cli.run(sample(data, out, "--n_best_to_keep", "2", "--orm_model", "repetition"));
    assertTrue(r.startsWith("0\n") && r.contains("done: 4 prompts, 8 answers kept"), r);
    List<String> lines = Files.readAllLines(out);
    assertEquals(8, lines.size());
    for (int p = 0; p < 4; p++) {
      JsonNode best = JSON.readTree(lines.get(2 * p)), second = JSON.readTree(lines.get(2 * p + 1));
      assertTrue(best.get("orm_score").asDouble() >= second.get("orm_score").asDouble(), "best first: " + best + second);
      JsonNode messages = best.get("messages");
      assertEquals(2, messages.size(), "the prompt, then the sampled answer instead of the old one: " + messages);
      assertTrue(!messages.get(1).get("content").asText().equals("an old answer"));
      assertEquals("42", best.get("solution").asText(), "the row's other columns are kept");
    }
    // a reward every answer earns: every prompt is too easy to keep
    Path easy = dir.resolve("out/easy.jsonl");
    r = Cli.run(sample(data, easy, "--orm_model", "always_one", "--easy_query_threshold", "0.5", "--data_range", "1", "2"));
    assertTrue(r.startsWith("0\n") && r.contains("done: 2 prompts, 0 answers kept, 2 prompts too easy"), r);
    // no reward: answers kept unscored
    Path plain = dir.resolve("out/plain.jsonl");
    r = Cli.run(sample(data, plain, "--n_best_to_keep", "3"));
    assertTrue(r.startsWith("0\n"), r);
    assertEquals(12, Files.readAllLines(plain).size());
    assertTrue(!JSON.readTree(Files.readAllLines(plain).get(0)).has("orm_score"));
  }

  @Test
  void unsupportedSettingsAreClearErrors(@TempDir Path dir) throws Exception {
    Path data = prompts(dir), out = dir.resolve("o/x.jsonl");
    String r = Cli.run(sample(data, out, "--prm_model", "x"));
    assertTrue(r.startsWith("2\n") && r.contains("--prm_model"), r);
    r = Cli.run(sample(data, out, "--sampler_type", "distill"));
    assertTrue(r.startsWith("2\n") && r.contains("--sampler_type distill is not supported"), r);
    r = Cli.run(sample(data, out, "--data_range", "2", "2"));
    assertTrue(r.startsWith("2\n") && r.contains("--data_range 2 2"), r);
    r = Cli.run(sample(data, out, "--orm_model", "kindness"));
    assertTrue(r.startsWith("2\n") && r.contains("no such reward function"), r);
  }
}
