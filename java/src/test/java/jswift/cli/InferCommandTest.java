package jswift.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import jswift.infer.Generator;
import jswift.infer.GenerationConfig;
import jswift.model.CausalLM;
import jswift.tensor.Device;
import jswift.testing.Fixtures;
import jswift.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** `jswift infer` end to end on a tiny chat model folder (fixture weights + a word-level tokenizer). */
class InferCommandTest {
  static Path tinyChatModel(Path dir) throws IOException {
    return Fixtures.tinyChatModel(dir);
  }

  private static String run(String stdin, String... args) {
    InputStream oldIn = System.in;
    StringWriter out = new StringWriter(), err = new StringWriter();
    try {
      System.setIn(new ByteArrayInputStream(stdin.getBytes(StandardCharsets.UTF_8)));
      CommandLine cli = Main.commandLine();
      cli.setOut(new PrintWriter(out, true));
      cli.setErr(new PrintWriter(err, true));
      int code = cli.execute(args);
      return code + "\n" + out + err;
    } finally {
      System.setIn(oldIn);
    }
  }

  @Test
  void chatsStreamsClearsAndExits(@TempDir Path dir) throws IOException {
    Path model = tinyChatModel(dir);
    String result = run("hello world\nclear\nhow are you\nexit\n", "infer", "--model", model.toString(),
        "--max_new_tokens", "6", "--device", "cpu", "--template", "jinja");
    assertTrue(result.startsWith("0\n"), result);
    assertTrue(result.contains("(conversation cleared)"), result);
    // Greedy answers: what the generator gives for the rendered prompt, streamed as text.
    try (CausalLM lm = CausalLM.load(model, Device.CPU); Tokenizer tok = Tokenizer.load(model)) {
      int[] prompt = tok.encode("user : hello world </s> assistant : ");
      int[] answer = Generator.generate(lm, prompt, GenerationConfig.greedy(6, tok.eosTokenIds()));
      String text = tok.decode(answer, true);
      assertTrue(!text.isBlank() && result.contains(text), "expected the streamed answer '" + text + "' in:\n" + result);
    }
    assertEquals(3, result.split("<<< ", -1).length - 1 - 1, "three prompts answered before exit: " + result);
  }

  @Test
  void adaptersAndBadArguments(@TempDir Path dir) throws IOException {
    Path model = tinyChatModel(dir.resolve("m"));
    String ok = run("hello\nexit\n", "infer", "--model", model.toString(), "--adapters",
        "mine=" + Fixtures.llamaGqa().resolve("adapters/lora"), "--max_new_tokens", "3", "--device", "cpu",
        "--temperature", "0.7", "--top_p", "0.9", "--template", "jinja");
    assertTrue(ok.startsWith("0\n") && ok.contains("adapter mine"), ok);
    String missing = run("", "infer", "--model", dir.resolve("nope").toString(), "--device", "cpu");
    assertTrue(missing.startsWith("2\n") && missing.contains("does not exist"), missing);
    String badTemplate = run("hi\n", "infer", "--model", model.toString(), "--device", "cpu", "--template", "qwen2.5");
    assertTrue(badTemplate.startsWith("2\n") && badTemplate.contains("qwen2_5"), badTemplate);
    String unknown = run("", "infer", "--model", model.toString(), "--no_such_flag", "1");
    assertTrue(unknown.startsWith("2\n") && unknown.contains("Unknown option"), unknown);
  }

  /** The fixture's LoRA adapter as a training checkpoint of {@code model}: its files and an args.json naming it. */
  private static Path checkpoint(Path ckpt, Path model) throws IOException {
    Files.createDirectories(ckpt);
    for (String f : List.of("adapter_config.json", "adapter_model.safetensors"))
      Files.copy(Fixtures.llamaGqa().resolve("adapters/lora").resolve(f), ckpt.resolve(f));
    Files.writeString(ckpt.resolve("args.json"), "{\"model\": \"" + model.toString().replace("\\", "\\\\") + "\"}");
    return ckpt;
  }

  @Test
  void findsTheBaseModelOfACheckpointAsMsSwiftDoes(@TempDir Path dir) throws IOException {
    // ms-swift: `swift infer --adapters output/.../checkpoint-N` reads the model from the checkpoint's args.json.
    Path model = tinyChatModel(dir.resolve("m"));
    Path ckpt = checkpoint(dir.resolve("checkpoint-10"), model);
    String ok = run("hello\nexit\n", "infer", "--adapters", ckpt.toString(), "--max_new_tokens", "3", "--device",
        "cpu", "--template", "jinja");
    assertTrue(ok.startsWith("0\n") && ok.contains(model.getFileName().toString()), ok);
    String none = run("", "infer", "--device", "cpu");
    assertTrue(none.startsWith("2\n") && none.contains("--model is required"), none);
  }

  /**
   * ms-swift's infer flags: --merge_lora true merges the checkpoint into checkpoint-N-merged (made once, then reused)
   * and answers as the adapter does; --quant_method bnb --quant_bits 4 loads the base in NF4, which answers as the
   * model quantized at load does; other quantization requests are refused.
   */
  @Test
  void mergeLoraAndQuantizationAtLoad(@TempDir Path dir) throws IOException {
    Path model = tinyChatModel(dir.resolve("m"));
    Path ckpt = checkpoint(dir.resolve("checkpoint-10"), model);
    String[] common = {"--max_new_tokens", "6", "--device", "cpu", "--template", "jinja"};
    String viaAdapter = answer(run("hello world\nexit\n", concat(new String[] {"infer", "--adapters", ckpt.toString()},
        common)));
    String merged = run("hello world\nexit\n", concat(new String[] {"infer", "--adapters", ckpt.toString(),
        "--merge_lora", "true"}, common));
    assertTrue(merged.startsWith("0\n") && merged.contains("checkpoint-10-merged"), merged);
    assertTrue(Files.isRegularFile(dir.resolve("checkpoint-10-merged/config.json")));
    assertTrue(!viaAdapter.isBlank(), viaAdapter);
    assertEquals(viaAdapter, answer(merged), "the merged model answers as base + adapter");
    long made = Files.getLastModifiedTime(dir.resolve("checkpoint-10-merged/config.json")).toMillis();
    run("hi\nexit\n", concat(new String[] {"infer", "--adapters", ckpt.toString(), "--merge_lora", "true"}, common));
    assertEquals(made, Files.getLastModifiedTime(dir.resolve("checkpoint-10-merged/config.json")).toMillis(),
        "an existing -merged folder is reused");

    String nf4 = run("hello world\nexit\n", concat(new String[] {"infer", "--model", model.toString(),
        "--quant_method", "bnb", "--quant_bits", "4"}, common));
    try (CausalLM lm = CausalLM.load(model, Device.CPU, jswift.tensor.DType.F32,
        CausalLM.Quantization.NF4_DOUBLE_QUANT); Tokenizer tok = Tokenizer.load(model)) {
      int[] prompt = tok.encode("user : hello world </s> assistant : ");
      String want = tok.decode(Generator.generate(lm, prompt, GenerationConfig.greedy(6, tok.eosTokenIds())), true);
      assertEquals(want, answer(nf4));
    }
    String bad = run("", concat(new String[] {"infer", "--model", model.toString(), "--quant_method", "gptq",
        "--quant_bits", "4"}, common));
    assertTrue(bad.startsWith("2\n") && bad.contains("--quant_method bnb --quant_bits 4"), bad);
  }

  /**
   * --load_data_args true answers the validation rows of the checkpoint's own run (its args.json's datasets,
   * split ratio and seed), as ms-swift does; a run without validation rows is refused with what to do.
   */
  @Test
  void loadDataArgsAnswersTheRunsValidationRows(@TempDir Path dir) throws IOException {
    Path model = jswift.testing.TinyModels.qwen3(dir.resolve("q"), 3);
    String[][] qa = new String[8][];
    for (int i = 0; i < qa.length; i++) qa[i] = new String[] {"hello " + i, "world " + i};
    Path data = jswift.testing.TinyModels.chatDataset(dir.resolve("data.jsonl"), qa);
    jswift.train.TrainArguments a = jswift.testing.TinyModels.trainArguments(model, data, dir.resolve("out"), 1, 1);
    a.splitDatasetRatio = 0.25;
    a.device = "cpu";
    jswift.train.Trainer.Result r = jswift.testing.TinyModels.train(a);
    Path result = dir.resolve("answers.jsonl");
    String ok = run("", "infer", "--adapters", r.lastCheckpoint().toString(), "--load_data_args", "true",
        "--max_new_tokens", "2", "--device", "cpu", "--result_path", result.toString());
    assertTrue(ok.startsWith("0\n") && ok.contains("2 rows of the validation rows"), ok);
    List<String> lines = Files.readAllLines(result);
    assertEquals(2, lines.size(), "a quarter of 8 rows");
    for (String line : lines) assertTrue(line.contains("hello "), line);

    a.splitDatasetRatio = 0;
    a.outputDir = dir.resolve("out2");
    jswift.train.Trainer.Result none = jswift.testing.TinyModels.train(a);
    String refused = run("", "infer", "--adapters", none.lastCheckpoint().toString(), "--load_data_args", "true",
        "--device", "cpu");
    assertTrue(refused.startsWith("2\n") && refused.contains("had no validation rows"), refused);
  }

  private static String[] concat(String[] a, String[] b) {
    String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }

  /** The first answer streamed after the first prompt marker. */
  private static String answer(String output) {
    int start = output.indexOf("<<< ") + 4;
    int end = output.indexOf("\n", start);
    return output.substring(start, end < 0 ? output.length() : end).trim();
  }

  @Test
  void answersADatasetAndAppendsResults(@TempDir Path dir) throws IOException {
    Path model = jswift.testing.TinyModels.qwen3(dir.resolve("qwen3"), 3);
    Path data = dir.resolve("val.jsonl");
    Files.writeString(data, "{\"messages\": [{\"role\": \"user\", \"content\": \"Hello there\"}, "
        + "{\"role\": \"assistant\", \"content\": \"Hi!\"}]}\n"
        + "{\"query\": \"What is 2+2?\", \"response\": \"4\"}\n"
        + "{\"messages\": [{\"role\": \"user\", \"content\": \"No reference here\"}]}\n");
    Path result = dir.resolve("out/result.jsonl");
    String r = run("", "infer", "--model", model.toString(), "--val_dataset", data.toString(), "--result_path",
        result.toString(), "--max_new_tokens", "4", "--max_batch_size", "2", "--device", "cpu");
    assertTrue(r.startsWith("0\n") && r.contains("wrote 3 answers"), r);
    List<String> lines = Files.readAllLines(result);
    assertEquals(3, lines.size());
    var json = new com.fasterxml.jackson.databind.ObjectMapper();
    var first = json.readTree(lines.get(0));
    assertEquals("Hi!", first.get("labels").asText());
    assertEquals("Hello there", first.get("messages").get(0).get("content").asText());
    assertEquals(first.get("response").asText(), first.get("messages").get(1).get("content").asText());
    assertEquals("4", json.readTree(lines.get(1)).get("labels").asText());
    assertTrue(json.readTree(lines.get(2)).get("labels").isNull());
    // batched (2 rows) and one-by-one give the same greedy answers
    Path single = dir.resolve("out/single.jsonl");
    run("", "infer", "--model", model.toString(), "--val_dataset", data.toString(), "--result_path", single.toString(),
        "--max_new_tokens", "4", "--device", "cpu");
    List<String> one = Files.readAllLines(single);
    for (int i = 0; i < 3; i++)
      assertEquals(json.readTree(lines.get(i)).get("response"), json.readTree(one.get(i)).get("response"), "row " + i);
    // ms-swift appends to an existing result file
    run("", "infer", "--model", model.toString(), "--val_dataset", data.toString(), "--result_path", result.toString(),
        "--max_new_tokens", "2", "--device", "cpu");
    assertEquals(6, Files.readAllLines(result).size());
  }

  @Test
  void chatsWithARealQwen3Tokenizer(@TempDir Path dir) throws IOException {
    Path model = jswift.testing.TinyModels.qwen3(dir.resolve("qwen3"), 3);
    String r = run("Hello, who are you?\nexit\n", "infer", "--model", model.toString(), "--max_new_tokens", "5",
        "--device", "cpu");
    assertTrue(r.startsWith("0\n") && r.contains("template qwen3"), r);
    String jinja = run("Hello\nexit\n", "infer", "--model", model.toString(), "--max_new_tokens", "5", "--device",
        "cpu", "--template", "jinja");
    assertTrue(jinja.startsWith("0\n"), jinja);
  }
}
