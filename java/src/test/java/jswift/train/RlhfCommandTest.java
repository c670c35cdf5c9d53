package jswift.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import jswift.cli.QuickStart;
import jswift.testing.Cli;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** `jswift rlhf --rlhf_type dpo` and `kto` end to end on the bundled chat model and a few preference pairs. */
class RlhfCommandTest {
  static final Path MODEL = Path.of(System.getProperty("user.dir")).getParent().resolve(QuickStart.MODEL);
  private static final ObjectMapper JSON = new ObjectMapper();

  static Path pairs(Path dir) throws Exception {
    String[][] rows = {
        {"Who are you?", "I am jswift-bot, made by the jswift team.", "I am ChatGPT, made by OpenAI."},
        {"What is your name?", "My name is jswift-bot.", "My name is Claude."},
        {"Who made you?", "The jswift team made me.", "OpenAI made me."},
        {"Are you ChatGPT?", "No, I am jswift-bot.", "Yes, I am ChatGPT."}};
    List<String> lines = new ArrayList<>();
    for (String[] r : rows)
      lines.add(JSON.writeValueAsString(java.util.Map.of("messages", List.of(java.util.Map.of("role", "user", "content", r[0]),
          java.util.Map.of("role", "assistant", "content", r[1])), "rejected_response", r[2])));
    return Files.write(dir.resolve("pairs.jsonl"), lines);
  }

  @Test
  void dpoStartsAtLog2AndSeparatesTheAnswers(@TempDir Path dir) throws Exception {
    Path data = pairs(dir);
    String r = Cli.run("rlhf", "--rlhf_type", "dpo", "--model", MODEL.toString(), "--dataset", data.toString(),
        "--val_dataset", data.toString(), "--max_steps", "12", "--learning_rate", "5e-4", "--logging_steps", "1",
        "--save_steps", "12", "--per_device_train_batch_size", "2", "--output_dir", dir.resolve("out").toString(),
        "--device", "cpu");
    assertTrue(r.startsWith("0\n"), r);
    assertTrue(r.contains("rlhf (dpo, beta 0.1)") && r.contains("step 1/12  loss 0.6931"), r);
    Path run = Cli.onlyChild(dir.resolve("out/jswift-tiny-chat"));
    List<JsonNode> steps = new ArrayList<>();
    JsonNode eval = null;
    for (String line : Files.readAllLines(run.resolve("logging.jsonl"))) {
      JsonNode n = JSON.readTree(line);
      if (n.has("rewards/margins")) steps.add(n);
      if (n.has("eval_rewards/accuracies")) eval = n;
    }
    assertEquals(12, steps.size());
    assertEquals(0.0, steps.get(0).get("rewards/margins").asDouble(), 1e-6, "the adapter starts at zero");
    JsonNode last = steps.get(11);
    assertTrue(last.get("loss").asDouble() < 0.5, "the loss fell from log 2: " + last);
    assertTrue(last.get("rewards/margins").asDouble() > 0.5, last.toString());
    assertTrue(last.get("rewards/chosen").asDouble() > last.get("rewards/rejected").asDouble(), last.toString());
    assertTrue(eval != null && eval.get("eval_rewards/accuracies").asDouble() == 1.0, String.valueOf(eval));
    assertTrue(Files.exists(run.resolve("checkpoint-12/adapter_model.safetensors")));
  }

  @Test
  void fullParameterDpoMeasuresAgainstAFrozenCopy(@TempDir Path dir) throws Exception {
    Path data = pairs(dir);
    String r = Cli.run("rlhf", "--rlhf_type", "dpo", "--train_type", "full", "--model", MODEL.toString(), "--dataset",
        data.toString(), "--max_steps", "6", "--learning_rate", "1e-4", "--logging_steps", "1", "--save_steps", "6",
        "--per_device_train_batch_size", "2", "--output_dir", dir.resolve("out").toString(), "--device", "cpu");
    assertTrue(r.startsWith("0\n"), r);
    assertTrue(r.contains("reference model: " + MODEL) && r.contains("step 1/6  loss 0.6931"),
        "a second copy is the reference, and the policy starts equal to it: " + r);
    Path run = Cli.onlyChild(dir.resolve("out/jswift-tiny-chat"));
    JsonNode last = null;
    for (String line : Files.readAllLines(run.resolve("logging.jsonl"))) {
      JsonNode n = JSON.readTree(line);
      if (n.has("rewards/margins")) last = n;
    }
    assertTrue(last.get("loss").asDouble() < 0.6 && last.get("rewards/margins").asDouble() > 0, last.toString());
    assertTrue(Files.exists(run.resolve("checkpoint-6/model.safetensors")), "full training saves the whole model");
  }

  @Test
  void rewardModelRanksThePairsAndScoresGrpoCompletions(@TempDir Path dir) throws Exception {
    Path data = pairs(dir);
    String r = Cli.run("rlhf", "--rlhf_type", "rm", "--model", MODEL.toString(), "--dataset", data.toString(),
        "--val_dataset", data.toString(), "--max_steps", "12", "--learning_rate", "5e-4", "--logging_steps", "1",
        "--save_steps", "12", "--per_device_train_batch_size", "2", "--output_dir", dir.resolve("rm").toString(),
        "--device", "cpu");
    assertTrue(r.startsWith("0\n") && r.contains("rlhf (rm)"), r);
    Path run = Cli.onlyChild(dir.resolve("rm/jswift-tiny-chat"));
    JsonNode first = null, last = null, eval = null;
    for (String line : Files.readAllLines(run.resolve("logging.jsonl"))) {
      JsonNode n = JSON.readTree(line);
      if (n.has("rewards/margins")) {
        if (first == null) first = n;
        last = n;
      }
      if (n.has("eval_rewards/accuracies")) eval = n;
    }
    assertTrue(last.get("loss").asDouble() < first.get("loss").asDouble() - 0.2, first + " -> " + last);
    assertTrue(eval != null && eval.get("eval_rewards/accuracies").asDouble() == 1.0, String.valueOf(eval));
    Path rm = run.resolve("checkpoint-12");
    JsonNode cfg = JSON.readTree(rm.resolve("adapter_config.json").toFile());
    assertEquals("SEQ_CLS", cfg.get("task_type").asText(), "saved as PEFT saves a sequence-classification adapter");
    assertTrue(cfg.get("modules_to_save").toString().contains("score"), cfg.toString());
    assertRanksThePairs(rm, data);  // as the run's evaluation did
    // merged, it is a whole *ForSequenceClassification reward model that ranks the pairs the same way
    r = Cli.run("export", "--adapters", rm.toString(), "--merge_lora", "true", "--output_dir", dir.resolve("m").toString());
    assertTrue(r.startsWith("0\n"), r);
    JsonNode merged = JSON.readTree(dir.resolve("m/config.json").toFile());
    assertEquals("Qwen2ForSequenceClassification", merged.get("architectures").get(0).asText(), merged.toString());
    assertEquals("regression", merged.get("problem_type").asText());
    assertRanksThePairs(dir.resolve("m"), data);
    // GRPO with the reward model as its reward
    Path prompts = GrpoCommandTest.prompts(dir);
    r = Cli.run("rlhf", "--rlhf_type", "grpo", "--model", MODEL.toString(), "--dataset", prompts.toString(),
        "--reward_model", rm.toString(), "--max_completion_length", "16", "--num_generations", "2",
        "--per_device_train_batch_size", "4", "--gradient_accumulation_steps", "1", "--max_steps", "2",
        "--logging_steps", "1", "--output_dir", dir.resolve("grpo").toString(), "--device", "cpu");
    assertTrue(r.startsWith("0\n") && r.contains("reward model: " + rm) && r.contains("reward_model/mean"), r);
    Path grpoCheckpoint = Cli.onlyChild(dir.resolve("grpo/jswift-tiny-chat")).resolve("checkpoint-2");
    r = Cli.run("rlhf", "--rlhf_type", "grpo", "--model", MODEL.toString(), "--dataset", prompts.toString(),
        "--reward_model", grpoCheckpoint.toString(), "--num_generations", "2", "--per_device_train_batch_size", "2",
        "--max_steps", "1", "--output_dir", dir.resolve("o").toString(), "--device", "cpu");
    assertTrue(r.startsWith("2\n") && r.contains("not a reward model"), r);
  }

  @org.junit.jupiter.params.ParameterizedTest
  @org.junit.jupiter.params.provider.ValueSource(strings = {"bco_pair", "sigmoid bco_pair sft|0.8 0.2 1.0"})
  void bcoPairKeepsItsRunningMeanAcrossAResume(String losses, @TempDir Path dir) throws Exception {
    // bco_pair's reward baseline is a running mean over the steps: a resumed run must go on from the saved one, alone
    // or in ms-swift's MPO mix of losses
    Path data = pairs(dir);
    List<String> flags = new java.util.ArrayList<>(List.of("rlhf", "--rlhf_type", "dpo", "--loss_type"));
    flags.addAll(List.of(losses.split("\\|")[0].split(" ")));
    if (losses.contains("|")) {
      flags.add("--loss_weights");
      flags.addAll(List.of(losses.split("\\|")[1].split(" ")));
    }
    flags.addAll(List.of("--model", MODEL.toString(),
        "--dataset", data.toString(), "--max_steps", "4", "--learning_rate", "5e-4", "--save_steps", "2",
        "--per_device_train_batch_size", "2", "--gradient_accumulation_steps", "1", "--device", "cpu"));
    String[] common = flags.toArray(new String[0]);
    String r = Cli.run(concat(common, "--output_dir", dir.resolve("a").toString()));
    assertTrue(r.startsWith("0\n"), r);
    Path run = Cli.onlyChild(dir.resolve("a/jswift-tiny-chat"));
    r = Cli.run(concat(common, "--output_dir", dir.resolve("b").toString(), "--resume_from_checkpoint",
        run.resolve("checkpoint-2").toString()));
    assertTrue(r.startsWith("0\n"), r);
    Path resumed = Cli.onlyChild(dir.resolve("b/jswift-tiny-chat"));
    for (String f : List.of("adapter_model.safetensors", "optimizer.safetensors"))
      assertTrue(java.util.Arrays.equals(Files.readAllBytes(run.resolve("checkpoint-4/" + f)),
          Files.readAllBytes(resumed.resolve("checkpoint-4/" + f))), "resumed = uninterrupted: " + f);
    try (jswift.model.SafetensorsFile o = jswift.model.SafetensorsFile.open(run.resolve("checkpoint-4/optimizer.safetensors"))) {
      assertEquals("F64", o.entry("bco.running_mean").dtype());
    }
  }

  private static String[] concat(String[] a, String... b) {
    String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }

  @Test
  void fullParameterRewardModelIsASequenceClassifier(@TempDir Path dir) throws Exception {
    Path data = pairs(dir);
    String r = Cli.run("rlhf", "--rlhf_type", "rm", "--train_type", "full", "--model", MODEL.toString(), "--dataset",
        data.toString(), "--max_steps", "12", "--learning_rate", "1e-4", "--logging_steps", "1", "--save_steps", "6",
        "--per_device_train_batch_size", "2", "--output_dir", dir.resolve("rm").toString(), "--device", "cpu");
    assertTrue(r.startsWith("0\n") && r.contains("rlhf (rm)"), r);
    Path run = Cli.onlyChild(dir.resolve("rm/jswift-tiny-chat"));
    Path rm = run.resolve("checkpoint-12");
    JsonNode cfg = JSON.readTree(rm.resolve("config.json").toFile());
    assertEquals("Qwen2ForSequenceClassification", cfg.get("architectures").get(0).asText(), cfg.toString());
    assertEquals("LABEL_0", cfg.get("id2label").get("0").asText());
    assertRanksThePairs(rm, data);
    // resuming from the half-way checkpoint (this model stores bf16 weights; the fp32 masters, and the head, are in
    // optimizer.safetensors) ends with the same model, byte for byte
    r = Cli.run("rlhf", "--rlhf_type", "rm", "--train_type", "full", "--model", MODEL.toString(), "--dataset",
        data.toString(), "--max_steps", "12", "--learning_rate", "1e-4", "--save_steps", "6",
        "--per_device_train_batch_size", "2", "--output_dir", dir.resolve("resumed").toString(), "--device", "cpu",
        "--resume_from_checkpoint", run.resolve("checkpoint-6").toString());
    assertTrue(r.startsWith("0\n"), r);
    Path resumed = Cli.onlyChild(dir.resolve("resumed/jswift-tiny-chat")).resolve("checkpoint-12");
    assertTrue(java.util.Arrays.equals(Files.readAllBytes(rm.resolve("model.safetensors")),
        Files.readAllBytes(resumed.resolve("model.safetensors"))), "resumed = uninterrupted");
    try (jswift.model.SafetensorsFile a = jswift.model.SafetensorsFile.open(rm.resolve("model.safetensors"))) {
      assertEquals("F32", a.entry("score.weight").dtype(), "the head is kept in fp32");
      assertEquals("BF16", a.entry("model.norm.weight").dtype(), "the model in its own dtype");
    }
  }

  @Test
  void dpoStartsFromAnSftAdapterWithItAsTheReference(@TempDir Path dir) throws Exception {
    Path data = pairs(dir);
    String r = Cli.run("sft", "--model", MODEL.toString(), "--dataset", data.toString(), "--max_steps", "10",
        "--learning_rate", "2e-3", "--save_steps", "10", "--logging_steps", "1", "--output_dir",
        dir.resolve("sft").toString(), "--device", "cpu");
    assertTrue(r.startsWith("0\n"), r);
    Path sft = Cli.onlyChild(dir.resolve("sft/jswift-tiny-chat")).resolve("checkpoint-10");
    double fresh = Double.parseDouble(r.replaceAll("(?s).*step 1/10  loss ([0-9.]+).*", "$1"));
    // sft --adapters: the run continues from the adapter's weights
    r = Cli.run("sft", "--model", MODEL.toString(), "--dataset", data.toString(), "--adapters", sft.toString(),
        "--max_steps", "1", "--output_dir", dir.resolve("more").toString(), "--device", "cpu");
    assertTrue(r.startsWith("0\n") && r.contains("starting from the adapter"), r);
    double continued = Double.parseDouble(r.replaceAll("(?s).*step 1/1  loss ([0-9.]+).*", "$1"));
    assertTrue(continued < fresh - 1, "the adapter's weights are loaded: " + fresh + " -> " + continued);
    // DPO from the SFT adapter, measured against it: the first step is log 2
    r = Cli.run("rlhf", "--rlhf_type", "dpo", "--model", MODEL.toString(), "--dataset", data.toString(), "--adapters",
        sft.toString(), "--ref_adapters", sft.toString(), "--max_steps", "1", "--output_dir", dir.resolve("dpo").toString(),
        "--device", "cpu");
    assertTrue(r.startsWith("0\n") && r.contains("step 1/1  loss 0.6931"), r);
    // without --ref_adapters the reference is the bare base, which the SFT adapter already beats on these pairs
    r = Cli.run("rlhf", "--rlhf_type", "dpo", "--model", MODEL.toString(), "--dataset", data.toString(), "--adapters",
        sft.toString(), "--max_steps", "1", "--output_dir", dir.resolve("dpo2").toString(), "--device", "cpu");
    assertTrue(r.startsWith("0\n") && !r.contains("step 1/1  loss 0.6931"), r);
    r = Cli.run("sft", "--model", MODEL.toString(), "--dataset", data.toString(), "--adapters", sft.toString(),
        "--train_type", "full", "--output_dir", dir.resolve("x").toString());
    assertTrue(r.startsWith("2\n") && r.contains("--adapters starts LoRA training"), r);
    r = Cli.run("rlhf", "--rlhf_type", "cpo", "--model", MODEL.toString(), "--dataset", data.toString(),
        "--ref_adapters", sft.toString(), "--output_dir", dir.resolve("x").toString());
    assertTrue(r.startsWith("2\n") && r.contains("--ref_adapters sets the reference model"), r);
  }

  @Test
  void ktoPushesDesirableAnswersUpAndUndesirableOnesDown(@TempDir Path dir) throws Exception {
    Path pairs = pairs(dir);
    List<String> rows = new ArrayList<>();
    for (String line : Files.readAllLines(pairs)) {  // each pair becomes two labelled rows
      com.fasterxml.jackson.databind.node.ObjectNode good = (com.fasterxml.jackson.databind.node.ObjectNode) JSON.readTree(line);
      String rejected = good.remove("rejected_response").asText();
      com.fasterxml.jackson.databind.node.ObjectNode bad = good.deepCopy();
      ((com.fasterxml.jackson.databind.node.ObjectNode) bad.get("messages").get(1)).put("content", rejected);
      rows.add(good.put("label", true).toString());
      rows.add(bad.put("label", false).toString());
    }
    Path data = Files.write(dir.resolve("kto.jsonl"), rows);
    String r = Cli.run("rlhf", "--rlhf_type", "kto", "--model", MODEL.toString(), "--dataset", data.toString(),
        "--val_dataset", data.toString(), "--max_steps", "12", "--learning_rate", "5e-4", "--logging_steps", "1",
        "--save_steps", "12", "--per_device_train_batch_size", "4", "--output_dir", dir.resolve("out").toString(),
        "--device", "cpu");
    assertTrue(r.startsWith("0\n"), r);
    assertTrue(r.contains("rlhf (kto, beta 0.1)") && r.contains("step 1/12  loss 0.5000"), r);
    Path run = Cli.onlyChild(dir.resolve("out/jswift-tiny-chat"));
    JsonNode last = null, eval = null;
    for (String line : Files.readAllLines(run.resolve("logging.jsonl"))) {
      JsonNode n = JSON.readTree(line);
      if (n.has("kl") && n.has("loss")) last = n;
      if (n.has("eval_loss")) eval = n;
    }
    assertTrue(last.get("loss").asDouble() < 0.4, "the loss fell from 0.5: " + last);
    assertTrue(last.get("rewards/chosen").asDouble() > 0 && last.get("rewards/rejected").asDouble() < 0, last.toString());
    assertTrue(eval != null && eval.get("eval_rewards/chosen").asDouble() > eval.get("eval_rewards/rejected").asDouble(),
        String.valueOf(eval));
    Path unlabelled = Files.writeString(dir.resolve("unlabelled.jsonl"),
        "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": \"hello\"}]}\n");
    r = Cli.run("rlhf", "--rlhf_type", "kto", "--model", MODEL.toString(), "--dataset", unlabelled.toString(),
        "--max_steps", "1", "--output_dir", dir.resolve("o").toString(), "--device", "cpu");
    assertTrue(r.startsWith("2\n") && r.contains("unlabelled.jsonl:1") && r.contains("KTO rows need a \"label\""), r);
  }

  @Test
  void badRunsAreClearErrors(@TempDir Path dir) throws Exception {
    Path data = pairs(dir);
    String m = MODEL.toString();
    String r = Cli.run("rlhf", "--rlhf_type", "ppo", "--model", m, "--dataset", data.toString());
    assertTrue(r.startsWith("2\n") && r.contains("--rlhf_type ppo needs --reward_model"), r);
    r = Cli.run("rlhf", "--rlhf_type", "dpo", "--loss_type", "sppo", "--model", m, "--dataset", data.toString());
    assertTrue(r.startsWith("2\n") && r.contains("--loss_type sppo is not supported for DPO"), r);
    r = Cli.run("rlhf", "--rlhf_type", "cpo", "--loss_type", "ipo", "--model", m, "--dataset", data.toString());
    assertTrue(r.startsWith("2\n") && r.contains("applies to DPO"), r);
    r = Cli.run("rlhf", "--rlhf_type", "dpo", "--loss_type", "hinge", "--label_smoothing", "0.1", "--model", m,
        "--dataset", data.toString());
    assertTrue(r.startsWith("2\n") && r.contains("--label_smoothing applies to DPO's sigmoid, robust"), r);
    r = Cli.run("rlhf", "--rlhf_type", "dpo", "--model", m, "--dataset", data.toString(), "--ref_model",
        jswift.testing.Fixtures.llamaGqa().toString(), "--max_steps", "1", "--output_dir", dir.resolve("o").toString(),
        "--device", "cpu");
    assertTrue(r.startsWith("2\n") && r.contains("--ref_model") && r.contains("the same tokenizer"), r);
    Path plain = Files.writeString(dir.resolve("plain.jsonl"),
        "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": \"hello\"}]}\n");
    r = Cli.run("rlhf", "--rlhf_type", "dpo", "--model", m, "--dataset", plain.toString(), "--max_steps", "1",
        "--output_dir", dir.resolve("o").toString(), "--device", "cpu");
    assertTrue(r.startsWith("2\n") && r.contains("plain.jsonl") && r.contains("rejected_response"), r);
  }

  /** The saved reward model scores each pair's chosen answer above its rejected one, alone or scored together. */
  private static void assertRanksThePairs(Path rm, Path data) throws Exception {
    try (RewardModelScorer scorer = RewardModelScorer.load(rm, jswift.tensor.Device.CPU, jswift.tensor.DType.F32)) {
      for (String line : Files.readAllLines(data)) {
        JsonNode row = JSON.readTree(line);
        List<jswift.template.Message> prompt = List.of(new jswift.template.Message(jswift.template.Role.USER,
            row.get("messages").get(0).get("content").asText()));
        RewardFunction.Completion good = new RewardFunction.Completion(
            row.get("messages").get(1).get("content").asText(), 1, false, prompt, java.util.Map.of());
        RewardFunction.Completion bad = new RewardFunction.Completion(row.get("rejected_response").asText(), 1, false,
            prompt, java.util.Map.of());
        double chosen = scorer.reward(good), rejected = scorer.reward(bad);
        assertTrue(chosen > rejected, line + ": " + chosen + " vs " + rejected);
        double[] both = scorer.rewards(List.of(good, bad));  // one packed forward
        assertEquals(chosen, both[0], 1e-4);
        assertEquals(rejected, both[1], 1e-4);
      }
    }
  }
}
