package jswift.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
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
 * `jswift rlhf --rlhf_type grpo` end to end on the bundled chat model: with the soft_overlong reward (answers longer
 * than 8 tokens lose reward) the policy learns to answer shorter; a run resumed from a checkpoint samples and
 * trains exactly what the uninterrupted run did.
 */
class GrpoCommandTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  static Path prompts(Path dir) throws Exception {
    String[] questions = {"Who are you?", "What is your name?", "Tell me about yourself.", "Say hello.",
        "What can you do?", "Introduce yourself.", "Hi!", "Are you a robot?"};
    List<String> lines = new ArrayList<>();
    for (String q : questions)
      lines.add(JSON.writeValueAsString(Map.of("messages", List.of(Map.of("role", "user", "content", q)),
          "solution", "jswift")));
    return Files.write(dir.resolve("prompts.jsonl"), lines);
  }

  /** The run's command line: the defaults below, with each option in {@code more} replacing the default's values. */
  private static String[] run(Path data, Path out, String... more) {
    Map<String, List<String>> options = new java.util.LinkedHashMap<>();
    String[] defaults = {"--rlhf_type", "grpo", "--model", RlhfCommandTest.MODEL.toString(), "--dataset",
        data.toString(), "--reward_funcs", "soft_overlong", "--max_completion_length", "32", "--soft_cache_length",
        "24", "--num_generations", "4", "--per_device_train_batch_size", "4", "--gradient_accumulation_steps", "2",
        "--max_steps", "16", "--learning_rate", "1e-3", "--logging_steps", "1", "--save_steps", "8", "--output_dir",
        out.toString(), "--device", "cpu"};
    for (String[] a : new String[][] {defaults, more}) {
      String option = null;
      for (String x : a) {
        if (x.startsWith("--")) options.put(option = x, new ArrayList<>());
        else options.get(option).add(x);
      }
    }
    List<String> line = new ArrayList<>(List.of("rlhf"));
    options.forEach((k, v) -> {
      line.add(k);
      line.addAll(v);
    });
    return line.toArray(new String[0]);
  }

  private static Path onlyRun(Path out) throws Exception {
    return Cli.onlyChild(out.resolve("jswift-tiny-chat"));
  }

  @Test
  void completionsGetShorterAndAResumedRunMatches(@TempDir Path dir) throws Exception {
    Path data = prompts(dir);
    String r = Cli.run(run(data, dir.resolve("a"), "--log_completions", "true"));
    assertTrue(r.startsWith("0\n"), r);
    assertTrue(r.contains("rlhf (grpo, beta 0.04, 4 completions per prompt)"), r);
    Path a = onlyRun(dir.resolve("a"));
    List<JsonNode> steps = new ArrayList<>();
    for (String line : Files.readAllLines(a.resolve("logging.jsonl"))) {
      JsonNode n = JSON.readTree(line);
      if (n.has("reward")) steps.add(n);
    }
    assertEquals(16, steps.size());
    for (String key : List.of("reward_std", "rewards/soft_overlong/mean", "frac_reward_zero_std",
        "completions/mean_length", "completions/clipped_ratio", "kl", "grad_norm"))
      assertTrue(steps.get(3).has(key), key + " in " + steps.get(3));
    assertEquals(0.0, steps.get(0).get("kl").asDouble(), 1e-6, "the adapter starts at zero: policy = reference");
    double early = 0, late = 0, earlyLength = 0, lateLength = 0;
    for (int i = 0; i < 4; i++) {
      early += steps.get(i).get("reward").asDouble() / 4;
      late += steps.get(12 + i).get("reward").asDouble() / 4;
      earlyLength += steps.get(i).get("completions/mean_length").asDouble() / 4;
      lateLength += steps.get(12 + i).get("completions/mean_length").asDouble() / 4;
    }
    assertTrue(late > early + 0.1, "the reward rose: " + early + " -> " + late);
    assertTrue(lateLength < earlyLength - 3, "the answers got shorter: " + earlyLength + " -> " + lateLength);
    assertTrue(steps.get(15).get("kl").asDouble() > 0, "the policy moved away from the reference");
    List<String> completions = Files.readAllLines(a.resolve("completions.jsonl"));
    assertEquals(16 * 8, completions.size());
    JsonNode c = JSON.readTree(completions.get(0));
    assertTrue(c.has("prompt") && c.has("completion") && c.get("rewards").has("soft_overlong") && c.has("advantage"), c.toString());

    r = Cli.run(run(data, dir.resolve("b"), "--resume_from_checkpoint", a.resolve("checkpoint-8").toString()));
    assertTrue(r.startsWith("0\n") && r.contains("resuming from"), r);
    Path b = onlyRun(dir.resolve("b"));
    assertArrayEquals(Files.readAllBytes(a.resolve("checkpoint-16/adapter_model.safetensors")),
        Files.readAllBytes(b.resolve("checkpoint-16/adapter_model.safetensors")), "resumed = uninterrupted");
  }

  @Test
  void eachGenerationTrainsNumIterationsSteps(@TempDir Path dir) throws Exception {
    Path data = prompts(dir);
    String r = Cli.run(run(data, dir.resolve("a"), "--num_iterations", "2", "--max_steps", "6", "--save_steps", "3",
        "--log_completions", "true", "--epsilon_high", "0.28"));
    assertTrue(r.startsWith("0\n"), r);
    Path a = onlyRun(dir.resolve("a"));
    assertEquals(3 * 8, Files.readAllLines(a.resolve("completions.jsonl")).size(), "a generation every 2 steps");
    List<JsonNode> steps = new ArrayList<>();
    for (String line : Files.readAllLines(a.resolve("logging.jsonl"))) {
      JsonNode n = JSON.readTree(line);
      if (n.has("reward")) steps.add(n);
    }
    assertEquals(steps.get(0).get("reward").asDouble(), steps.get(1).get("reward").asDouble(), 0,
        "steps 1 and 2 train on one generation");
    assertEquals(0.0, steps.get(0).get("clip_ratio/region_mean").asDouble(), 0, "ratio 1 at a generation's first step");
    r = Cli.run(run(data, dir.resolve("b"), "--num_iterations", "2", "--max_steps", "6", "--save_steps", "3",
        "--resume_from_checkpoint", a.resolve("checkpoint-3").toString()));
    assertTrue(r.startsWith("0\n") && r.contains("resumed inside a generation's 2 iterations"), r);
  }

  @Test
  void evaluationReportsTheMeanRewardOfTheValidationPrompts(@TempDir Path dir) throws Exception {
    Path data = prompts(dir);
    String r = Cli.run(run(data, dir.resolve("o"), "--max_steps", "2", "--val_dataset", data.toString(),
        "--reward_funcs", "soft_overlong", "repetition", "--reward_weights", "1", "0.5", "--beta", "0",
        "--loss_type", "dr_grpo"));
    assertTrue(r.startsWith("0\n") && r.contains("eval at step 2: reward "), r);
    JsonNode eval = null, step = null;
    for (String line : Files.readAllLines(onlyRun(dir.resolve("o")).resolve("logging.jsonl"))) {
      JsonNode n = JSON.readTree(line);
      if (n.has("eval_reward")) eval = n;
      if (n.has("reward")) step = n;
    }
    assertTrue(eval != null && eval.get("eval_reward").asDouble() <= 0, String.valueOf(eval));
    assertTrue(step.has("rewards/repetition/mean") && !step.has("kl"), "beta 0: no KL to log: " + step);
  }

  /**
   * A plugin jar as a user builds one: a RewardFunction class compiled here (not on the test class path) and its
   * service entry.
   */
  static Path pluginJar(Path dir) throws Exception {
    Path src = Files.createDirectories(dir.resolve("plugin-src/demo"));
    Files.writeString(src.resolve("Brevity.java"), String.join("\n",
        "package demo;",
        "public final class Brevity implements jswift.train.RewardFunction {",
        "  public String name() { return \"brevity\"; }",
        "  public double reward(Completion c) { return c.tokens() <= 8 ? 1.0 : 0.0; }",
        "}"));
    Path classes = Files.createDirectories(dir.resolve("plugin-classes"));
    javax.tools.JavaCompiler javac = javax.tools.ToolProvider.getSystemJavaCompiler();
    int rc = javac.run(null, null, null, "-cp", System.getProperty("java.class.path"), "-d", classes.toString(),
        src.resolve("Brevity.java").toString());
    assertEquals(0, rc, "the plugin compiles");
    Path jar = dir.resolve("my-rewards.jar");
    try (java.util.jar.JarOutputStream out = new java.util.jar.JarOutputStream(Files.newOutputStream(jar))) {
      out.putNextEntry(new java.util.jar.JarEntry("demo/Brevity.class"));
      out.write(Files.readAllBytes(classes.resolve("demo/Brevity.class")));
      out.putNextEntry(new java.util.jar.JarEntry("META-INF/services/jswift.train.RewardFunction"));
      out.write("demo.Brevity\n".getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }
    return jar;
  }

  @Test
  void externalPluginsAddRewardFunctions(@TempDir Path dir) throws Exception {
    Path data = prompts(dir), jar = pluginJar(dir);
    String r = Cli.run(run(data, dir.resolve("o"), "--reward_funcs", "brevity"));
    assertTrue(r.startsWith("2\n") && r.contains("--reward_funcs brevity: no such reward function"),
        "not on the class path: " + r);
    r = Cli.run(run(data, dir.resolve("o"), "--reward_funcs", "brevity", "--external_plugins", jar.toString(),
        "--max_steps", "1"));
    assertTrue(r.startsWith("0\n") && r.contains("brevity/mean"), r);
    r = Cli.run(run(data, dir.resolve("o"), "--reward_funcs", "brevity", "--external_plugins",
        dir.resolve("missing.jar").toString()));
    assertTrue(r.startsWith("2\n") && r.contains("missing.jar: no such file"), r);
  }

  @Test
  void javaApiTakesRewardFunctionObjects(@TempDir Path dir) throws Exception {
    TrainArguments a = new TrainArguments();
    a.rlhfType = "grpo";
    a.model = RlhfCommandTest.MODEL;
    a.dataset = List.of(prompts(dir).toString());
    a.rewardFunctions = List.of(RewardFunction.of("brevity", c -> c.tokens() <= 4 ? 1.0 : 0.0));
    a.numGenerations = 2;
    a.maxCompletionLength = 8;
    a.perDeviceTrainBatchSize = 2;
    a.gradientAccumulationSteps = 1;
    a.maxSteps = 2;
    a.loggingSteps = 1;
    a.outputDir = dir.resolve("out");
    a.device = "cpu";
    java.io.StringWriter console = new java.io.StringWriter();
    try (Trainer t = new Trainer(a, new java.io.PrintWriter(console, true))) {
      t.train();
      assertTrue(Files.readString(t.runDir().resolve("logging.jsonl")).contains("rewards/brevity/mean"), console.toString());
      assertTrue(Files.exists(t.runDir().resolve("args.json")), "args.json leaves the objects out");
    }
  }

  @Test
  void badGrpoRunsAreClearErrors(@TempDir Path dir) throws Exception {
    Path data = prompts(dir);
    String r = Cli.run(run(data, dir.resolve("o"), "--num_generations", "3"));
    assertTrue(r.startsWith("2\n") && r.contains("multiple of --num_generations 3"), r);
    r = Cli.run(run(data, dir.resolve("o"), "--reward_funcs", "kindness"));
    assertTrue(r.startsWith("2\n") && r.contains("--reward_funcs kindness: no such reward function"), r);
    r = Cli.run(run(data, dir.resolve("o"), "--reward_funcs", "format", "accuracy", "--reward_weights", "1"));
    assertTrue(r.startsWith("2\n") && r.contains("--reward_weights has 1 weights for 2"), r);
    r = Cli.run(run(data, dir.resolve("o"), "--num_iterations", "0"));
    assertTrue(r.startsWith("2\n") && r.contains("--num_iterations must be >= 1"), r);
    Path noSolution = Files.writeString(dir.resolve("nosolution.jsonl"),
        "{\"messages\": [{\"role\": \"user\", \"content\": \"2+2?\"}]}\n");
    r = Cli.run(run(noSolution, dir.resolve("o"), "--reward_funcs", "accuracy", "--max_steps", "1"));
    assertTrue(r.startsWith("2\n") && r.contains("nosolution.jsonl") && r.contains("\"solution\" column"), r);
  }
}
