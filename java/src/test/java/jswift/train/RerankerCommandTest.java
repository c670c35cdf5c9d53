package jswift.train;

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

/**
 * {@code jswift sft --task_type reranker} end to end on the bundled chat model: pointwise and listwise training rank
 * each query's document first among the others' (MRR 1), the checkpoint is a one-label sequence classifier, and
 * {@code jswift infer} scores each query with its document.
 */
class RerankerCommandTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  /** Each question with its answer as the positive and two other rows' answers as negatives. */
  static Path rows(Path dir) throws Exception {
    String[][] qa = EmbeddingCommandTest.rowsForTests();
    List<String> lines = new ArrayList<>();
    for (int i = 0; i < qa.length; i++)
      lines.add(JSON.writeValueAsString(Map.of("query", qa[i][0], "response", qa[i][1], "rejected_response",
          List.of(qa[(i + 1) % qa.length][1], qa[(i + 2) % qa.length][1]))));
    return Files.write(dir.resolve("rerank.jsonl"), lines);
  }

  @Test
  void pointwiseAndListwiseRankTheRelevantDocumentFirst(@TempDir Path dir) throws Exception {
    Path data = rows(dir);
    for (String loss : List.of("pointwise_reranker", "listwise_reranker")) {
      String r = Cli.run("sft", "--task_type", "reranker", "--loss_type", loss, "--model",
          RlhfCommandTest.MODEL.toString(), "--dataset", data.toString(), "--val_dataset", data.toString(),
          "--max_steps", "36", "--learning_rate", "3e-3", "--logging_steps", "1", "--eval_steps", "36", "--save_steps",
          "36", "--per_device_train_batch_size", "2", "--gradient_accumulation_steps", "1", "--output_dir",
          dir.resolve(loss).toString(), "--device", "cpu");
      assertTrue(r.startsWith("0\n") && r.contains("sft (reranker, " + loss + ")"), r);
      Path run = Cli.onlyChild(dir.resolve(loss + "/jswift-tiny-chat"));
      JsonNode first = null, eval = null;
      for (String line : Files.readAllLines(run.resolve("logging.jsonl"))) {
        JsonNode n = JSON.readTree(line);
        if (first == null && n.has("loss")) first = n;
        if (n.has("eval_mrr")) eval = n;
      }
      assertTrue(eval != null && eval.get("eval_mrr").asDouble() == 1.0 && eval.get("eval_ndcg").asDouble() == 1.0
          && eval.get("eval_loss").asDouble() < first.get("loss").asDouble() * 0.7, first + " / " + eval);
      Path ckpt = run.resolve("checkpoint-36");
      assertEquals("SEQ_CLS", JSON.readTree(ckpt.resolve("adapter_config.json").toFile()).get("task_type").asText());
      if (loss.equals("pointwise_reranker")) {
        // infer scores each (query, document): the relevant one high, another row's low
        List<String> pairs = new ArrayList<>();
        String[][] qa = EmbeddingCommandTest.rowsForTests();
        for (int i = 0; i < 2; i++)
          for (int j = 0; j < 2; j++)
            pairs.add(JSON.writeValueAsString(Map.of("messages", List.of(Map.of("role", "user", "content", qa[i][0]),
                Map.of("role", "assistant", "content", qa[j][1])))));
        Path pairFile = Files.write(dir.resolve("pairs.jsonl"), pairs);
        Path result = dir.resolve("scores.jsonl");
        r = Cli.run("infer", "--adapters", ckpt.toString(), "--val_dataset", pairFile.toString(), "--result_path",
            result.toString(), "--device", "cpu");
        assertTrue(r.startsWith("0\n") && r.contains("regression, 1 label"), r);
        List<String> out = Files.readAllLines(result);
        double[] s = new double[4];
        for (int k = 0; k < 4; k++) s[k] = JSON.readTree(out.get(k)).get("response").asDouble();
        assertTrue(s[0] > s[1] && s[3] > s[2], java.util.Arrays.toString(s));
      }
    }
  }

  @Test
  void generativeRerankerLearnsFromTheYesNoLogits(@TempDir Path dir) throws Exception {
    Path data = rows(dir);
    // "yes" and "no" are single tokens of Qwen's vocabulary (not of the tiny chat model's); a folder named like
    // Qwen3-Reranker gets ms-swift's qwen3_reranker template
    Path model = jswift.testing.TinyModels.qwen3(dir.resolve("tiny-qwen3-reranker"), 6);
    // (listwise_generative_reranker reads log P(yes), which saturates at log 1e-8 on this random model, whose yes / no
    // logits differ by tens: its loss and gradient are checked against torch in RerankerLossTest)
    for (String loss : List.of("generative_reranker")) {
      String r = Cli.run("sft", "--task_type", "generative_reranker", "--loss_type", loss, "--model",
          model.toString(), "--dataset", data.toString(), "--val_dataset",
          data.toString(), "--max_steps", "36", "--learning_rate", "3e-3", "--logging_steps", "1", "--eval_steps", "36",
          "--save_steps", "36", "--per_device_train_batch_size", "2", "--gradient_accumulation_steps", "1",
          "--output_dir", dir.resolve(loss).toString(), "--device", "cpu");
      assertTrue(r.startsWith("0\n") && r.contains("sft (generative_reranker, " + loss + ")"), r);
      Path run = Cli.onlyChild(dir.resolve(loss + "/tiny-qwen3-reranker"));
      JsonNode first = null, eval = null;
      for (String line : Files.readAllLines(run.resolve("logging.jsonl"))) {
        JsonNode n = JSON.readTree(line);
        if (first == null && n.has("loss")) first = n;
        if (n.has("eval_mrr")) eval = n;
      }
      // a random tiny model: the loss falls and the rankings improve (the losses themselves are checked exactly in
      // RerankerLossTest, the head's gradient in YesNoHeadTest)
      assertTrue(eval != null && eval.get("eval_mrr").asDouble() > first.get("mrr").asDouble() + 0.15
          && eval.get("eval_loss").asDouble() < first.get("loss").asDouble() * 0.5, first + " / " + eval);
      assertEquals("qwen3_reranker", JSON.readTree(run.resolve("args.json").toFile()).path("template").asText(
          "qwen3_reranker"), "the template a Qwen3-Reranker folder gets");
      JsonNode cfg = JSON.readTree(run.resolve("checkpoint-36/adapter_config.json").toFile());
      assertEquals("CAUSAL_LM", cfg.get("task_type").asText(), "no head of its own: a causal LM's adapter");
      // infer scores rows with the run's template (from its args.json): P(yes)
      String[][] qa = EmbeddingCommandTest.rowsForTests();
      List<String> pairs = new ArrayList<>();
      for (int j = 0; j < 2; j++)
        pairs.add(JSON.writeValueAsString(Map.of("query", qa[0][0], "response", qa[j][1])));
      Path pairFile = Files.write(dir.resolve("gpairs.jsonl"), pairs), result = dir.resolve("gscores.jsonl");
      r = Cli.run("infer", "--adapters", run.resolve("checkpoint-36").toString(), "--val_dataset", pairFile.toString(),
          "--result_path", result.toString(), "--device", "cpu");
      assertTrue(r.startsWith("0\n") && r.contains("template qwen3_reranker, relevance P(yes)"), r);
      List<String> out = Files.readAllLines(result);
      double relevant = JSON.readTree(out.get(0)).get("response").asDouble(),
          other = JSON.readTree(out.get(1)).get("response").asDouble();
      // (this random model does not rank every row right: only the range and that the document matters are asked)
      assertTrue(relevant > 0 && relevant < 1 && other > 0 && other < 1 && Math.abs(relevant - other) > 1e-4,
          relevant + " vs " + other);
    }
  }
}
