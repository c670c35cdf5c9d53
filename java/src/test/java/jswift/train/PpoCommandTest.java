package jswift.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import jswift.model.Batch;
import jswift.model.SafetensorsFile;
import jswift.model.SafetensorsWriter;
import jswift.model.TensorSource;
import jswift.nn.Parameter;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Tensor;
import jswift.testing.Cli;
import jswift.testing.GradientCheck;
import jswift.testing.Rand;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code jswift rlhf --rlhf_type ppo} on the bundled chat model: the value model's per-token gradient against finite
 * differences; a run against a reward model raises the reward model's score of the policy's responses, logs TRL's
 * metrics and saves the policy's adapter alone; a reward model saved as an adapter is merged for the value model
 * (and the scratch copy removed); the flags PPO cannot take are refused by name.
 */
class PpoCommandTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Path MODEL = RlhfCommandTest.MODEL;

  /** A reward model: the bundled model with a random one-label score head, saved as a *ForSequenceClassification. */
  static Path rewardModel(Path dir, long seed) throws Exception {
    Path out = Files.createDirectories(dir.resolve("reward-model"));
    for (String f : List.of("tokenizer.json", "tokenizer_config.json", "generation_config.json"))
      Files.copy(MODEL.resolve(f), out.resolve(f));
    ObjectNode config = (ObjectNode) JSON.readTree(MODEL.resolve("config.json").toFile());
    jswift.model.ScoreHead.classifierConfig(config, 1, jswift.model.ProblemType.REGRESSION);
    Files.writeString(out.resolve("config.json"), config.toPrettyString());
    int hidden = config.get("hidden_size").asInt();
    try (SafetensorsFile base = SafetensorsFile.open(MODEL.resolve("model.safetensors"));
        Tensor score = Tensor.fromFloats(Rand.normal(hidden, seed, (float) (3 / Math.sqrt(hidden))), DType.F32,
            Device.CPU, 1, hidden)) {
      List<TensorSource> tensors = new ArrayList<>();
      for (String name : base.names()) tensors.add(TensorSource.stored(base, name));
      tensors.add(TensorSource.of(jswift.model.ScoreHead.MODEL_KEY, score));
      SafetensorsWriter.write(out.resolve("model.safetensors"), tensors, SafetensorsWriter.PT_METADATA);
    }
    return out;
  }

  @Test
  void theValueModelsGradientReachesItsAdapterAndHead(@TempDir Path dir) throws Exception {
    Path rm = rewardModel(dir, 3);
    try (ValueModel v = ValueModel.load(rm, dir, Device.CPU, DType.F32, jswift.tuner.LoraConfig.defaults()
        .withTargetModules(List.of("all-linear")).withLoraDropout(0), 5)) {
      GradientCheck.perturb(v.parameters().subList(0, v.parameters().size() - 1));  // lora_B off zero
      Batch b = Batch.promptsAndAnswers(List.of(new int[] {5, 17, 101}, new int[] {33, 250}),
          List.of(new int[] {7, 9, 2}, new int[] {400, 12}));
      int[] rows = {2, 3, 4, 5, 7, 8, 9};  // each response's value positions (last prompt token onwards)
      double[] c = new double[rows.length];
      for (int k = 0; k < c.length; k++) c[k] = k % 2 == 0 ? 1.0 : -0.5;
      v.parameters().forEach(Parameter::zeroGrad);
      v.forwardBackward(b, 1, rows, values -> c.clone());
      GradientCheck.check(v.parameters(), new Random(2), () -> {
        double[] values = v.values(b, rows);
        double sum = 0;
        for (int k = 0; k < c.length; k++) sum += c[k] * values[k];
        return sum;
      }, "value model");
    }
  }

  private static List<Double> metric(Path run, String name) throws Exception {
    List<Double> out = new ArrayList<>();
    for (String line : Files.readAllLines(run.resolve("logging.jsonl"))) {
      JsonNode n = JSON.readTree(line);
      if (n.has(name)) out.add(n.get(name).asDouble());
    }
    return out;
  }

  @Test
  void ppoRaisesTheRewardModelsScoreAndSavesThePolicy(@TempDir Path dir) throws Exception {
    Path rm = rewardModel(dir, 3), prompts = GrpoCommandTest.prompts(dir);
    String r = Cli.run("rlhf", "--rlhf_type", "ppo", "--model", MODEL.toString(), "--reward_model", rm.toString(),
        "--dataset", prompts.toString(), "--response_length", "12", "--per_device_train_batch_size", "4",
        "--gradient_accumulation_steps", "2", "--max_steps", "8", "--learning_rate", "1e-3", "--logging_steps", "1",
        "--save_steps", "8", "--output_dir", dir.resolve("out").toString(), "--device", "cpu");
    assertTrue(r.startsWith("0\n") && r.contains("rlhf (ppo, kl_coef 0.05, 8 prompts an update, 4 epochs")
        && r.contains("value model: " + rm) && r.contains("lora_dropout 0.05 -> 0"), r);
    Path run = Cli.onlyChild(dir.resolve("out/jswift-tiny-chat"));
    List<Double> scores = metric(run, "objective/scores");
    assertEquals(8, scores.size(), scores.toString());
    double early = (scores.get(0) + scores.get(1)) / 2, late = (scores.get(6) + scores.get(7)) / 2;
    assertTrue(late > early + 0.5, "the reward model's score rises: " + scores);
    for (String m : List.of("objective/kl", "objective/rlhf_reward", "loss/policy_avg", "loss/value_avg",
        "policy/clipfrac_avg", "val/clipfrac_avg", "policy/approxkl_avg"))
      assertEquals(8, metric(run, m).size(), m);
    Path ckpt = run.resolve("checkpoint-8");
    JsonNode cfg = JSON.readTree(ckpt.resolve("adapter_config.json").toFile());
    assertEquals("LORA", cfg.get("peft_type").asText());
    assertEquals(0.0, cfg.get("lora_dropout").asDouble(), 0);
    try (SafetensorsFile f = SafetensorsFile.open(ckpt.resolve("adapter_model.safetensors"))) {
      assertFalse(f.names().stream().anyMatch(n -> n.contains("score")), "the policy alone: no value head");
    }
  }

  @Test
  void aRewardModelAdapterIsMergedForTheValueModelAndBadFlagsAreNamed(@TempDir Path dir) throws Exception {
    Path prompts = GrpoCommandTest.prompts(dir);
    String r = Cli.run("rlhf", "--rlhf_type", "rm", "--model", MODEL.toString(), "--dataset",
        RlhfCommandTest.pairs(dir).toString(), "--max_steps", "2", "--save_steps", "2", "--per_device_train_batch_size",
        "2", "--output_dir", dir.resolve("rm").toString(), "--device", "cpu");
    assertTrue(r.startsWith("0\n"), r);
    Path rm = Cli.onlyChild(dir.resolve("rm/jswift-tiny-chat")).resolve("checkpoint-2");
    Path out = dir.resolve("out");
    r = Cli.run("rlhf", "--rlhf_type", "ppo", "--model", MODEL.toString(), "--reward_model", rm.toString(),
        "--dataset", prompts.toString(), "--response_length", "8", "--per_device_train_batch_size", "2",
        "--max_steps", "1", "--num_ppo_epochs", "1", "--output_dir", out.toString(), "--device", "cpu");
    assertTrue(r.startsWith("0\n") && r.contains("value model: " + rm), r);
    try (var s = Files.list(out)) {
      assertTrue(s.noneMatch(p -> p.getFileName().toString().contains("ppo-value-model")), "scratch copy removed");
    }
    for (String[] bad : new String[][] {{"--train_type", "full", "--reward_model", rm.toString()},
        {"--resume_from_checkpoint", rm.toString(), "--reward_model", rm.toString()}, {}}) {
      List<String> args = new ArrayList<>(List.of("rlhf", "--rlhf_type", "ppo", "--model", MODEL.toString(),
          "--dataset", prompts.toString(), "--device", "cpu", "--output_dir", dir.resolve("x").toString()));
      args.addAll(List.of(bad));
      r = Cli.run(args.toArray(new String[0]));
      String want = bad.length == 0 ? "--rlhf_type ppo needs --reward_model" : bad[0].equals("--train_type")
          ? "use --train_type lora" : "holds the policy's adapter only";
      assertTrue(r.startsWith("2\n") && r.contains(want), want + " in " + r);
    }
  }
}
