package jswift.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import jswift.tensor.Device;
import jswift.testing.Cli;
import jswift.testing.TinyModels;
import jswift.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * --new_special_tokens: the tokenizer extended (whole-token matches, ids after the last), the embedding grown only when
 * the tokenizer outgrows it (new rows the mean of the old, the old logits unchanged) and linked otherwise; then an sft
 * run that trains the new rows, its adapter read back by infer and merged by export with the same extension.
 */
class NewSpecialTokensTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Path CHAT = Path.of(System.getProperty("user.dir")).getParent()
      .resolve(jswift.cli.QuickStart.MODEL);
  private static final Batch BATCH = Batch.padded(new int[][] {{5, 17, 101, 33, 250, 7}}, null,
      new int[][] {{5, 17, 101, 33, 250, 7}});

  @Test
  void aFullVocabularyGrowsByTheMeanRowAndKeepsItsLogits(@TempDir Path dir) throws Exception {
    Path out = dir.resolve("ext");
    Path list = Files.writeString(dir.resolve("tokens.txt"), "<tool_x>\n\n<think_x>\n<|im_end|>\n");
    List<String> tokens = NewSpecialTokens.parse(List.of(list.toString(), "<think_x>"));
    assertEquals(List.of("<tool_x>", "<think_x>", "<|im_end|>"), tokens, "a .txt file, one token a line, deduplicated");
    NewSpecialTokens.Result r = NewSpecialTokens.extend(CHAT, tokens, out);
    assertEquals(List.of("<tool_x>", "<think_x>"), r.added(), "<|im_end|> is the tokenizer's already");
    assertTrue(r.resized());
    assertEquals(8194, r.vocabRows());
    assertEquals(8194, JSON.readTree(out.resolve("config.json").toFile()).get("vocab_size").asInt());
    try (Tokenizer tok = Tokenizer.load(out)) {
      int[] ids = tok.encode("hello <think_x> world<tool_x>");
      assertTrue(java.util.Arrays.stream(ids).anyMatch(i -> i == 8193), java.util.Arrays.toString(ids));
      assertTrue(java.util.Arrays.stream(ids).anyMatch(i -> i == 8192), java.util.Arrays.toString(ids));
      assertEquals("<think_x>", tok.decode(new int[] {8193}, false));
    }
    float[] before, after, newRow, mean = new float[256];
    try (CausalLM m = CausalLM.load(CHAT, Device.CPU)) {
      before = m.logits(BATCH);
      float[] e = m.parameters().get("model.embed_tokens.weight").value().toFloatArray();
      for (int row = 0; row < 8192; row++) for (int c = 0; c < 256; c++) mean[c] += e[row * 256 + c] / 8192f;
    }
    try (CausalLM m = CausalLM.load(out, Device.CPU)) {
      after = m.logits(BATCH);
      float[] e = m.parameters().get("model.embed_tokens.weight").value().toFloatArray();
      newRow = java.util.Arrays.copyOfRange(e, 8193 * 256, 8194 * 256);
    }
    // stored as the checkpoint stores its weights (bf16): the mean rounded once
    jswift.testing.Assert.close("the new row: the mean", newRow, mean, 1e-5, 4e-3);
    for (int t = 0; t < 6; t++)  // tied head: each token's logits gain two entries, the old ones unchanged
      assertArrayEquals(java.util.Arrays.copyOfRange(before, t * 8192, (t + 1) * 8192),
          java.util.Arrays.copyOfRange(after, t * 8194, t * 8194 + 8192), "token " + t);
  }

  @Test
  void spareRowsTakeTheTokensWithoutRewritingTheWeights(@TempDir Path dir) throws Exception {
    Path qwen3 = TinyModels.qwen3(dir.resolve("qwen3"), 1);  // 151936 rows for the tokenizer's 151669 ids
    Path out = dir.resolve("ext");
    NewSpecialTokens.Result r = NewSpecialTokens.extend(qwen3, List.of("<my_tool>"), out);
    assertFalse(r.resized());
    assertEquals(151936, r.vocabRows());
    assertTrue(Files.isSymbolicLink(out.resolve("model.safetensors")), "the weights are the base's, linked");
    try (Tokenizer tok = Tokenizer.load(out)) {
      assertEquals(1, tok.encode("<my_tool>").length);
      assertEquals(151669, tok.encode("<my_tool>")[0]);
    }
  }

  @Test
  void sftTrainsTheNewRowsAndInferAndExportExtendTheBaseAgain(@TempDir Path dir) throws Exception {
    StringBuilder rows = new StringBuilder();
    for (String q : List.of("Use the tool.", "Call the tool now.", "Please use the tool.", "Tool, please."))
      rows.append(JSON.writeValueAsString(java.util.Map.of("messages", List.of(java.util.Map.of("role", "user",
          "content", q), java.util.Map.of("role", "assistant", "content", "<tool_x> done"))))).append('\n');
    Path data = Files.writeString(dir.resolve("tool.jsonl"), rows.toString());
    String r = Cli.run("sft", "--model", CHAT.toString(), "--dataset", data.toString(), "--new_special_tokens",
        "<tool_x>", "--modules_to_save", "embed_tokens", "lm_head", "--max_steps", "12", "--learning_rate", "3e-3",
        "--save_steps", "12", "--output_dir", dir.resolve("out").toString(), "--device", "cpu");
    assertTrue(r.startsWith("0\n") && r.contains("new special tokens: 1 added [<tool_x>]") && r.contains("8193 rows"),
        r);
    Path run = Cli.onlyChild(dir.resolve("out/jswift-tiny-chat")), ckpt = run.resolve("checkpoint-12");
    assertEquals("[\"<tool_x>\"]", JSON.readTree(run.resolve("args.json").toFile()).get("new_special_tokens").toString());
    try (SafetensorsFile f = SafetensorsFile.open(ckpt.resolve("adapter_model.safetensors"))) {
      assertArrayEquals(new long[] {8193, 256}, f.entry("base_model.model.model.embed_tokens.weight").shape());
    }
    try (var s = Files.list(dir.resolve("out"))) {
      assertTrue(s.noneMatch(p -> p.getFileName().toString().contains("new-special-tokens")), "scratch removed");
    }
    Path result = dir.resolve("r.jsonl");
    r = Cli.run("infer", "--adapters", ckpt.toString(), "--val_dataset", data.toString(), "--result_path",
        result.toString(), "--max_new_tokens", "4", "--device", "cpu");
    assertTrue(r.startsWith("0\n"), r);
    JsonNode first = JSON.readTree(Files.readAllLines(result).get(0));
    assertTrue(first.get("response").asText().contains("<tool_x>") || first.get("response").asText().contains("done"),
        "the trained answer starts with the new token: " + first);
    Path merged = dir.resolve("merged");
    r = Cli.run("export", "--adapters", ckpt.toString(), "--merge_lora", "true", "--output_dir", merged.toString());
    assertTrue(r.startsWith("0\n"), r);
    assertEquals(8193, JSON.readTree(merged.resolve("config.json").toFile()).get("vocab_size").asInt());
    try (Tokenizer tok = Tokenizer.load(merged)) {
      assertEquals(8192, tok.encode("<tool_x>")[0]);
    }
  }
}
