package jswift.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import jswift.model.CheckpointWriter;
import jswift.model.SafetensorsFile;
import jswift.model.TensorSource;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Kernels;
import jswift.tensor.Tensor;
import jswift.testing.Cli;
import jswift.testing.Rand;
import jswift.testing.TinyModels;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code jswift export --quant_method gptq}: the folder it writes (AutoGPTQ's keys, dtypes and shapes per linear,
 * f16 for the rest, config.json's quantization_config and quantize_config.json, the tokenizer files), weights that
 * dequantize close to the originals (8-bit far closer than 4-bit), the per-layer progress and the summary, and
 * the failures: unknown method or bits, no calibration data, an already quantized model, and an export that
 * fails half-way leaving no output folder behind.
 */
class GptqExportTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  @Test
  void writesAnAutoGptqFolderThatDequantizesCloseToTheModel(@TempDir Path tmp) throws IOException {
    Path model = TinyModels.qwen3(tmp.resolve("tiny"), 5);
    Path calib = QuantizedCheckpointChecks.calibration(tmp);
    String r = Cli.run("export", "--model", model.toString(), "--quant_method", "gptq", "--quant_bits", "4",
        "--group_size", "16", "--dataset", calib.toString(), "--max_length", "96", "--quant_n_samples", "10");
    assertTrue(r.startsWith("0\n"), r);
    assertTrue(r.contains("layer 1/2 quantized") && r.contains("layer 2/2 quantized"), r);
    assertTrue(r.contains("model.layers.1.mlp.down_proj") && r.contains("MB of weights"), r);
    Path out = tmp.resolve("tiny-gptq-int4");
    assertFalse(Files.exists(tmp.resolve("tiny-gptq-int4.incomplete")));
    try (var files = Files.list(out)) {
      assertEquals(List.of("config.json", "generation_config.json", "model.safetensors", "quantize_config.json",
          "tokenizer.json", "tokenizer_config.json"), files.map(f -> f.getFileName().toString()).sorted().toList(),
          "the folder holds the checkpoint and nothing of the layers parked while it was written");
    }

    JsonNode q = JSON.readTree(out.resolve("config.json").toFile()).get("quantization_config");
    assertEquals("gptq", q.get("quant_method").asText());
    assertEquals(4, q.get("bits").asInt());
    assertEquals(16, q.get("group_size").asInt());
    assertEquals(0.01, q.get("damp_percent").asDouble(), 1e-7);
    assertFalse(q.get("desc_act").asBoolean());
    assertTrue(q.get("sym").asBoolean() && q.get("true_sequential").asBoolean());
    assertEquals("gptq", q.get("checkpoint_format").asText());
    assertEquals("float16", JSON.readTree(out.resolve("config.json").toFile()).get("torch_dtype").asText());
    JsonNode qc = JSON.readTree(out.resolve("quantize_config.json").toFile());
    assertEquals(4, qc.get("bits").asInt());
    assertEquals(16, qc.get("group_size").asInt());
    assertTrue(Files.exists(out.resolve("tokenizer.json")) && Files.exists(out.resolve("generation_config.json")));

    Map<String, float[]> dq4 = dequantizedLinears(out, 4);
    try (SafetensorsFile base = SafetensorsFile.open(model.resolve("model.safetensors"));
        SafetensorsFile f = SafetensorsFile.open(out.resolve("model.safetensors"))) {
      for (String name : f.names())
        if (!name.contains("_proj.")) assertEquals("F16", f.entry(name).dtype(), name);
      assertEquals(2 * 7 * 4 + 2 * 4 + 2, f.names().size(), "4 tensors per linear, 4 norms per layer, embed + norm");
      for (int l = 0; l < 2; l++)
        for (String m : QuantizedCheckpointChecks.MODULES) {
          String p = "model.layers." + l + "." + m;
          long[] shape = base.entry(p + ".weight").shape();
          long outF = shape[0], in = shape[1], groups = in / 16;
          assertEntry(f, p + ".qweight", "I32", in / 8, outF);
          assertEntry(f, p + ".qzeros", "I32", groups, outF / 8);
          assertEntry(f, p + ".scales", "F16", groups, outF);
          assertEntry(f, p + ".g_idx", "I32", in);
          assertFalse(f.contains(p + ".weight"));
          int[] qz = ints(f, p + ".qzeros");
          for (int z : qz) assertEquals(0x77777777, z, "sym 4-bit zeros are stored as 7");
          // 4 bits with groups of 16: ~7% for round-to-nearest; GPTQ trades some weight error for output error.
          double rel = relError(dq4.get(p), base.floats(p + ".weight"));
          assertTrue(rel > 0.005 && rel < 0.25, p + ": relative error " + rel);
        }
    }
    String keep = System.getProperty("jswift.gptq.export");  // for scripts/check_gptq_export.py
    if (keep != null) {
      copyTree(model, Path.of(keep, "model"));
      copyTree(out, Path.of(keep, "quantized"));
    }
    // 8 bits: the same weights ~16x closer.
    Path out8 = tmp.resolve("eight");
    r = Cli.run("export", "--model", model.toString(), "--quant_method", "gptq", "--quant_bits", "8", "--group_size", "16",
        "--dataset", calib.toString(), "--max_length", "96", "--output_dir", out8.toString());
    assertTrue(r.startsWith("0\n"), r);
    Map<String, float[]> dq8 = dequantizedLinears(out8, 8);
    try (SafetensorsFile base = SafetensorsFile.open(model.resolve("model.safetensors"))) {
      for (String name : dq8.keySet()) {
        float[] w = base.floats(name + ".weight");
        assertTrue(relError(dq8.get(name), w) < relError(dq4.get(name), w) / 8, name);
      }
    }
  }

  @Test
  void clearErrorsAndNoHalfWrittenFolder(@TempDir Path tmp) throws IOException {
    Path model = TinyModels.qwen3(tmp.resolve("tiny"), 6);
    Path calib = QuantizedCheckpointChecks.calibration(tmp);
    String m = model.toString(), c = calib.toString();
    String r = Cli.run("export", "--model", m, "--quant_method", "hqq", "--quant_bits", "4", "--dataset", c);
    assertTrue(r.startsWith("2\n") && r.contains("--quant_method hqq is not supported (gptq, awq, bnb and fp8 are)"), r);
    r = Cli.run("export", "--model", m, "--quant_method", "gptq", "--quant_bits", "3", "--dataset", c);
    assertTrue(r.startsWith("2\n") && r.contains("--quant_bits 3 is not supported for gptq (4 or 8)"), r);
    r = Cli.run("export", "--model", m, "--quant_method", "gptq", "--dataset", c);
    assertTrue(r.startsWith("2\n") && r.contains("needs --quant_bits"), r);
    r = Cli.run("export", "--model", m, "--quant_method", "gptq", "--quant_bits", "4");
    assertTrue(r.startsWith("2\n") && r.contains("GPTQ needs calibration data: pass --dataset"), r);
    r = Cli.run("export", "--model", m, "--quant_method", "gptq", "--quant_bits", "4", "--dataset", c, "--max_length",
        "96", "--output_dir", tmp.resolve("q").toString());
    assertTrue(r.startsWith("0\n"), r);
    r = Cli.run("export", "--model", tmp.resolve("q").toString(), "--quant_method", "gptq", "--quant_bits", "4",
        "--dataset", c, "--max_length", "96");
    assertTrue(r.startsWith("2\n") && r.contains("is already quantized") && r.contains("gptq"), r);
    r = Cli.run("export", "--model", m, "--quant_method", "gptq", "--quant_bits", "4", "--dataset", c, "--max_length",
        "96", "--output_dir", tmp.resolve("q").toString());
    assertTrue(r.startsWith("2\n") && r.contains("exists and is not empty"), r);

    // A model whose MLP (60 wide) cannot be packed at 4 bits fails in layer 0 after its attention was quantized:
    // nothing is left under the output name or the temporary one.
    Path odd = oddModel(tmp.resolve("odd"));
    Path out = tmp.resolve("odd-out");
    var e = assertThrows(IllegalArgumentException.class, () -> GptqExporter.export(odd, out,
        List.of(new int[] {1, 2, 3, 4, 5, 6, 7, 8}), GptqConfig.defaults(4), 5_000_000_000L,
        new PrintWriter(new StringWriter())));
    assertTrue(e.getMessage().contains("model.layers.0.mlp.gate_proj: a [60, 32] weight cannot be packed"),
        e.getMessage());
    assertFalse(Files.exists(out));
    assertFalse(Files.exists(tmp.resolve("odd-out.incomplete")));
  }

  // ---- helpers ----

  /** Every linear of the folder dequantized by the kernel: module path -> [out, in] values. */
  private static Map<String, float[]> dequantizedLinears(Path dir, int bits) throws IOException {
    Map<String, float[]> w = new java.util.LinkedHashMap<>();
    try (SafetensorsFile f = SafetensorsFile.open(dir.resolve("model.safetensors"))) {
      for (String name : f.names()) {
        if (!name.endsWith(".qweight")) continue;
        String p = name.substring(0, name.length() - ".qweight".length());
        long[] s = f.entry(p + ".scales").shape();
        long in = f.entry(p + ".g_idx").shape()[0], out = s[1];
        try (Tensor qw = f.load(p + ".qweight", DType.I32, Device.CPU); Tensor qz = f.load(p + ".qzeros", DType.I32, Device.CPU);
            Tensor sc = f.load(p + ".scales", DType.F16, Device.CPU); Tensor g = f.load(p + ".g_idx", DType.I32, Device.CPU);
            Tensor d = Tensor.allocate(DType.F32, Device.CPU, out, in)) {
          Kernels.gptqDequantize(qw, qz, sc, g, bits, d);
          w.put(p, d.toFloatArray());
        }
      }
    }
    return w;
  }

  private static void copyTree(Path from, Path to) throws IOException {
    Files.createDirectories(to);
    try (var files = Files.list(from)) {
      for (Path f : files.toList()) Files.copy(f, to.resolve(f.getFileName()), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    }
  }

  private static void assertEntry(SafetensorsFile f, String name, String dtype, long... shape) {
    assertTrue(f.contains(name), name + " missing");
    assertEquals(dtype, f.entry(name).dtype(), name);
    assertArrayEquals(shape, f.entry(name).shape(), name);
  }

  private static int[] ints(SafetensorsFile f, String name) throws IOException {
    var b = f.bytes(name).order(ByteOrder.LITTLE_ENDIAN).asIntBuffer();
    int[] v = new int[b.remaining()];
    b.get(v);
    return v;
  }

  private static double relError(float[] got, float[] want) {
    double num = 0, den = 0;
    for (int i = 0; i < want.length; i++) {
      num += (got[i] - want[i]) * (double) (got[i] - want[i]);
      den += want[i] * (double) want[i];
    }
    return Math.sqrt(num / den);
  }

  /** A one-layer llama, hidden 32, intermediate 60 (not a multiple of 8), vocab 16, without a tokenizer. */
  private static Path oddModel(Path dir) throws IOException {
    Files.createDirectories(dir);
    int vocab = 16, hidden = 32, inter = 60;
    Files.writeString(dir.resolve("config.json"), "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\","
        + " \"vocab_size\": " + vocab + ", \"hidden_size\": " + hidden + ", \"intermediate_size\": " + inter + ","
        + " \"num_hidden_layers\": 1, \"num_attention_heads\": 2, \"num_key_value_heads\": 2, \"rms_norm_eps\": 1e-06,"
        + " \"max_position_embeddings\": 64, \"tie_word_embeddings\": true, \"torch_dtype\": \"float32\"}");
    List<Tensor> tensors = new ArrayList<>();
    List<TensorSource> sources = new ArrayList<>();
    long seed = 1;
    Object[][] specs = {{"model.embed_tokens.weight", new long[] {vocab, hidden}},
        {"model.layers.0.input_layernorm.weight", new long[] {hidden}},
        {"model.layers.0.post_attention_layernorm.weight", new long[] {hidden}},
        {"model.layers.0.self_attn.q_proj.weight", new long[] {hidden, hidden}},
        {"model.layers.0.self_attn.k_proj.weight", new long[] {hidden, hidden}},
        {"model.layers.0.self_attn.v_proj.weight", new long[] {hidden, hidden}},
        {"model.layers.0.self_attn.o_proj.weight", new long[] {hidden, hidden}},
        {"model.layers.0.mlp.gate_proj.weight", new long[] {inter, hidden}},
        {"model.layers.0.mlp.up_proj.weight", new long[] {inter, hidden}},
        {"model.layers.0.mlp.down_proj.weight", new long[] {hidden, inter}}, {"model.norm.weight", new long[] {hidden}}};
    try {
      for (Object[] s : specs) {
        long[] shape = (long[]) s[1];
        long n = 1;
        for (long d : shape) n *= d;
        Tensor t = Tensor.fromFloats(Rand.normal(n, seed++, 0.1f), DType.F32, Device.CPU, shape);
        tensors.add(t);
        sources.add(TensorSource.of((String) s[0], t));
      }
      CheckpointWriter.write(dir, sources, 5_000_000_000L);
    } finally {
      tensors.forEach(Tensor::close);
    }
    return dir;
  }
}
