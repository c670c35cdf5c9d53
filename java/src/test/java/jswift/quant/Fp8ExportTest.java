package jswift.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import jswift.model.Batch;
import jswift.model.CausalLM;
import jswift.model.Checkpoint;
import jswift.model.CheckpointWriter;
import jswift.model.SafetensorsFile;
import jswift.model.TensorSource;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Tensor;
import jswift.testing.Cli;
import jswift.testing.Fixtures;
import jswift.testing.Torch;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code jswift export --quant_method fp8}: the e4m3 encoder against libtorch's float8_e4m3fn conversion (every
 * midpoint between neighbouring values, the values next to it, subnormals, random values), the written layout on
 * a [200, 300] weight (2 x 3 blocks of 128, partial ones included: codes equal to torch's rounding of w * 448 /
 * max |w| of the block, scales max |w| / 448), the llama-gqa fixture exported, loaded and close to the original
 * logits, and the refusals (--quant_bits, an already quantized model).
 */
class Fp8ExportTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  private static byte[] torchCodes(float[] v) {
    Torch.load();
    var t = org.bytedeco.pytorch.Tensor.create(v, v.length).clone().to(torch.ScalarType.Float8_e4m3fn);
    byte[] out = new byte[v.length];
    t.view(torch.ScalarType.Byte).contiguous().data_ptr_byte().get(out);
    return out;
  }

  @Test
  void encodesAsTorchRoundsToFloat8E4m3fn() {
    List<Float> xs = new ArrayList<>();
    for (int c = 0; c < 126; c++) {
      float lo = jswift.model.Float8E4M3.decode(c), hi = jswift.model.Float8E4M3.decode(c + 1), mid = (lo + hi) / 2;
      for (float x : new float[] {lo, mid, Math.nextUp(mid), Math.nextDown(mid), hi}) {
        xs.add(x);
        xs.add(-x);
      }
    }
    Random r = new Random(3);
    for (int i = 0; i < 20000; i++) xs.add((float) Math.max(-448, Math.min(448, r.nextGaussian() * Math.pow(10,
        r.nextInt(6) - 3))));
    float[] v = new float[xs.size()];
    for (int i = 0; i < v.length; i++) v[i] = xs.get(i);
    byte[] want = torchCodes(v);
    for (int i = 0; i < v.length; i++)
      assertEquals(want[i], jswift.model.Float8E4M3.encode(v[i]), "x = " + v[i] + " (" + Float.floatToIntBits(v[i]) + ")");
  }

  @Test
  void writesTransformersFp8LayoutWithTorchsCodes(@TempDir Path tmp) throws IOException {
    Path model = Files.createDirectories(tmp.resolve("hand"));
    Files.writeString(model.resolve("config.json"), "{\"model_type\": \"qwen3\", \"torch_dtype\": \"float32\"}");
    String w = "model.layers.0.mlp.down_proj.weight";
    int out = 200, in = 300;
    float[] v = new float[out * in];
    Random r = new Random(1);
    for (int i = 0; i < v.length; i++) v[i] = (float) (r.nextGaussian() * (i % in < 128 ? 0.01 : 1));
    try (Tensor t = Tensor.fromFloats(v, DType.F32, Device.CPU, out, in);
        Tensor norm = Tensor.fromFloats(new float[] {1f, 2f}, DType.BF16, Device.CPU, 2)) {
      CheckpointWriter.write(model, List.of(TensorSource.of(w, t), TensorSource.of("model.norm.weight", norm)),
          5_000_000_000L);
    }
    String res = Cli.run("export", "--model", model.toString(), "--quant_method", "fp8");
    assertTrue(res.startsWith("0\n") && res.contains("1 linears quantized"), res);
    Path dir = tmp.resolve("hand-fp8");
    assertEquals("fp8", JSON.readTree(dir.resolve("config.json").toFile()).at("/quantization_config/quant_method")
        .asText());
    try (Checkpoint c = Checkpoint.open(dir)) {
      SafetensorsFile f = c.file(w);
      assertEquals("F8_E4M3", f.entry(w).dtype());
      assertArrayEquals(new long[] {2, 3}, c.file("model.layers.0.mlp.down_proj.weight_scale_inv")
          .entry("model.layers.0.mlp.down_proj.weight_scale_inv").shape());
      assertEquals("BF16", c.file("model.norm.weight").entry("model.norm.weight").dtype(), "copied as stored");
      float[] scale = c.file(w).floats("model.layers.0.mlp.down_proj.weight_scale_inv");
      float[] scaled = new float[v.length];
      for (int o = 0; o < out; o++)
        for (int i = 0; i < in; i++) scaled[o * in + i] = v[o * in + i] * (448f / (scale[(o / 128) * 3 + i / 128] * 448f));
      ByteBuffer b = f.bytes(w);
      byte[] codes = new byte[b.remaining()];
      b.get(codes);
      // the block maxima, recomputed: each block's largest |w| maps to 448 (code 0x7e)
      float[] amax = new float[6];
      for (int o = 0; o < out; o++)
        for (int i = 0; i < in; i++) amax[(o / 128) * 3 + i / 128] = Math.max(amax[(o / 128) * 3 + i / 128],
            Math.abs(v[o * in + i]));
      for (int k = 0; k < 6; k++) assertEquals(amax[k] / 448f, scale[k], 0f, "block " + k);
      for (int o = 0; o < out; o++)
        for (int i = 0; i < in; i++) scaled[o * in + i] = v[o * in + i] * (448f / amax[(o / 128) * 3 + i / 128]);
      assertArrayEquals(torchCodes(scaled), codes);
    }
  }

  private static double relError(float[] got, float[] want) {
    double d = 0, n = 0;
    for (int i = 0; i < got.length; i++) {
      d += (got[i] - want[i]) * (double) (got[i] - want[i]);
      n += want[i] * (double) want[i];
    }
    return Math.sqrt(d / n);
  }

  @Test
  void theFixtureExportedToFp8LoadsCloseToTheOriginal(@TempDir Path tmp) throws IOException {
    Path out = tmp.resolve("gqa-fp8");
    String r = Cli.run("export", "--model", Fixtures.llamaGqa().toString(), "--quant_method", "fp8", "--output_dir",
        out.toString());
    assertTrue(r.startsWith("0\n") && r.contains("14 linears quantized"), r);
    Batch batch = Batch.padded(new int[][] {{1, 53, 482, 280, 438, 489, 207}}, null, null);
    try (CausalLM f = CausalLM.load(out, Device.CPU); CausalLM o = CausalLM.load(Fixtures.llamaGqa(), Device.CPU);
        CausalLM nf4 = CausalLM.load(Fixtures.llamaGqa(), Device.CPU, DType.F32, CausalLM.Quantization.NF4)) {
      assertNotNull(f.fp8());
      float[] a = f.logits(batch), b = o.logits(batch), c = nf4.logits(batch);
      double fp8Error = relError(a, b), nf4Error = relError(c, b);
      assertTrue(fp8Error > 0 && fp8Error < nf4Error / 2, "8-bit floats beat 4-bit NF4 by far: FP8 " + fp8Error
          + ", NF4 " + nf4Error + " (relative error of the logits)");
    }
    r = Cli.run("export", "--model", out.toString(), "--quant_method", "fp8", "--output_dir",
        tmp.resolve("again").toString());
    assertTrue(r.contains("already quantized") && r.contains("'fp8'"), r);
    r = Cli.run("export", "--model", Fixtures.llamaGqa().toString(), "--quant_method", "fp8", "--quant_bits", "4",
        "--output_dir", tmp.resolve("bits").toString());
    assertTrue(r.contains("--quant_bits 4 does not apply to fp8"), r);
    assertFalse(Files.exists(tmp.resolve("again")) || Files.exists(tmp.resolve("bits")));
  }
}
