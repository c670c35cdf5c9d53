package jswift.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import jswift.testing.Cli;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** `jswift eval --eval_dataset general_mcq general_qa` as a user runs it, on the bundled chat model. */
class EvalSetsCommandTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  @Test
  void scoresEachSubsetAndWritesTheReportAndAnswers(@TempDir Path dir) throws Exception {
    Path mcq = Files.createDirectories(dir.resolve("mcq")), qa = Files.createDirectories(dir.resolve("qa"));
    Files.writeString(mcq.resolve("law_val.csv"), MultipleChoiceTest.CSV);
    Files.writeString(mcq.resolve("law_dev.csv"), "id,question,A,B,answer\n9,Is water wet?,Yes,No,A\n");
    Files.writeString(mcq.resolve("art_val.csv"), "id,question,A,B,answer\n1,Who painted the Mona Lisa?,Leonardo,Monet,A\n");
    Files.writeString(qa.resolve("geo.jsonl"), "{\"query\": \"What is the capital of Italy?\", \"response\": \"Rome\"}\n"
        + "{\"query\": \"Who are you?\", \"response\": \"I am a helpful assistant.\"}\n");
    Path out = dir.resolve("eval_output"), result = dir.resolve("result.json");
    String args = "{\"general_mcq\": {\"local_path\": \"" + mcq + "\", \"few_shot_num\": 1}, "
        + "\"general_qa\": {\"local_path\": \"" + qa + "\"}}";
    String r = Cli.run("eval", "--model", MultipleChoiceTest.MODEL.toString(), "--eval_dataset", "general_mcq",
        "general_qa", "--eval_dataset_args", args, "--eval_output_dir", out.toString(), "--max_new_tokens", "12",
        "--device", "cpu", "--result_path", result.toString());
    assertTrue(r.startsWith("0\n"), r);
    assertTrue(r.contains("general_mcq art: accuracy") && r.contains("general_mcq law: accuracy")
        && r.contains("1-shot") && r.contains("general_mcq: average accuracy") && r.contains("general_qa geo: rouge-1-f"), r);
    JsonNode report = JSON.readTree(result.toFile());
    JsonNode law = report.get("general_mcq").get("law");
    assertEquals(3, law.get("total").asInt());
    assertEquals(1, law.get("few_shot").asInt());
    assertEquals(0, report.get("general_mcq").get("art").get("few_shot").asInt(), "art has no dev file");
    Path run;
    try (Stream<Path> runs = Files.list(out)) {
      run = runs.findFirst().orElseThrow();
    }
    assertEquals(report, JSON.readTree(run.resolve("report.json").toFile()));
    List<String> lines = Files.readAllLines(run.resolve("general_mcq_law.jsonl"));
    assertEquals(3, lines.size());
    int right = 0;
    for (String line : lines) right += JSON.readTree(line).get("correct").asBoolean() ? 1 : 0;
    assertEquals(right, law.get("correct").asInt());
    assertEquals(right / 3.0, law.get("accuracy").asDouble(), 1e-12);
    int allRight = right + report.get("general_mcq").get("art").get("correct").asInt();
    assertEquals(allRight / 4.0, report.get("general_mcq").get("average_accuracy").asDouble(), 1e-12);
    List<String> answers = Files.readAllLines(run.resolve("general_qa_geo.jsonl"));
    assertEquals(2, answers.size());
    JsonNode first = JSON.readTree(answers.get(0));
    assertEquals(TextOverlap.score(first.get("answer").asText(), "Rome").get("rouge-1-f"),
        first.get("scores").get("rouge-1-f").asDouble(), 1e-12);
    double mean = 0;
    for (String a : answers) mean += JSON.readTree(a).get("scores").get("bleu-1").asDouble() / 2;
    assertEquals(mean, report.get("general_qa").get("geo").get("bleu-1").asDouble(), 1e-12);
  }

  @Test
  void badArgumentsAreClearErrors(@TempDir Path dir) throws Exception {
    String model = MultipleChoiceTest.MODEL.toString();
    String r = Cli.run("eval", "--model", model, "--eval_dataset", "general_mcq");
    assertTrue(r.startsWith("2\n") && r.contains("needs --eval_dataset_args"), r);
    r = Cli.run("eval", "--model", model, "--eval_dataset", "general_mcq", "jswift/quickstart-sft");
    assertTrue(r.startsWith("2\n") && r.contains("run them separately"), r);
    r = Cli.run("eval", "--model", model, "--eval_dataset", "general_qa", "--eval_dataset_args", "{\"general_mcq\": {}}");
    assertTrue(r.startsWith("2\n") && r.contains("no \"general_qa\""), r);
    r = Cli.run("eval", "--model", model, "--eval_dataset", "general_mcq", "--eval_dataset_args",
        "{\"general_mcq\": {\"local_path\": \"" + dir + "\"}}", "--eval_output_dir", dir.resolve("o").toString());
    assertTrue(r.startsWith("2\n") && r.contains("no *_val.csv file"), r);
  }
}
