package jswift.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import jswift.testing.Cli;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** EvalScope's gsm8k on local files: its prompts, zero- and few-shot, the answer parsing, and the eval command. */
class Gsm8kTest {
  private static final String TEST = "{\"question\": \"Tom has 3 apples and buys 4 more. How many apples does he have?\","
      + " \"answer\": \"He has 3 + 4 = <<3+4=7>>7 apples.\\n#### 7\"}\n"
      + "{\"question\": \"A box holds 12 eggs. How many eggs are in 2 boxes?\", \"answer\": \"2 * 12 = 24\\n#### 24\"}\n";
  private static final String TRAIN = "{\"question\": \"What is 1 + 1?\", \"answer\": \"1 + 1 = 2\\n#### 2\"}\n";

  @Test
  void promptsAreEvalScopes(@TempDir Path dir) throws Exception {
    Files.writeString(dir.resolve("test.jsonl"), TEST);
    Files.writeString(dir.resolve("train.jsonl"), TRAIN);
    List<Gsm8k.Problem>[] data = Gsm8k.load(dir);
    assertEquals(2, data[0].size());
    assertEquals("7", data[0].get(0).answer());
    assertEquals("He has 3 + 4 = <<3+4=7>>7 apples.", data[0].get(0).reasoning());
    assertEquals("Q\nPlease reason step by step, and put your final answer within \\boxed{}.",
        Gsm8k.prompt("Q", List.of()));
    assertEquals("Here are some examples of how to solve similar problems:\n\nWhat is 1 + 1?\n\nReasoning:\n1 + 1 = 2"
        + "\n\nANSWER: \\boxed{2}\n\nQ\nPlease reason step by step, and put your final answer within \\boxed{}.",
        Gsm8k.prompt("Q", data[1]));
    assertTrue(MathAnswer.matches("so the total is \\boxed{24}.", "24"));
    assertTrue(MathAnswer.matches("The answer is 1,024", "1024"));
    Files.writeString(dir.resolve("bad.jsonl"), "{\"question\": \"q\", \"answer\": \"no marker\"}\n");
    var e = assertThrows(jswift.data.DatasetException.class, () -> Gsm8k.read(dir.resolve("bad.jsonl")));
    assertTrue(e.getMessage().contains("bad.jsonl") && e.getMessage().contains("####"), e.getMessage());
  }

  @Test
  void evalRunsTheBenchmark(@TempDir Path dir) throws Exception {
    Path data = Files.createDirectories(dir.resolve("gsm8k"));
    Files.writeString(data.resolve("test.jsonl"), TEST);
    Files.writeString(data.resolve("train.jsonl"), TRAIN);
    Path out = dir.resolve("out");
    String r = Cli.run("eval", "--model", MultipleChoiceTest.MODEL.toString(), "--eval_dataset", "gsm8k",
        "--eval_dataset_args", "{\"gsm8k\": {\"local_path\": \"" + data + "\", \"few_shot_num\": 1}}",
        "--eval_output_dir", out.toString(), "--max_new_tokens", "16", "--device", "cpu");
    assertTrue(r.startsWith("0\n") && r.contains("gsm8k: accuracy") && r.contains("1-shot"), r);
    Path run = Cli.onlyChild(out);
    JsonNode report = new ObjectMapper().readTree(run.resolve("report.json").toFile()).get("gsm8k").get("main");
    assertEquals(2, report.get("total").asInt());
    List<String> answers = Files.readAllLines(run.resolve("gsm8k.jsonl"));
    int right = 0;
    for (String line : answers) {
      JsonNode a = new ObjectMapper().readTree(line);
      assertEquals(MathAnswer.matches(a.get("answer").asText(), a.get("target").asText()), a.get("correct").asBoolean());
      if (a.get("correct").asBoolean()) right++;
    }
    assertEquals(right, report.get("correct").asInt());
  }
}
