package jswift.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.io.Writer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import jswift.model.Batch;
import jswift.model.CausalLM;
import jswift.model.Checkpoint;
import jswift.model.ModelConfig;
import jswift.model.SafetensorsFile;
import jswift.nn.Linear;
import jswift.nn.Rope;
import jswift.tensor.Arena;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Tensor;
import jswift.testing.Cli;
import jswift.testing.Rand;
import jswift.testing.TinyModels;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code jswift export --quant_method awq}: the folder it writes (AutoAWQ's GEMM keys, dtypes and shapes per
 * linear, f16 for the rest, config.json's quantization_config, the tokenizer files), the progress and summary;
 * that folding the searched scales leaves the fp layer's function unchanged; that AWQ beats round-to-nearest with
 * the same bits and groups on a model with activation outliers, both per linear on the calibration data and at
 * the model's logits on held-out tokens; and the failures: bits other than 4, group -1, no calibration data, an
 * already quantized model, an unknown method, and an export interrupted half-way leaving no folder behind.
 */
class AwqExportTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  @Test
  void writesAnAutoAwqGemmFolder(@TempDir Path tmp) throws IOException {
    Path model = TinyModels.qwen3(tmp.resolve("tiny"), 5);
    String r = Cli.run("export", "--model", model.toString(), "--quant_method", "awq", "--quant_bits", "4",
        "--group_size", "16", "--dataset", QuantizedCheckpointChecks.calibration(tmp).toString(), "--max_length", "96",
        "--quant_n_samples", "10");
    assertTrue(r.startsWith("0\n"), r);
    assertTrue(r.contains("AWQ 4-bit, group_size 16") && r.contains("[AWQ] layer 1/2 quantized")
        && r.contains("[AWQ] layer 2/2 quantized"), r);
    assertTrue(r.contains("model.layers.1.mlp.down_proj") && r.contains("rtn error") && r.contains("MB of weights"), r);
    Path out = tmp.resolve("tiny-awq-int4");
    assertFalse(Files.exists(tmp.resolve("tiny-awq-int4.incomplete")));
    try (var files = Files.list(out)) {
      assertEquals(List.of("config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
          "tokenizer_config.json"), files.map(f -> f.getFileName().toString()).sorted().toList());
    }
    JsonNode cfg = JSON.readTree(out.resolve("config.json").toFile());
    JsonNode q = cfg.get("quantization_config");
    assertEquals("awq", q.get("quant_method").asText());
    assertEquals(4, q.get("bits").asInt());
    assertEquals(16, q.get("group_size").asInt());
    assertTrue(q.get("zero_point").asBoolean());
    assertEquals("gemm", q.get("version").asText());
    assertTrue(q.get("modules_to_not_convert").isNull());
    assertEquals("float16", cfg.get("torch_dtype").asText());
    try (SafetensorsFile base = SafetensorsFile.open(model.resolve("model.safetensors"));
        SafetensorsFile f = SafetensorsFile.open(out.resolve("model.safetensors"))) {
      for (String name : f.names())
        if (!name.contains("_proj.")) assertEquals("F16", f.entry(name).dtype(), name);
      assertEquals(2 * 7 * 3 + 2 * 4 + 2, f.names().size(), "3 tensors per linear, 4 norms per layer, embed + norm");
      for (int l = 0; l < 2; l++)
        for (String m : QuantizedCheckpointChecks.MODULES) {
          String p = "model.layers." + l + "." + m;
          long[] shape = base.entry(p + ".weight").shape();
          long outF = shape[0], in = shape[1];
          assertEntry(f, p + ".qweight", "I32", in, outF / 8);
          assertEntry(f, p + ".qzeros", "I32", in / 16, outF / 8);
          assertEntry(f, p + ".scales", "F16", in / 16, outF);
          assertFalse(f.contains(p + ".weight") || f.contains(p + ".g_idx"), p);
        }
    }
  }

  @Test
  void foldingTheScalesKeepsTheFpLayer(@TempDir Path tmp) throws IOException {
    Path model = AwqModels.llama(tmp.resolve("m"), 3, 1, true);
    ModelConfig cfg = ModelConfig.load(model);
    try (Checkpoint ckpt = Checkpoint.open(model); Rope rope = new Rope(cfg, Device.CPU);
        DenseLayer layer = new DenseLayer(cfg, ckpt, 0);
        Tensor embed = ckpt.load("model.embed_tokens.weight", new long[] {AwqModels.VOCAB, AwqModels.HIDDEN},
            DType.F32, Device.CPU);
        GptqExporter.Block block = new GptqExporter.Block(Rand.ints(23, 5, 0, AwqModels.VOCAB), embed,
            AwqModels.HIDDEN)) {
      float[] h = block.hidden.toFloatArray(), before = delta(layer, block, rope, h);
      Linear[] a = layer.layer.attention().projections(), m = layer.layer.mlp().projections();
      float[] normBefore = layer.layer.inputNorm().weight().value().toFloatArray();
      AwqScales.foldIntoNorm(layer.layer.inputNorm(), List.of(a[0], a[1], a[2]), Rand.uniform(64, 1, 0.25f, 4f));
      AwqScales.foldIntoLinear(a[2], List.of(a[3]), Rand.uniform(64, 2, 0.25f, 4f));
      AwqScales.foldIntoNorm(layer.layer.postNorm(), List.of(m[0], m[1]), Rand.uniform(64, 3, 0.25f, 4f));
      AwqScales.foldIntoLinear(m[1], List.of(m[2]), Rand.uniform(128, 4, 0.25f, 4f));
      float[] after = delta(layer, block, rope, h);
      assertTrue(Math.abs(layer.layer.inputNorm().weight().value().toFloatArray()[0] - normBefore[0]) > 1e-3,
          "the norm weights did change");
      // The same function in exact arithmetic; fp32 reorders nothing but rounds the scaled products (each a few
      // ulps), so the layer's update to the residual stream agrees to ~1e-6 of its size: 1e-5 is a tight bound.
      double max = 0, diff = 0;
      for (int i = 0; i < before.length; i++) {
        max = Math.max(max, Math.abs(before[i]));
        diff = Math.max(diff, Math.abs(after[i] - before[i]));
      }
      assertTrue(diff <= 1e-5 * max, "folding changed the layer by " + diff + " (largest value " + max + ")");
    }
  }

  /** The layer's output minus its input (the residual's update), for the block's hidden states h. */
  private static float[] delta(DenseLayer layer, GptqExporter.Block block, Rope rope, float[] h) {
    try (Arena a = new Arena()) {
      block.hidden.copyFrom(h);
      float[] y = layer.layer.forward(a, block.hidden, block.layout(), rope, 0, null, null).toFloatArray();
      for (int i = 0; i < y.length; i++) y[i] -= h[i];
      return y;
    }
  }

  @Test
  void awqBeatsRoundToNearestOnActivationOutliers(@TempDir Path tmp) throws IOException {
    Path model = AwqModels.llama(tmp.resolve("m"), 1, 2, true);
    Path out = tmp.resolve("awq");
    StringWriter log = new StringWriter();
    AwqExporter.Result r = AwqExporter.export(model, out, AwqModels.blocks(4, 64, 7),
        AwqConfig.defaults().withGroupSize(32), 5_000_000_000L, new PrintWriter(log));
    assertEquals(14, r.linears().size());
    double err = 0, rtn = 0;
    int better = 0;
    for (AwqExporter.LinearReport l : r.linears()) {
      err += l.error();
      rtn += l.rtnError();
      if (l.error() < l.rtnError()) better++;
    }
    assertTrue(err < 0.8 * rtn, "AWQ's output error on the calibration data " + err + " vs round-to-nearest " + rtn
        + "\n" + r.linears());
    assertTrue(better >= 10, better + " of 14 linears beat round-to-nearest\n" + r.linears());

    // Independently, at the logits on held-out tokens: the AWQ checkpoint as loaded, against the fp model with its
    // linears round-to-nearest quantized (same bits, groups of 32) by the quantizer AwqTest checks.
    int[] ids = Rand.ints(48, 99, 0, AwqModels.VOCAB);
    Batch batch = Batch.padded(new int[][] {ids}, null, new int[][] {ids});
    try (CausalLM fp = CausalLM.load(model, Device.CPU); CausalLM awq = CausalLM.load(out, Device.CPU);
        CausalLM rtnModel = CausalLM.load(model, Device.CPU)) {
      for (Linear l : rtnModel.linears().values())
        l.weight().value().copyFrom(AwqQuantizer.pseudoQuantize(l.weight().value().toFloatArray(), l.outFeatures(),
            l.inFeatures(), 32));
      float[] want = fp.logits(batch);
      double eAwq = mse(awq.logits(batch), want), eRtn = mse(rtnModel.logits(batch), want);
      assertTrue(eAwq < 0.8 * eRtn, "logit MSE: AWQ " + eAwq + ", round-to-nearest " + eRtn);
    }
  }

  @Test
  void clearErrorsAndNoHalfWrittenFolder(@TempDir Path tmp) throws IOException {
    Path model = TinyModels.qwen3(tmp.resolve("tiny"), 6);
    String m = model.toString(), c = QuantizedCheckpointChecks.calibration(tmp).toString();
    for (String bits : new String[] {"8", "3"}) {
      String r = Cli.run("export", "--model", m, "--quant_method", "awq", "--quant_bits", bits, "--dataset", c);
      assertTrue(r.startsWith("2\n") && r.contains("--quant_bits " + bits + " is not supported for awq: only 4 is"), r);
    }
    String r = Cli.run("export", "--model", m, "--quant_method", "awq", "--dataset", c);
    assertTrue(r.startsWith("2\n") && r.contains("--quant_method awq needs --quant_bits 4"), r);
    r = Cli.run("export", "--model", m, "--quant_method", "awq", "--quant_bits", "4");
    assertTrue(r.startsWith("2\n") && r.contains("AWQ needs calibration data: pass --dataset"), r);
    r = Cli.run("export", "--model", m, "--quant_method", "awq", "--quant_bits", "4", "--group_size", "-1", "--dataset", c);
    assertTrue(r.startsWith("2\n") && r.contains("--group_size -1 is not supported for awq"), r);
    r = Cli.run("export", "--model", m, "--quant_method", "awq", "--quant_bits", "4", "--group_size", "24", "--dataset", c,
        "--max_length", "96", "--output_dir", tmp.resolve("g24").toString());
    assertTrue(r.startsWith("2\n") && r.contains("model.layers.0.self_attn.q_proj: a [32, 32] weight cannot be packed"
        + " in AWQ's GEMM layout with group_size 24"), r);
    assertFalse(Files.exists(tmp.resolve("g24")) || Files.exists(tmp.resolve("g24.incomplete")));
    r = Cli.run("export", "--model", m, "--quant_method", "hqq", "--quant_bits", "4", "--dataset", c);
    assertTrue(r.startsWith("2\n") && r.contains("--quant_method hqq is not supported (gptq, awq, bnb and fp8 are)"), r);
    r = Cli.run("export", "--model", m, "--quant_method", "awq", "--quant_bits", "4", "--group_size", "16", "--dataset", c,
        "--max_length", "96", "--output_dir", tmp.resolve("q").toString());
    assertTrue(r.startsWith("0\n"), r);
    r = Cli.run("export", "--model", tmp.resolve("q").toString(), "--quant_method", "awq", "--quant_bits", "4",
        "--dataset", c, "--max_length", "96");
    assertTrue(r.startsWith("2\n") && r.contains("is already quantized") && r.contains("quant_method 'awq'"), r);

    // Interrupted after layer 1 of 2 was quantized and parked on disk: nothing under the output name or the
    // temporary one.
    Path out = tmp.resolve("cut");
    StringBuilder seen = new StringBuilder();
    Writer stop = new Writer() {
      @Override
      public void write(char[] buf, int off, int len) {
        seen.append(buf, off, len);  // printf writes a line in pieces
        if (seen.indexOf("layer 1/2") >= 0) throw new IllegalStateException("interrupted");
      }

      @Override
      public void flush() {}

      @Override
      public void close() {}
    };
    var e = assertThrows(IllegalStateException.class, () -> AwqExporter.export(model, out,
        List.of(new int[] {1, 2, 3, 4, 5, 6, 7, 8}), AwqConfig.defaults().withGroupSize(16), 5_000_000_000L,
        new PrintWriter(stop)));
    assertEquals("interrupted", e.getMessage());
    assertFalse(Files.exists(out));
    assertFalse(Files.exists(tmp.resolve("cut.incomplete")));
  }

  // ---- helpers ----

  private static double mse(float[] a, float[] b) {
    double s = 0;
    for (int i = 0; i < a.length; i++) s += ((double) a[i] - b[i]) * ((double) a[i] - b[i]);
    return s / a.length;
  }

  private static void assertEntry(SafetensorsFile f, String name, String dtype, long... shape) {
    assertEquals(dtype, f.entry(name).dtype(), name);
    assertEquals(java.util.Arrays.toString(shape), java.util.Arrays.toString(f.entry(name).shape()), name);
  }
}
