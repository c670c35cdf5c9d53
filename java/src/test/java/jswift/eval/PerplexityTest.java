package jswift.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import jswift.model.Batch;
import jswift.model.CausalLM;
import jswift.quant.Calibration;
import jswift.tensor.Device;
import jswift.testing.Cli;
import jswift.testing.TinyModels;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Perplexity against a log-softmax of the model's own logits computed here in double precision, independence of
 * the batch size, and {@code jswift eval}: the same number as the API on the same blocks, a bitsandbytes copy of
 * the model scoring close to (but not exactly) the dense one, and clear errors for bad arguments.
 */
class PerplexityTest {
  @TempDir Path dir;

  private static final List<int[]> BLOCKS = List.of(new int[] {9707, 11, 1879, 0, 13, 2585, 525},
      new int[] {40, 1079, 264, 8544, 13}, new int[] {1});

  /** The mean next-token NLL from fp32 logits, softmax taken in double precision, one block at a time. */
  private static double referenceMeanNll(CausalLM lm, List<int[]> blocks) {
    int vocab = lm.config().vocabSize();
    double sum = 0;
    long n = 0;
    for (int[] block : blocks) {
      float[] logits = lm.logits(Batch.padded(new int[][] {block}, null, null));
      for (int t = 0; t + 1 < block.length; t++) {
        double max = Double.NEGATIVE_INFINITY, z = 0;
        for (int v = 0; v < vocab; v++) max = Math.max(max, logits[t * vocab + v]);
        for (int v = 0; v < vocab; v++) z += Math.exp(logits[t * vocab + v] - max);
        sum += max + Math.log(z) - logits[t * vocab + block[t + 1]];
        n++;
      }
    }
    return sum / n;
  }

  @Test
  void matchesTheLogSoftmaxOfTheLogitsForAnyBatchSize() throws IOException {
    Path model = TinyModels.qwen3(dir.resolve("m"), 7);
    try (CausalLM lm = CausalLM.load(model, Device.CPU)) {
      double ref = referenceMeanNll(lm, BLOCKS);
      Perplexity.Result one = Perplexity.of(lm, BLOCKS, 1, null);
      Perplexity.Result all = Perplexity.of(lm, BLOCKS, 3, null);
      assertEquals(6 + 4, one.tokens(), "a block of n tokens makes n - 1 predictions; the 1-token block none");
      assertEquals(3, one.blocks());
      // The fused LM-head cross-entropy sums 151936 fp32 exponentials per token: ~1e-6 relative error, and the
      // NLL is ~10 nats here, so 1e-4 absolute leaves room while any wrong shift or target is off by whole nats.
      assertEquals(ref, one.meanNll(), 1e-4);
      assertEquals(ref, all.meanNll(), 1e-4, "packing blocks in one forward must not let them see each other");
      assertEquals(Math.exp(one.meanNll()), one.perplexity(), 1e-9 * one.perplexity());
    }
  }

  @Test
  void refusesEmptyInputs() throws IOException {
    Path model = TinyModels.qwen3(dir.resolve("m"), 7);
    try (CausalLM lm = CausalLM.load(model, Device.CPU)) {
      assertThrows(IllegalArgumentException.class, () -> Perplexity.of(lm, List.of(), 1, null));
      assertThrows(IllegalArgumentException.class, () -> Perplexity.of(lm, List.of(new int[] {5}), 1, null));
      assertThrows(IllegalArgumentException.class, () -> Perplexity.of(lm, BLOCKS, 0, null));
    }
  }

  @Test
  void evalCommandScoresDenseAndQuantizedCopiesOnTheSameBlocks() throws IOException {
    Path model = TinyModels.qwen3(dir.resolve("m"), 11);
    Path data = TinyModels.chatDataset(dir.resolve("qa.jsonl"), TinyModels.IDENTITY_QA);
    Path json = dir.resolve("ppl.json");
    String r = Cli.run("eval", "--model", model.toString(), "--eval_dataset", data.toString(), "--max_length", "64",
        "--device", "cpu", "--result_path", json.toString());
    assertTrue(r.startsWith("0\n"), r);
    assertTrue(r.contains("perplexity "), r);
    JsonNode result = new ObjectMapper().readTree(json.toFile());
    List<int[]> blocks = Calibration.blocks(model, List.of(data.toString()), Integer.MAX_VALUE, 64, 42);
    try (CausalLM lm = CausalLM.load(model, Device.CPU)) {
      Perplexity.Result api = Perplexity.of(lm, blocks, 4, null);
      assertEquals(api.perplexity(), result.get("perplexity").asDouble(), 1e-9 * api.perplexity());
      assertEquals(api.tokens(), result.get("tokens").asLong());
    }

    Path nf4 = dir.resolve("nf4");
    String e = Cli.run("export", "--model", model.toString(), "--quant_method", "bnb", "--quant_bits", "4",
        "--output_dir", nf4.toString());
    assertTrue(e.startsWith("0\n"), e);
    Path json4 = dir.resolve("ppl4.json");
    r = Cli.run("eval", "--model", nf4.toString(), "--eval_dataset", data.toString(), "--max_length", "64",
        "--device", "cpu", "--result_path", json4.toString());
    assertTrue(r.startsWith("0\n"), r);
    double dense = result.get("mean_nll").asDouble();
    double quantized = new ObjectMapper().readTree(json4.toFile()).get("mean_nll").asDouble();
    assertNotEquals(dense, quantized, "the NF4 copy must be evaluated with its own (quantized) weights");
    // NF4 keeps each weight within ~1/16 of its block's absmax: the NLL moves by a few percent, not by nats.
    assertEquals(dense, quantized, 0.1 * dense);
  }

  @Test
  void evalCommandRefusesBadArguments() throws IOException {
    Files.createDirectories(dir.resolve("empty"));
    String r = Cli.run("eval", "--model", dir.resolve("empty").toString(), "--eval_dataset", "x.jsonl");
    assertTrue(r.startsWith("2\n") && r.contains("has no config.json"), r);
    Path model = TinyModels.qwen3(dir.resolve("m"), 7);
    r = Cli.run("eval", "--model", model.toString(), "--eval_dataset", "jswift/quickstart-sft",
        "--per_device_eval_batch_size", "0");
    assertTrue(r.startsWith("2\n") && r.contains("--per_device_eval_batch_size"), r);
    r = Cli.run("eval", "--model", model.toString(), "--eval_dataset", dir.resolve("missing.jsonl").toString());
    assertTrue(r.startsWith("2\n") && r.contains("missing.jsonl"), r);
  }
}
