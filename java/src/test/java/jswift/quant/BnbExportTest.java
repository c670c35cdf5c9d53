package jswift.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import jswift.model.Batch;
import jswift.model.CausalLM;
import jswift.model.CheckpointWriter;
import jswift.model.SafetensorsFile;
import jswift.model.TensorSource;
import jswift.nn.Linear;
import jswift.nn.Parameter;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Kernels;
import jswift.tensor.Tensor;
import jswift.testing.Cli;
import jswift.testing.TinyModels;
import jswift.train.AdamW;
import jswift.tuner.LoraConfig;
import jswift.tuner.LoraTuner;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code jswift export --quant_method bnb --quant_bits 4}: the bitsandbytes nf4 layout on a hand-checkable weight
 * (nibble order, absmax, codebooks, the quant_state JSON bytes, keys / dtypes / shapes, config.json), the round
 * trip export -> CausalLM.load giving the same logits as quantizing the dense model at load (bit for bit: both
 * quantize the same fp32 values with the same kernel), and the refusals (fp4, 8-bit, an already quantized model,
 * an fp4 / 8-bit checkpoint at load, a mismatched double-quantization request).
 */
class BnbExportTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String W = "model.layers.0.mlp.down_proj.weight";
  private static final Batch BATCH = Batch.padded(new int[][] {{1, 53, 482, 280, 438, 489, 207, 443, 374, 441}},
      null, new int[][] {{1, 53, 482, 280, 438, 489, 207, 443, 374, 441}});

  /**
   * A folder with one linear [2, 64] (two blocks) whose values are codebook entries times a scale: block 0 runs
   * through the codes 0..15 four times at absmax 2, block 1 through 15..0 at absmax 0.5; and a bf16 norm.
   */
  private static Path handModel(Path dir) throws IOException {
    Files.createDirectories(dir);
    Files.writeString(dir.resolve("config.json"), "{\"model_type\": \"qwen3\", \"torch_dtype\": \"float32\"}");
    float[] code = Kernels.nf4Codebook();
    float[] w = new float[128];
    for (int j = 0; j < 64; j++) {
      w[j] = code[j % 16] * 2f;
      w[64 + j] = code[15 - j % 16] * 0.5f;
    }
    try (Tensor t = Tensor.fromFloats(w, DType.F32, Device.CPU, 2, 64);
        Tensor norm = Tensor.fromFloats(new float[] {1f, 2f}, DType.BF16, Device.CPU, 2)) {
      CheckpointWriter.write(dir, List.of(TensorSource.of(W, t), TensorSource.of("model.norm.weight", norm)),
          5_000_000_000L);
    }
    return dir;
  }

  private static byte[] bytes(SafetensorsFile f, String name) throws IOException {
    ByteBuffer b = f.bytes(name);
    byte[] out = new byte[b.remaining()];
    b.get(out);
    return out;
  }

  private static void assertEntry(SafetensorsFile f, String name, String dtype, long... shape) {
    assertEquals(dtype, f.entry(name).dtype(), name);
    assertArrayEquals(shape, f.entry(name).shape(), name);
  }

  @Test
  void handCheckableLayoutWithoutDoubleQuant(@TempDir Path tmp) throws IOException {
    Path model = handModel(tmp.resolve("hand"));
    String r = Cli.run("export", "--model", model.toString(), "--quant_method", "bnb", "--quant_bits", "4",
        "--bnb_4bit_use_double_quant", "false");
    assertTrue(r.startsWith("0\n") && r.contains("1 linears quantized"), r);
    Path out = tmp.resolve("hand-bnb-int4");
    assertFalse(Files.exists(tmp.resolve("hand-bnb-int4.incomplete")));
    try (SafetensorsFile f = SafetensorsFile.open(out.resolve("model.safetensors"))) {
      assertEquals(java.util.Set.of(W, W + ".absmax", W + ".quant_map", W + ".quant_state.bitsandbytes__nf4",
          "model.norm.weight"), f.names());
      assertEntry(f, W, "U8", 64, 1);
      byte[] packed = bytes(f, W);
      // Element 2k in the high nibble: codes 0,1 -> 0x01, 2,3 -> 0x23, ...; block 1 (15,14 -> 0xFE, ...).
      for (int k = 0; k < 32; k++) {
        int c = (2 * k) % 16;
        assertEquals((byte) ((c << 4) | (c + 1)), packed[k], "byte " + k);
        assertEquals((byte) (((15 - c) << 4) | (14 - c)), packed[32 + k], "byte " + (32 + k));
      }
      assertEntry(f, W + ".absmax", "F32", 2);
      assertArrayEquals(new float[] {2f, 0.5f}, f.floats(W + ".absmax"));
      assertEntry(f, W + ".quant_map", "F32", 16);
      assertEquals(-0.6961928009986877f, f.floats(W + ".quant_map")[1]);
      assertEquals(0.07958029955625534f, f.floats(W + ".quant_map")[8]);
      String json = "{\"quant_type\": \"nf4\", \"blocksize\": 64, \"dtype\": \"float32\", \"shape\": [2, 64]}";
      assertEntry(f, W + ".quant_state.bitsandbytes__nf4", "U8", json.length());
      assertEquals(json, new String(bytes(f, W + ".quant_state.bitsandbytes__nf4"), StandardCharsets.UTF_8));
      assertEntry(f, "model.norm.weight", "BF16", 2);  // copied in the model's dtype
      assertArrayEquals(new float[] {1f, 2f}, f.floats("model.norm.weight"));
    }
    JsonNode q = JSON.readTree(out.resolve("config.json").toFile()).get("quantization_config");
    assertEquals("bitsandbytes", q.get("quant_method").asText());
    assertTrue(q.get("load_in_4bit").asBoolean() && !q.get("load_in_8bit").asBoolean());
    assertEquals("nf4", q.get("bnb_4bit_quant_type").asText());
    assertFalse(q.get("bnb_4bit_use_double_quant").asBoolean());
    assertEquals("float32", q.get("bnb_4bit_compute_dtype").asText());
    assertEquals("uint8", q.get("bnb_4bit_quant_storage").asText());
  }

  @Test
  void handCheckableLayoutWithDoubleQuant(@TempDir Path tmp) throws IOException {
    Path model = handModel(tmp.resolve("hand"));
    Path out = tmp.resolve("dq");
    String r = Cli.run("export", "--model", model.toString(), "--quant_method", "bnb", "--quant_bits", "4",
        "--output_dir", out.toString());
    assertTrue(r.startsWith("0\n") && r.contains("double quantization"), r);
    try (SafetensorsFile f = SafetensorsFile.open(out.resolve("model.safetensors"))) {
      assertEntry(f, W, "U8", 64, 1);
      assertEntry(f, W + ".absmax", "U8", 2);
      assertEntry(f, W + ".nested_absmax", "F32", 1);
      assertEntry(f, W + ".nested_quant_map", "F32", 256);
      assertArrayEquals(Kernels.dynamicMapSigned(), f.floats(W + ".nested_quant_map"));
      // offset = mean(2, 0.5) = 1.25; the centred absmax +-0.75 has scale 0.75 and normalized values +-1.
      assertArrayEquals(new float[] {0.75f}, f.floats(W + ".nested_absmax"));
      float[] map = Kernels.dynamicMapSigned();
      byte[] codes = bytes(f, W + ".absmax");
      assertEquals(1f, map[codes[0] & 0xFF]);
      // The signed dynamic map has no -1 (its most negative entry is -0.99296875): -1 takes that code.
      float min = Float.MAX_VALUE;
      for (float v : map) min = Math.min(min, v);
      assertEquals(-0.99296875f, min);
      assertEquals(min, map[codes[1] & 0xFF]);
      String json = "{\"quant_type\": \"nf4\", \"blocksize\": 64, \"dtype\": \"float32\", \"shape\": [2, 64], "
          + "\"nested_blocksize\": 256, \"nested_dtype\": \"float32\", \"nested_offset\": 1.25}";
      assertEquals(json, new String(bytes(f, W + ".quant_state.bitsandbytes__nf4"), StandardCharsets.UTF_8));
    }
    assertTrue(JSON.readTree(out.resolve("config.json").toFile()).at("/quantization_config/bnb_4bit_use_double_quant")
        .asBoolean());
  }

  @Test
  void exportThenLoadGivesTheLogitsOfNf4AtLoad(@TempDir Path tmp) throws IOException {
    Path base = TinyModels.qwen3(tmp.resolve("tiny"), 5);
    for (boolean dq : new boolean[] {false, true}) {
      Path out = tmp.resolve("tiny-" + dq);
      String r = Cli.run("export", "--model", base.toString(), "--quant_method", "bnb", "--quant_bits", "4",
          "--bnb_4bit_use_double_quant", String.valueOf(dq), "--output_dir", out.toString());
      assertTrue(r.startsWith("0\n") && r.contains("14 linears quantized"), r);
      CausalLM.Quantization want = dq ? CausalLM.Quantization.NF4_DOUBLE_QUANT : CausalLM.Quantization.NF4;
      try (CausalLM atLoad = CausalLM.load(base, Device.CPU, DType.F32, want);
          CausalLM saved = CausalLM.load(out, Device.CPU, DType.F32)) {
        assertEquals(want, saved.quantization());
        for (Linear l : saved.linears().values()) assertNotNull(l.quantizedWeight(), l.name());
        assertEquals(atLoad.weightBytes(), saved.weightBytes());
        assertArrayEquals(atLoad.logits(BATCH), saved.logits(BATCH), "double quant " + dq);
        if (dq) {
          // As a QLoRA base: the same LoRA (same seed) trains the same way on both, and learns.
          double[] a = qloraLosses(atLoad), b = qloraLosses(saved);
          assertArrayEquals(a, b);
          assertTrue(b[b.length - 1] < b[0], java.util.Arrays.toString(b));
        }
      }
      try (CausalLM same = CausalLM.load(out, Device.CPU, DType.F32, want)) {
        assertEquals(want, same.quantization());  // asking for what the checkpoint holds is fine
      }
      CausalLM.Quantization other = dq ? CausalLM.Quantization.NF4 : CausalLM.Quantization.NF4_DOUBLE_QUANT;
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> CausalLM.load(out, Device.CPU, DType.F32, other));
      assertTrue(e.getMessage().contains("bitsandbytes nf4 checkpoint"), e.getMessage());
    }
  }

  private static double[] qloraLosses(CausalLM m) {
    List<Parameter> params = LoraTuner.apply(m, "default",
        LoraConfig.defaults().withTargetModules(List.of("all-linear")).withLoraDropout(0), 1);
    double[] losses = new double[4];
    try (AdamW opt = new AdamW(params, 0.9f, 0.999f, 1e-8f, 0f, 1f)) {
      for (int i = 0; i < losses.length; i++) {
        losses[i] = m.forwardBackward(BATCH, i);
        opt.step(1e-2f);
        opt.zeroGrad();
      }
    }
    return losses;
  }

  @Test
  void badInputsGiveClearErrors(@TempDir Path tmp) throws IOException {
    Path model = handModel(tmp.resolve("hand"));
    String r = Cli.run("export", "--model", model.toString(), "--quant_method", "bnb", "--quant_bits", "8");
    assertTrue(r.startsWith("2\n") || r.startsWith("1\n"), r);
    assertTrue(r.contains("--quant_bits 8 is not supported for bnb"), r);
    r = Cli.run("export", "--model", model.toString(), "--quant_method", "bnb", "--quant_bits", "4",
        "--bnb_4bit_quant_type", "fp4");
    assertTrue(r.contains("fp4 is not supported"), r);
    assertFalse(Files.exists(tmp.resolve("hand-bnb-int4")));

    Path out = tmp.resolve("q");
    assertTrue(Cli.run("export", "--model", model.toString(), "--quant_method", "bnb", "--quant_bits", "4",
        "--output_dir", out.toString()).startsWith("0\n"));
    r = Cli.run("export", "--model", out.toString(), "--quant_method", "bnb", "--quant_bits", "4");
    assertTrue(r.contains("already quantized") && r.contains("bitsandbytes"), r);
    assertFalse(Files.exists(tmp.resolve("q-bnb-int4")));

    // At load: an fp4 or 8-bit bitsandbytes checkpoint is refused before any tensor is read.
    Path tiny = TinyModels.qwen3(tmp.resolve("tiny"), 3, 1);
    for (String[] kv : new String[][] {{"bnb_4bit_quant_type", "fp4", "fp4' is not supported"},
        {"load_in_8bit", "true", "8-bit bitsandbytes"}}) {
      ObjectNode cfg = (ObjectNode) JSON.readTree(tiny.resolve("config.json").toFile());
      ObjectNode q = BnbExporter.quantizationConfig(false, "float32");
      if (kv[1].equals("true")) {
        q.put(kv[0], true);
        q.put("load_in_4bit", false);
      } else {
        q.put(kv[0], kv[1]);
      }
      cfg.set("quantization_config", q);
      Files.writeString(tiny.resolve("config.json"), cfg.toString());
      IOException e = assertThrows(IOException.class, () -> CausalLM.load(tiny, Device.CPU, DType.F32));
      assertTrue(e.getMessage().contains(kv[2]) && e.getMessage().contains("config.json"), e.getMessage());
    }
  }
}
