package jswift.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import jswift.model.Checkpoint;
import jswift.testing.Cli;
import jswift.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code jswift export --merge_lora true} end to end: ms-swift's argument names and defaults (output
 * {@code <adapter>-merged}, 5GB shards, {@code --exist_ok}), how the base model is found, and the errors a user
 * gets as one line with exit code 2.
 */
class ExportCommandTest {
  /** A model folder with tokenizer files, and a checkpoint folder holding the fixture's LoRA adapter. */
  private static Path[] layout(Path tmp) throws IOException {
    Path model = InferCommandTest.tinyChatModel(tmp.resolve("model"));
    Path ckpt = Files.createDirectories(tmp.resolve("output/checkpoint-5"));
    for (String f : List.of("adapter_config.json", "adapter_model.safetensors"))
      Files.copy(Fixtures.llamaGqa().resolve("adapters/lora/" + f), ckpt.resolve(f));
    return new Path[] {model, ckpt};
  }

  private static List<String> listing(Path dir) throws IOException {
    try (Stream<Path> s = Files.list(dir)) {
      return s.map(p -> p.getFileName().toString()).sorted().collect(Collectors.toList());
    }
  }

  @Test
  void mergesIntoTheDefaultFolderAndRefusesToOverwriteIt(@TempDir Path tmp) throws IOException {
    Path[] p = layout(tmp);
    String r = Cli.run("export", "--adapters", p[1].toString(), "--merge_lora", "true", "--model", p[0].toString(),
        "--device", "cpu");
    assertTrue(r.startsWith("0\n"), r);
    Path merged = tmp.resolve("output/checkpoint-5-merged");
    assertTrue(r.contains("14 weights changed") && r.contains(merged.toString()), r);
    assertEquals(List.of("config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
        "tokenizer_config.json"), listing(merged));
    for (String f : List.of("config.json", "tokenizer.json", "tokenizer_config.json", "generation_config.json"))
      assertArrayEquals(Files.readAllBytes(p[0].resolve(f)), Files.readAllBytes(merged.resolve(f)), f);
    byte[] first = Files.readAllBytes(merged.resolve("model.safetensors"));

    r = Cli.run("export", "--adapters", p[1].toString(), "--merge_lora", "true", "--model", p[0].toString(),
        "--device", "cpu");
    assertTrue(r.startsWith("2\n") && r.contains("error: ") && r.contains("--exist_ok"), r);
    r = Cli.run("export", "--adapters", p[1].toString(), "--merge_lora", "--model", p[0].toString(), "--device", "cpu",
        "--exist_ok");
    assertTrue(r.startsWith("0\n"), r);
    assertArrayEquals(first, Files.readAllBytes(merged.resolve("model.safetensors")));  // deterministic
    // ms-swift's merge-lora is export --merge_lora true
    r = Cli.run("merge-lora", "--adapters", p[1].toString(), "--model", p[0].toString(), "--device", "cpu",
        "--output_dir", tmp.resolve("by-alias").toString());
    assertTrue(r.startsWith("0\n"), r);
    assertArrayEquals(first, Files.readAllBytes(tmp.resolve("by-alias/model.safetensors")));
  }

  @Test
  void maxShardSizeAndOutputDir(@TempDir Path tmp) throws IOException {
    Path[] p = layout(tmp);
    Path out = tmp.resolve("exported");
    String r = Cli.run("export", "--adapters", p[1].toString(), "--merge_lora", "true", "--model", p[0].toString(),
        "--device", "cpu", "--output_dir", out.toString(), "--max_shard_size", "200KB");
    assertTrue(r.startsWith("0\n"), r);
    assertTrue(listing(out).containsAll(List.of("model-00001-of-00004.safetensors", "model.safetensors.index.json")),
        listing(out).toString());
    try (Checkpoint c = Checkpoint.open(out)) {
      assertEquals(21, c.names().size());
    }
  }

  @Test
  void findsTheBaseInArgsJsonOrTheAdapterConfig(@TempDir Path tmp) throws IOException {
    Path[] p = layout(tmp);
    // ms-swift writes the base model into the run's args.json.
    Files.writeString(p[1].resolve("args.json"), "{\"model\": \"" + p[0].toString().replace("\\", "\\\\") + "\"}");
    assertEquals(p[0], ExportCommand.baseOf(p[1]));
    Files.delete(p[1].resolve("args.json"));
    // base_model_name_or_path relative to the adapter folder ("../../model" from output/checkpoint-5).
    String cfg = Files.readString(p[1].resolve("adapter_config.json")).replace("\"base_model_name_or_path\": \"..\"",
        "\"base_model_name_or_path\": \"../../model\"");
    Files.writeString(p[1].resolve("adapter_config.json"), cfg);
    assertEquals(p[0].normalize(), ExportCommand.baseOf(p[1]));
    String r = Cli.run("export", "--adapters", p[1].toString(), "--merge_lora", "true", "--device", "cpu");
    assertTrue(r.startsWith("0\n") && r.contains("into " + p[0].normalize()), r);
  }

  @Test
  void clearErrors(@TempDir Path tmp) throws IOException {
    Path[] p = layout(tmp);
    String r = Cli.run("export", "--adapters", p[1].toString(), "--device", "cpu");
    assertTrue(r.startsWith("2\n") && r.contains("--merge_lora true only"), r);
    r = Cli.run("export", "--adapters", p[1].toString(), "--merge_lora", "true", "--device", "cpu");
    assertTrue(r.startsWith("2\n") && r.contains("cannot find the base model") && r.contains("--model"), r);
    r = Cli.run("export", "--adapters", p[1].toString(), "--merge_lora", "true", "--model", p[0].toString(),
        "--safe_serialization", "false");
    assertTrue(r.startsWith("2\n") && r.contains("safe_serialization"), r);
    r = Cli.run("export", "--adapters", p[1].toString(), "--merge_lora", "true", "--model", p[0].toString(),
        "--max_shard_size", "5GiB", "--device", "cpu");
    assertTrue(r.startsWith("2\n") && r.contains("5GiB"), r);
    r = Cli.run("export", "--adapters", p[1].toString(), p[1].toString(), "--merge_lora", "true", "--model",
        p[0].toString());
    assertTrue(r.startsWith("2\n") && r.contains("merges one adapter"), r);
    r = Cli.run("export", "--adapters", tmp.resolve("missing").toString(), "--merge_lora", "true", "--model",
        p[0].toString(), "--device", "cpu");
    assertTrue(r.startsWith("2\n") && r.contains("adapter_config.json not found"), r);
    assertFalse(Files.exists(tmp.resolve("output/checkpoint-5-merged")));
    assertFalse(Files.exists(tmp.resolve("missing-merged")));
  }

  /** --to_ollama writes a Modelfile from the template (the bundled model's chatml-style qwen template). */
  @Test
  void toOllamaWritesAModelfileFromTheTemplate(@TempDir Path tmp) throws IOException {
    Path model = Path.of(System.getProperty("user.dir")).getParent().resolve(QuickStart.MODEL);
    Path out = tmp.resolve("ollama");
    String r = Cli.run("export", "--model", model.toString(), "--to_ollama", "--output_dir", out.toString(),
        "--temperature", "0.7", "--top_p", "0.9");
    assertTrue(r.startsWith("0\n") && r.contains("ollama create"), r);
    String modelfile = Files.readString(out.resolve("Modelfile"));
    assertEquals("FROM " + model.toAbsolutePath().normalize() + "\n"
        + "TEMPLATE \"\"\"{{ if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ else }}{{ end }}"
        + "{{ if .Prompt }}<|im_start|>user\n{{ .Prompt }}<|im_end|>\n<|im_start|>assistant\n{{ end }}"
        + "{{ .Response }}<|im_end|>\n\"\"\"\n"
        + "SYSTEM \"\"\"You are a helpful assistant.\"\"\"\n"
        + "PARAMETER stop \"<|im_end|>\"\n"
        + "PARAMETER stop \"<|endoftext|>\"\n"
        + "PARAMETER temperature 0.7\n"
        + "PARAMETER top_p 0.9\n", modelfile);
    String withAdapter = Cli.run("export", "--model", model.toString(), "--adapters", "x", "--to_ollama");
    assertTrue(withAdapter.startsWith("2\n") && withAdapter.contains("merge the adapter first"), withAdapter);
    String jinja = Cli.run("export", "--model", model.toString(), "--to_ollama", "--template", "jinja", "--output_dir",
        tmp.resolve("j").toString());
    assertTrue(jinja.startsWith("2\n") && jinja.contains("needs an ms-swift template"), jinja);
  }
}
