package jswift.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import jswift.testing.Cli;
import jswift.testing.RunningServer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code jswift sft --task_type embedding} end to end on the bundled chat model: InfoNCE pulls each question to its
 * answer and away from the others, the adapter is saved as ms-swift saves an embedding adapter, and
 * {@code jswift deploy}'s /v1/embeddings, which encodes texts as training did, ranks each question's answer first.
 */
class EmbeddingCommandTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String[][] ROWS = {
      {"What is the capital of France?", "Paris is the capital of France.", "Berlin is in Germany."},
      {"How many legs does a spider have?", "A spider has eight legs.", "A dog has four legs."},
      {"What color is the sky on a clear day?", "The sky is blue on a clear day.", "Grass is green."},
      {"Who wrote Romeo and Juliet?", "Shakespeare wrote Romeo and Juliet.", "Dickens wrote Oliver Twist."},
      {"What do bees make?", "Bees make honey.", "Cows give milk."},
      {"What is frozen water called?", "Frozen water is ice.", "Steam is hot water vapour."}};

  /** The question / answer / negative rows, for other tests. */
  static String[][] rowsForTests() {
    return ROWS;
  }

  static Path rows(Path dir) throws Exception {
    List<String> lines = new ArrayList<>();
    for (String[] r : ROWS)
      lines.add(JSON.writeValueAsString(Map.of("query", r[0], "response", r[1], "rejected_response", List.of(r[2]))));
    return Files.write(dir.resolve("emb.jsonl"), lines);
  }

  @Test
  void infoNceTrainsEmbeddingsThatDeployServes(@TempDir Path dir) throws Exception {
    Path data = rows(dir);
    String r = Cli.run("sft", "--task_type", "embedding", "--loss_type", "infonce", "--model",
        RlhfCommandTest.MODEL.toString(), "--dataset", data.toString(), "--val_dataset", data.toString(),
        "--max_steps", "30", "--learning_rate", "2e-3", "--logging_steps", "1", "--eval_steps", "15", "--save_steps",
        "30", "--per_device_train_batch_size", "3", "--per_device_eval_batch_size", "6", "--gradient_accumulation_steps",
        "2", "--output_dir",
        dir.resolve("out").toString(), "--device", "cpu");
    assertTrue(r.startsWith("0\n") && r.contains("sft (embedding, infonce, temperature 0.01, in-batch negatives)"), r);
    Path run = Cli.onlyChild(dir.resolve("out/jswift-tiny-chat"));
    List<JsonNode> evals = new ArrayList<>(), steps = new ArrayList<>();
    for (String line : Files.readAllLines(run.resolve("logging.jsonl"))) {
      JsonNode n = JSON.readTree(line);
      if (n.has("eval_loss")) evals.add(n);
      else if (n.has("loss")) steps.add(n);
    }
    assertEquals(2, evals.size(), evals.toString());
    JsonNode first = steps.get(0), end = steps.get(steps.size() - 1), last = evals.get(1);
    assertTrue(end.get("loss").asDouble() < first.get("loss").asDouble() / 4
        && end.get("margin").asDouble() > first.get("margin").asDouble(), first + " -> " + end);
    // evaluated over all six rows at once: each question against every answer and negative
    assertTrue(last.get("eval_loss").asDouble() < first.get("loss").asDouble() && last.get("eval_margin").asDouble() > 0,
        first + " / " + last);
    Path ckpt = run.resolve("checkpoint-30");
    JsonNode cfg = JSON.readTree(ckpt.resolve("adapter_config.json").toFile());
    assertTrue(cfg.get("task_type").isNull(), "ms-swift saves an embedding adapter without a PEFT task type: " + cfg);

    // the served embeddings rank each question's own answer above every other text
    try (RunningServer server = new RunningServer("deploy", "--adapters", ckpt.toString(), "--device", "cpu", "--host",
        "127.0.0.1", "--port", "0", "--log_interval", "0")) {
      int port = server.port();
      List<String> texts = new ArrayList<>();
      for (String[] row : ROWS) texts.addAll(List.of(row));
      HttpResponse<String> answer = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
          URI.create("http://127.0.0.1:" + port + "/v1/embeddings")).header("Content-Type", "application/json")
          .POST(HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(Map.of("input", texts)))).build(),
          HttpResponse.BodyHandlers.ofString());
      assertEquals(200, answer.statusCode(), answer.body());
      JsonNode data2 = JSON.readTree(answer.body()).get("data");
      double[][] v = new double[texts.size()][];
      for (int i = 0; i < v.length; i++) {
        JsonNode e = data2.get(i).get("embedding");
        v[i] = new double[e.size()];
        for (int j = 0; j < e.size(); j++) v[i][j] = e.get(j).asDouble();
      }
      int right = 0;
      for (int q = 0; q < ROWS.length; q++) {
        int best = -1;
        double bestSim = Double.NEGATIVE_INFINITY;
        for (int t = 0; t < v.length; t++) {
          if (t % 3 == 0) continue;  // candidates: the answers and the negatives
          double sim = 0;
          for (int j = 0; j < v[t].length; j++) sim += v[3 * q][j] * v[t][j];
          if (sim > bestSim) {
            bestSim = sim;
            best = t;
          }
        }
        if (best == 3 * q + 1) right++;
      }
      assertEquals(ROWS.length, right, "every question's nearest text is its answer");
      // jswift infer on the checkpoint (its args.json says embedding) writes the same vectors
      List<String> questions = new ArrayList<>();
      for (String[] row : ROWS) questions.add(JSON.writeValueAsString(Map.of("query", row[0])));
      Path q = Files.write(dir.resolve("questions.jsonl"), questions);
      Path result = dir.resolve("vectors.jsonl");
      String r2 = Cli.run("infer", "--adapters", ckpt.toString(), "--val_dataset", q.toString(), "--result_path",
          result.toString(), "--device", "cpu");
      assertTrue(r2.startsWith("0\n") && r2.contains("embeddings of"), r2);
      List<String> lines = Files.readAllLines(result);
      assertEquals(ROWS.length, lines.size());
      for (int i = 0; i < ROWS.length; i++) {
        JsonNode e = JSON.readTree(lines.get(i)).get("response");
        assertEquals(v[3 * i].length, e.size());
        for (int j = 0; j < e.size(); j++) assertEquals(v[3 * i][j], e.get(j).asDouble(), 1e-5, "row " + i);
      }
    }
  }

  @Test
  void pairLossesAndBadInputsAreNamed(@TempDir Path dir) throws Exception {
    List<String> lines = new ArrayList<>();
    for (int i = 0; i < ROWS.length; i++) {
      String[] r = ROWS[i];
      lines.add(JSON.writeValueAsString(Map.of("query", r[0], "response", i % 2 == 0 ? r[1] : r[2], "label", i % 2 == 0
          ? 1 : 0)));
    }
    Path pairs = Files.write(dir.resolve("pairs.jsonl"), lines);
    for (String loss : List.of("cosine_similarity", "contrastive", "online_contrastive")) {
      String r = Cli.run("sft", "--task_type", "embedding", "--loss_type", loss, "--model",
          RlhfCommandTest.MODEL.toString(), "--dataset", pairs.toString(), "--max_steps", "8", "--learning_rate", "2e-3",
          "--logging_steps", "1", "--per_device_train_batch_size", "6", "--gradient_accumulation_steps", "1",
          "--output_dir", dir.resolve(loss).toString(), "--device", "cpu");
      assertTrue(r.startsWith("0\n") && r.contains("sft (embedding, " + loss + ")"), r);
      List<Double> losses = new ArrayList<>();
      for (String line : Files.readAllLines(Cli.onlyChild(dir.resolve(loss + "/jswift-tiny-chat")).resolve("logging.jsonl"))) {
        JsonNode n = JSON.readTree(line);
        if (n.has("loss")) losses.add(n.get("loss").asDouble());
      }
      assertTrue(losses.get(losses.size() - 1) < losses.get(0), loss + ": " + losses);
    }
    // a CSV's labels are text: read as the numbers they spell
    Path csv = Files.writeString(dir.resolve("pairs.csv"), "query,response,label\nWhat is 1+1?,Two.,1\n"
        + "What is 2+2?,Blue.,0\n");
    String r = Cli.run("sft", "--task_type", "embedding", "--loss_type", "contrastive", "--model",
        RlhfCommandTest.MODEL.toString(), "--dataset", csv.toString(), "--max_steps", "1", "--per_device_train_batch_size",
        "2", "--output_dir", dir.resolve("csv").toString(), "--device", "cpu");
    assertTrue(r.startsWith("0\n"), r);
    r = Cli.run("sft", "--task_type", "embedding", "--loss_type", "triplet", "--model",
        RlhfCommandTest.MODEL.toString(), "--dataset", pairs.toString(), "--device", "cpu");
    assertTrue(r.startsWith("2\n") && r.contains("--loss_type triplet is not an embedding loss"), r);
    r = Cli.run("sft", "--loss_type", "infonce", "--model", RlhfCommandTest.MODEL.toString(), "--dataset",
        pairs.toString(), "--device", "cpu");
    assertTrue(r.startsWith("2\n") && r.contains("--loss_type picks the loss of --task_type embedding"), r);
    Files.write(dir.resolve("nopos.jsonl"), List.of("{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}"));
    r = Cli.run("sft", "--task_type", "embedding", "--model", RlhfCommandTest.MODEL.toString(), "--dataset",
        dir.resolve("nopos.jsonl").toString(), "--max_steps", "1", "--output_dir", dir.resolve("o").toString(),
        "--device", "cpu");
    assertTrue(r.startsWith("2\n") && r.contains("nopos.jsonl") && r.contains("needs a positive"), r);
  }
}
