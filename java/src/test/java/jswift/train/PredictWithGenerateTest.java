package jswift.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import jswift.testing.Cli;
import jswift.testing.TinyModels;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code --predict_with_generate}: each evaluation also answers the validation rows and reports ROUGE / BLEU (x 100)
 * against their answers; the best checkpoint is then the best rouge-l, as in ms-swift; the answers learn the rows.
 */
class PredictWithGenerateTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  @Test
  void evaluationGeneratesAndScoresTheAnswers(@TempDir Path dir) throws Exception {
    Path data = TinyModels.chatDataset(dir.resolve("qa.jsonl"), new String[][] {
        {"Who are you?", "I am jswift-bot, made by the jswift team."},
        {"What is your name?", "My name is jswift-bot."},
        {"Who made you?", "The jswift team made me."}});
    String r = Cli.run("sft", "--model", RlhfCommandTest.MODEL.toString(), "--dataset", data.toString(),
        "--val_dataset", data.toString(), "--max_steps", "30", "--learning_rate", "3e-3", "--eval_steps", "10",
        "--save_steps", "10", "--logging_steps", "10", "--per_device_train_batch_size", "3",
        "--gradient_accumulation_steps", "1", "--predict_with_generate", "true", "--max_new_tokens", "24",
        "--per_device_eval_batch_size", "3", "--output_dir", dir.resolve("out").toString(), "--device", "cpu");
    assertTrue(r.startsWith("0\n") && r.contains("rouge-l"), r);
    Path run = Cli.onlyChild(dir.resolve("out/jswift-tiny-chat"));
    List<JsonNode> evals = new ArrayList<>();
    for (String line : Files.readAllLines(run.resolve("logging.jsonl"))) {
      JsonNode n = JSON.readTree(line);
      if (n.has("eval_rouge-l")) evals.add(n);
    }
    assertEquals(3, evals.size(), evals.toString());
    double best = -1;
    for (JsonNode e : evals) {
      for (String k : List.of("eval_rouge-1", "eval_rouge-2", "eval_rouge-l", "eval_bleu-4"))
        assertTrue(e.get(k).asDouble() >= 0 && e.get(k).asDouble() <= 100, e.toString());
      best = Math.max(best, e.get("eval_rouge-l").asDouble());
    }
    assertTrue(evals.get(2).get("eval_rouge-l").asDouble() > 50, "the answers learned the rows: " + evals);
    JsonNode state = JSON.readTree(run.resolve("checkpoint-30/trainer_state.json").toFile());
    assertEquals(best, state.get("best_metric").asDouble(), 1e-6, "the best checkpoint is the best rouge-l");
    r = Cli.run("rlhf", "--rlhf_type", "dpo", "--model", RlhfCommandTest.MODEL.toString(), "--dataset",
        RlhfCommandTest.pairs(dir).toString(), "--predict_with_generate", "true", "--device", "cpu");
    assertTrue(r.startsWith("2\n") && r.contains("--predict_with_generate evaluates sft"), r);
  }
}
