package jswift.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import jswift.testing.TinyModels;
import jswift.train.TrainArguments;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** {@code --config file.yaml|json}: ms-swift-style keys, command-line flags win, clear errors naming file and key. */
class ConfigFileTest {

  /** Parses a command line as {@code jswift} would and resolves its --config, without training. */
  private static TrainArguments resolve(String... args) throws IOException {
    CommandLine.ParseResult pr = Main.commandLine().parseArgs(args);
    CommandLine.ParseResult sub = pr.subcommand();
    Object command = sub.commandSpec().userObject();
    TrainOptions options = command instanceof SftCommand s ? s.options : ((PtCommand) command).options;
    return ConfigFile.apply(sub.commandSpec(), options).arguments();
  }

  @Test
  void yamlKeysAreTheFlagsAndTheCommandLineWins(@TempDir Path tmp) throws IOException {
    Path cfg = tmp.resolve("train.yaml");
    Files.writeString(cfg, """
        # an ms-swift style config
        model: ./models/tiny
        dataset:
          - a.jsonl#500
          - b.jsonl
        tuner_type: lora
        lora_rank: 8
        lora_alpha: 16
        learning_rate: 1e-4
        num_train_epochs: 2
        max_steps: -1
        packing: true
        target_modules: q_proj
        gradient_accumulation_steps: 4
        system:
        """);
    TrainArguments a = resolve("sft", "--config", cfg.toString(), "--lora_rank", "16", "--dataset", "c.jsonl");
    assertEquals(Path.of("./models/tiny"), a.model);
    assertEquals(List.of("c.jsonl"), a.dataset, "the command line's --dataset replaces the file's list");
    assertEquals(16, a.loraRank, "the command line wins");
    assertEquals(16f, a.loraAlpha);
    assertEquals(1e-4, a.learningRate);
    assertEquals(2.0, a.numTrainEpochs);
    assertEquals(-1, a.maxSteps);
    assertTrue(a.packing);
    assertEquals(List.of("q_proj"), a.targetModules, "a scalar for a list flag is a one-element list");
    assertEquals(4, a.gradientAccumulationSteps);
    assertEquals("lora", a.trainType, "an alias (tuner_type) is a key too");
    assertNull(a.system, "an empty value keeps the default");

    TrainArguments fromFile = resolve("sft", "--config", cfg.toString());
    assertEquals(List.of("a.jsonl#500", "b.jsonl"), fromFile.dataset);
    assertEquals(8, fromFile.loraRank);
  }

  @Test
  void jsonWorksForPtToo(@TempDir Path tmp) throws IOException {
    Path cfg = tmp.resolve("pt.json");
    Files.writeString(cfg, "{\"model\": \"m\", \"dataset\": [\"corpus.txt\"], \"train_type\": \"full\", "
        + "\"gradient_checkpointing\": false, \"save_steps\": 7}");
    TrainArguments a = resolve("pt", "--config", cfg.toString(), "--save_steps", "9");
    assertEquals("full", a.trainType);
    assertFalse(a.gradientCheckpointing);
    assertEquals(9, a.saveSteps);
    assertEquals(List.of("corpus.txt"), a.dataset);
  }

  @Test
  void badFilesGetAnErrorNamingTheFileAndKey(@TempDir Path tmp) throws IOException {
    Path cfg = tmp.resolve("bad.yaml");
    String[][] cases = {
        {"model: m\nlora_rnak: 8\n", "unknown key 'lora_rnak'"},
        {"lora_rank: eight\n", "lora_rank"},
        {"lora_rank: 8.5\n", "lora_rank"},
        {"model: [a, b]\n", "'model' takes one value, not a list"},
        {"dataset: {path: a.jsonl}\n", "'dataset' must be"},
        {"config: other.yaml\n", "unknown key 'config'"},
        {"help: true\n", "unknown key 'help'"},
        {"- model\n- m\n", "expected a mapping"},
        {"model: m\nmodel: n\n", "Duplicate field 'model'"},
        {"model: [unclosed\n", "not valid YAML"},
    };
    for (String[] c : cases) {
      Files.writeString(cfg, c[0]);
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> resolve("sft", "--config", cfg.toString()), c[0]);
      assertTrue(e.getMessage().contains(cfg.toString()) && e.getMessage().contains(c[1]), c[0] + " -> " + e.getMessage());
    }
    IllegalArgumentException ext = assertThrows(IllegalArgumentException.class,
        () -> resolve("sft", "--config", tmp.resolve("x.toml").toString()));
    assertTrue(ext.getMessage().contains(".yaml"), ext.getMessage());
    IllegalArgumentException missing = assertThrows(IllegalArgumentException.class,
        () -> resolve("sft", "--config", tmp.resolve("none.yaml").toString()));
    assertTrue(missing.getMessage().contains("no such file"), missing.getMessage());
  }

  @Test
  void ptRunsFromAConfigFileEndToEnd(@TempDir Path tmp) throws IOException {
    Path model = TinyModels.qwen3(tmp.resolve("tiny-qwen3"), 3);
    Path text = tmp.resolve("corpus.txt");
    Files.writeString(text, "The quick brown fox jumps over the lazy dog.\nJava runs on the JVM.\n");
    Path cfg = tmp.resolve("pt.yaml");
    Files.writeString(cfg, "model: " + model + "\ndataset: [" + text + "]\ntrain_type: full\nmax_steps: 2\n"
        + "save_steps: 100\nlearning_rate: 1e-3\ndevice: cpu\noutput_dir: " + tmp.resolve("out") + "\n");
    StringWriter out = new StringWriter(), err = new StringWriter();
    CommandLine cli = Main.commandLine();
    cli.setOut(new PrintWriter(out, true));
    cli.setErr(new PrintWriter(err, true));
    int code = cli.execute("pt", "--config", cfg.toString(), "--max_steps", "1");
    assertEquals(0, code, out + "\n" + err);
    assertTrue(out.toString().contains("done: 1 steps"), "--max_steps 1 on the command line wins: " + out);
    assertTrue(out.toString().contains("jswift pt"), out.toString());
    // Without --model anywhere, the error names the flag (it may come from either place).
    Files.writeString(cfg, "dataset: [" + text + "]\n");
    cli = Main.commandLine();
    cli.setErr(new PrintWriter(err, true));
    assertEquals(2, cli.execute("pt", "--config", cfg.toString()));
    assertTrue(err.toString().contains("--model is required"), err.toString());
  }
}
