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
 * {@code jswift sft --task_type seq_cls} end to end on the bundled chat model: a three-class classifier learns the
 * rows' labels (LoRA and full), is saved as PEFT / transformers save a sequence classifier, and {@code jswift infer}
 * answers each row with its class; multi-label and regression train too; bad labels and flags are refused by name.
 */
class SequenceClassificationCommandTest {
  private static final Path MODEL = RlhfCommandTest.MODEL;
  private static final ObjectMapper JSON = new ObjectMapper();

  /** Twelve sentences, four of each class: 0 happy, 1 angry, 2 about furniture. */
  static Path rows(Path dir, String name, boolean multi) throws Exception {
    String[][] texts = {
        {"I love this, it is wonderful!", "What a great day, I am so happy.", "This made me smile all day.",
            "Fantastic news, thank you so much!"},
        {"This is terrible, I hate it.", "I am furious about the delay.", "Worst service ever, never again.",
            "Stop wasting my time, this is awful."},
        {"The table is made of oak wood.", "A chair has four legs.", "The sofa stands by the window.",
            "The shelf holds twelve books."}};
    List<String> lines = new ArrayList<>();
    for (int c = 0; c < 3; c++)
      for (String t : texts[c]) {
        Object label = multi ? (c == 2 ? List.of(2) : List.of(c, 2)) : c;
        lines.add(JSON.writeValueAsString(Map.of("messages", List.of(Map.of("role", "user", "content", t)),
            "label", label)));
      }
    return Files.write(dir.resolve(name), lines);
  }

  private static List<JsonNode> log(Path run) throws Exception {
    List<JsonNode> out = new ArrayList<>();
    for (String line : Files.readAllLines(run.resolve("logging.jsonl"))) {
      JsonNode n = JSON.readTree(line);
      if (n.has("loss") || n.has("eval_loss")) out.add(n);  // steps and evaluations
    }
    return out;
  }

  @Test
  void loraClassifierLearnsTheLabelsAndInferAnswersWithThem(@TempDir Path dir) throws Exception {
    Path data = rows(dir, "cls.jsonl", false);
    String r = Cli.run("sft", "--task_type", "seq_cls", "--num_labels", "3", "--model", MODEL.toString(),
        "--dataset", data.toString(), "--val_dataset", data.toString(), "--max_steps", "24", "--learning_rate",
        "2e-3", "--logging_steps", "1", "--save_steps", "24", "--eval_steps", "24", "--per_device_train_batch_size",
        "4", "--gradient_accumulation_steps", "1", "--output_dir", dir.resolve("out").toString(), "--device", "cpu");
    assertTrue(r.startsWith("0\n") && r.contains("sft (seq_cls, single_label_classification, 3 labels)"), r);
    Path run = Cli.onlyChild(dir.resolve("out/jswift-tiny-chat"));
    List<JsonNode> log = log(run);
    JsonNode first = log.get(0), eval = null;
    for (JsonNode n : log) if (n.has("eval_acc")) eval = n;
    assertEquals(Math.log(3), first.get("loss").asDouble(), 0.3, "a fresh head starts near chance: " + first);
    assertTrue(eval != null && eval.get("eval_acc").asDouble() == 1.0 && eval.get("eval_loss").asDouble() < 0.3,
        String.valueOf(eval));
    Path ckpt = run.resolve("checkpoint-24");
    JsonNode cfg = JSON.readTree(ckpt.resolve("adapter_config.json").toFile());
    assertEquals("SEQ_CLS", cfg.get("task_type").asText());
    assertTrue(cfg.get("modules_to_save").toString().contains("score"), cfg.toString());
    try (jswift.model.SafetensorsFile f = jswift.model.SafetensorsFile.open(ckpt.resolve("adapter_model.safetensors"))) {
      long[] shape = f.entry(jswift.model.ScoreHead.ADAPTER_KEY).shape();
      assertEquals(3, shape[0], "the head has one row per label");
    }
    JsonNode args = JSON.readTree(ckpt.resolve("args.json").toFile());
    assertEquals(3, args.get("num_labels").asInt());
    assertEquals("seq_cls", args.get("task_type").asText());
    // infer answers each row with its class, and reports the accuracy
    Path result = dir.resolve("result.jsonl");
    r = Cli.run("infer", "--adapters", ckpt.toString(), "--val_dataset", data.toString(), "--max_batch_size", "5",
        "--result_path", result.toString(), "--device", "cpu");
    assertTrue(r.startsWith("0\n") && r.contains("a sequence classifier (single_label_classification, 3 labels)")
        && r.contains("acc 1.0000: 12 of 12 labelled rows"), r);
    List<String> lines = Files.readAllLines(result);
    assertEquals(12, lines.size());
    for (String line : lines) {
      JsonNode n = JSON.readTree(line);
      assertEquals(n.get("labels").asInt(), n.get("response").asInt(), line);
    }
    // deploy answers a chat completion with the class
    try (jswift.testing.RunningServer server = new jswift.testing.RunningServer("deploy", "--adapters", ckpt.toString(),
        "--device", "cpu", "--host", "127.0.0.1", "--port", "0", "--log_interval", "0")) {
      int port = server.port();
      assertTrue(server.out.toString().contains("a sequence classifier: single_label_classification, 3 labels"),
          server.out.toString());
      java.net.http.HttpClient client = java.net.http.HttpClient.newHttpClient();
      java.net.http.HttpResponse<String> answer = client.send(java.net.http.HttpRequest.newBuilder(
          java.net.URI.create("http://127.0.0.1:" + port + "/v1/chat/completions")).header("Content-Type",
          "application/json").POST(java.net.http.HttpRequest.BodyPublishers.ofString("{\"messages\": [{\"role\": "
          + "\"user\", \"content\": \"I am furious about the delay.\"}]}")).build(),
          java.net.http.HttpResponse.BodyHandlers.ofString());
      assertEquals(200, answer.statusCode(), answer.body());
      JsonNode body = JSON.readTree(answer.body());
      assertEquals("1", body.get("choices").get(0).get("message").get("content").asText(), answer.body());
      java.net.http.HttpResponse<String> streamed = client.send(java.net.http.HttpRequest.newBuilder(
          java.net.URI.create("http://127.0.0.1:" + port + "/v1/chat/completions")).header("Content-Type",
          "application/json").POST(java.net.http.HttpRequest.BodyPublishers.ofString("{\"stream\": true, \"messages\":"
          + " [{\"role\": \"user\", \"content\": \"hi\"}]}")).build(), java.net.http.HttpResponse.BodyHandlers.ofString());
      assertEquals(400, streamed.statusCode(), streamed.body());
      assertTrue(streamed.body().contains("answers whole"), streamed.body());
    }
    // merged (the model's bf16 weights plus the update, and the head): a transformers sequence classifier that
    // classifies the rows as the adapter did
    r = Cli.run("export", "--adapters", ckpt.toString(), "--merge_lora", "true");
    assertTrue(r.startsWith("0\n"), r);
    Path merged = run.resolve("checkpoint-24-merged");
    JsonNode config = JSON.readTree(merged.resolve("config.json").toFile());
    assertEquals("Qwen2ForSequenceClassification", config.get("architectures").get(0).asText());
    assertEquals("single_label_classification", config.get("problem_type").asText());
    r = Cli.run("infer", "--model", merged.toString(), "--val_dataset", data.toString(), "--result_path",
        dir.resolve("merged.jsonl").toString(), "--device", "cpu");
    double acc = Double.parseDouble(r.replaceAll("(?s).*\\(acc ([0-9.]+):.*", "$1"));
    assertTrue(acc >= 11 / 12.0, r);
    r = Cli.run("export", "--model", merged.toString(), "--to_ollama", "true");
    assertTrue(r.startsWith("2\n") && r.contains("Ollama cannot serve"), r);
  }

  @Test
  void fullClassifierIsATransformersSequenceClassifier(@TempDir Path dir) throws Exception {
    Path data = rows(dir, "cls.jsonl", false);
    String r = Cli.run("sft", "--task_type", "seq_cls", "--num_labels", "3", "--train_type", "full", "--model",
        MODEL.toString(), "--dataset", data.toString(), "--max_steps", "12", "--learning_rate", "5e-4",
        "--logging_steps", "1", "--save_steps", "12", "--per_device_train_batch_size", "4",
        "--gradient_accumulation_steps", "1", "--output_dir", dir.resolve("out").toString(), "--device", "cpu");
    assertTrue(r.startsWith("0\n"), r);
    Path ckpt = Cli.onlyChild(dir.resolve("out/jswift-tiny-chat")).resolve("checkpoint-12");
    JsonNode cfg = JSON.readTree(ckpt.resolve("config.json").toFile());
    assertEquals("Qwen2ForSequenceClassification", cfg.get("architectures").get(0).asText());
    assertEquals(3, cfg.get("id2label").size(), "num_labels is id2label's size");
    assertEquals("single_label_classification", cfg.get("problem_type").asText());
    List<JsonNode> log = log(Cli.onlyChild(dir.resolve("out/jswift-tiny-chat")));
    assertTrue(log.get(log.size() - 1).get("loss").asDouble() < log.get(0).get("loss").asDouble() - 0.3,
        log.get(0) + " -> " + log.get(log.size() - 1));
    Path result = dir.resolve("result.jsonl");
    r = Cli.run("infer", "--model", ckpt.toString(), "--val_dataset", data.toString(), "--result_path",
        result.toString(), "--device", "cpu");
    assertTrue(r.startsWith("0\n") && r.contains("3 labels") && r.contains("labelled rows"), r);
    assertEquals(12, Files.readAllLines(result).size());
  }

  @Test
  void multiLabelAndRegressionTrain(@TempDir Path dir) throws Exception {
    Path multi = rows(dir, "multi.jsonl", true);
    String r = Cli.run("sft", "--task_type", "seq_cls", "--num_labels", "3", "--problem_type",
        "multi_label_classification", "--model", MODEL.toString(), "--dataset", multi.toString(), "--max_steps", "16",
        "--learning_rate", "2e-3", "--logging_steps", "1", "--save_steps", "16", "--per_device_train_batch_size", "4",
        "--gradient_accumulation_steps", "1", "--output_dir", dir.resolve("m").toString(), "--device", "cpu");
    assertTrue(r.startsWith("0\n") && r.contains("multi_label_classification"), r);
    List<JsonNode> log = log(Cli.onlyChild(dir.resolve("m/jswift-tiny-chat")));
    assertEquals(Math.log(2), log.get(0).get("loss").asDouble(), 0.1, "binary cross-entropy starts near log 2");
    assertTrue(log.get(15).get("loss").asDouble() < 0.35 && log.get(15).has("acc"), log.get(15).toString());
    Path result = dir.resolve("multi-result.jsonl");
    Path ckpt = Cli.onlyChild(dir.resolve("m/jswift-tiny-chat")).resolve("checkpoint-16");
    r = Cli.run("infer", "--adapters", ckpt.toString(), "--val_dataset", multi.toString(), "--result_path",
        result.toString(), "--device", "cpu");
    assertTrue(r.startsWith("0\n") && r.contains("multi_label_classification"), r);
    assertTrue(JSON.readTree(Files.readAllLines(result).get(0)).get("response").isArray(), "a list of classes");

    // regression: the label a number; num_labels 1 makes it the default problem type
    List<String> lines = new ArrayList<>();
    for (String line : Files.readAllLines(rows(dir, "plain.jsonl", false))) {
      JsonNode n = JSON.readTree(line);
      lines.add(JSON.writeValueAsString(Map.of("messages", n.get("messages"), "label", n.get("label").asInt() * 0.5)));
    }
    Path scores = Files.write(dir.resolve("scores.jsonl"), lines);
    r = Cli.run("sft", "--task_type", "seq_cls", "--num_labels", "1", "--model", MODEL.toString(), "--dataset",
        scores.toString(), "--max_steps", "16", "--learning_rate", "2e-3", "--logging_steps", "1", "--save_steps",
        "16", "--per_device_train_batch_size", "4", "--gradient_accumulation_steps", "1", "--output_dir",
        dir.resolve("r").toString(), "--device", "cpu");
    assertTrue(r.startsWith("0\n") && r.contains("regression, 1 label)"), r);
    log = log(Cli.onlyChild(dir.resolve("r/jswift-tiny-chat")));
    assertTrue(log.get(15).get("loss").asDouble() < log.get(0).get("loss").asDouble() / 3 && !log.get(15).has("acc"),
        log.get(0) + " -> " + log.get(15));
  }

  /** transformers' metric_for_best_model / greater_is_better and ms-swift's early_stop_interval, on eval_acc. */
  @Test
  void bestCheckpointByAccuracyAndEarlyStop(@TempDir Path dir) throws Exception {
    Path data = rows(dir, "cls.jsonl", false);
    String[] common = {"sft", "--task_type", "seq_cls", "--num_labels", "3", "--model", MODEL.toString(), "--dataset",
        data.toString(), "--val_dataset", data.toString(), "--max_steps", "24", "--logging_steps", "1",
        "--per_device_train_batch_size", "4", "--gradient_accumulation_steps", "1", "--device", "cpu",
        "--eval_steps", "4", "--save_steps", "4"};
    String r = Cli.run(concat(common, "--learning_rate", "2e-3", "--metric_for_best_model", "acc", "--output_dir",
        dir.resolve("a").toString()));
    assertTrue(r.startsWith("0\n"), r);
    Path run = Cli.onlyChild(dir.resolve("a/jswift-tiny-chat"));
    double bestAcc = -1;
    long bestStep = -1;
    for (JsonNode n : log(run))
      if (n.has("eval_acc") && n.get("eval_acc").asDouble() > bestAcc) {  // the first of the best, as transformers
        bestAcc = n.get("eval_acc").asDouble();
        bestStep = Long.parseLong(n.get("global_step/max_steps").asText().split("/")[0]);
      }
    JsonNode state = JSON.readTree(run.resolve("checkpoint-24/trainer_state.json").toFile());
    assertEquals(bestAcc, state.get("best_metric").asDouble(), 1e-9);
    assertTrue(state.get("best_model_checkpoint").asText().endsWith("checkpoint-" + bestStep), state.toString());
    // a run that cannot improve (learning rate 0) stops at its second evaluation
    r = Cli.run(concat(common, "--learning_rate", "0", "--early_stop_interval", "1", "--output_dir",
        dir.resolve("b").toString()));
    assertTrue(r.startsWith("0\n") && r.contains("done: 8 steps (stopped early)"), r);
    Path stopped = Cli.onlyChild(dir.resolve("b/jswift-tiny-chat"));
    assertTrue(Files.exists(stopped.resolve("checkpoint-8/adapter_model.safetensors"))
        && !Files.exists(stopped.resolve("checkpoint-12")));
    r = Cli.run(concat(common, "--metric_for_best_model", "f1", "--output_dir", dir.resolve("c").toString()));
    assertTrue(r.startsWith("2\n") && r.contains("--metric_for_best_model f1") && r.contains("acc"), r);
  }

  @Test
  void badLabelsAndFlagsAreRefusedByName(@TempDir Path dir) throws Exception {
    Path data = rows(dir, "cls.jsonl", false);
    String[] common = {"sft", "--task_type", "seq_cls", "--model", MODEL.toString(), "--dataset", data.toString(),
        "--max_steps", "1", "--output_dir", dir.resolve("o").toString(), "--device", "cpu"};
    String r = Cli.run(common);
    assertTrue(r.startsWith("2\n") && r.contains("needs --num_labels"), r);
    r = Cli.run(concat(common, "--num_labels", "2"));  // the rows' class 2 is out of range
    assertTrue(r.startsWith("2\n") && r.contains("cls.jsonl") && r.contains("out of range"), r);
    r = Cli.run(concat(common, "--num_labels", "3", "--packing", "true"));
    assertTrue(r.startsWith("2\n") && r.contains("--packing true with --task_type seq_cls"), r);
    r = Cli.run(concat(common, "--num_labels", "3", "--problem_type", "ranking"));
    assertTrue(r.startsWith("2\n") && r.contains("--problem_type ranking"), r);
    r = Cli.run("sft", "--num_labels", "3", "--model", MODEL.toString(), "--dataset", data.toString(),
        "--device", "cpu");
    assertTrue(r.startsWith("2\n") && r.contains("are for --task_type seq_cls"), r);
    r = Cli.run("rlhf", "--rlhf_type", "dpo", "--task_type", "seq_cls", "--num_labels", "3", "--model",
        MODEL.toString(), "--dataset", data.toString(), "--device", "cpu");
    assertTrue(r.startsWith("2\n") && r.contains("with jswift rlhf is for --rlhf_type rm"), r);
    Files.write(dir.resolve("nolabel.jsonl"), List.of("{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}"));
    r = Cli.run("sft", "--task_type", "seq_cls", "--num_labels", "3", "--model", MODEL.toString(), "--dataset",
        dir.resolve("nolabel.jsonl").toString(), "--max_steps", "1", "--output_dir", dir.resolve("p").toString(),
        "--device", "cpu");
    assertTrue(r.startsWith("2\n") && r.contains("nolabel.jsonl") && r.contains("no \"label\""), r);
  }

  private static String[] concat(String[] a, String... b) {
    String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }
}
