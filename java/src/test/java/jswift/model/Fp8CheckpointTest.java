package jswift.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import jswift.tensor.Device;
import jswift.testing.Assert;
import jswift.testing.Fixtures;
import jswift.testing.Torch;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Block-wise FP8 checkpoints ({@link Fp8Checkpoint}) against libtorch's float8_e4m3fn: every byte decodes to torch's
 * value; the llama-gqa fixture quantized to FP8 in blocks of [16, 32] (partial blocks at the 176-wide MLP) by
 * torch's own rounding loads with the logits of the dense model torch dequantizes (weight.float() *
 * weight_scale_inv per block), which is what transformers' FineGrainedFP8 computes; a scale of the wrong shape is
 * refused naming the tensor, and full training of an FP8 checkpoint is refused.
 */
class Fp8CheckpointTest {
  private static final Batch BATCH = Batch.padded(new int[][] {{1, 53, 482, 280, 438, 489, 207}}, null,
      new int[][] {{1, 53, 482, 280, 438, 489, 207}});
  private static final int BO = 16, BI = 32;

  @Test
  void everyByteDecodesAsTorchsFloat8E4m3fn() {
    Torch.load();
    byte[] all = new byte[256];
    for (int i = 0; i < 256; i++) all[i] = (byte) i;
    var bytes = org.bytedeco.pytorch.Tensor.create(all, 256).clone();
    float[] want = Torch.floats(bytes.view(torch.ScalarType.Float8_e4m3fn).to(torch.ScalarType.Float));
    for (int i = 0; i < 256; i++)
      assertEquals(want[i], Float8E4M3.decode(i), 0f, "byte 0x" + Integer.toHexString(i));
    assertEquals(448f, Float8E4M3.decode(0x7e), 0f);
    assertTrue(Float.isNaN(Float8E4M3.decode(0xff)));
  }

  /** One tensor for the hand-written file: its safetensors dtype, shape and little-endian bytes. */
  private record Raw(String dtype, long[] shape, byte[] data) {}

  private static void writeSafetensors(Path file, Map<String, Raw> tensors) throws IOException {
    StringBuilder header = new StringBuilder("{");
    long offset = 0;
    for (Map.Entry<String, Raw> e : tensors.entrySet()) {
      Raw r = e.getValue();
      if (header.length() > 1) header.append(',');
      header.append('"').append(e.getKey()).append("\":{\"dtype\":\"").append(r.dtype()).append("\",\"shape\":")
          .append(java.util.Arrays.toString(r.shape()).replace(" ", "")).append(",\"data_offsets\":[").append(offset)
          .append(',').append(offset + r.data().length).append("]}");
      offset += r.data().length;
    }
    byte[] h = header.append('}').toString().getBytes(StandardCharsets.UTF_8);
    ByteBuffer out = ByteBuffer.allocate(8 + h.length + (int) offset).order(ByteOrder.LITTLE_ENDIAN);
    out.putLong(h.length).put(h);
    for (Raw r : tensors.values()) out.put(r.data());
    Files.write(file, out.array());
  }

  private static byte[] f32Bytes(float[] v) {
    ByteBuffer b = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
    for (float x : v) b.putFloat(x);
    return b.array();
  }

  /** How a test checkpoint stores its scales: transformers' FineGrainedFP8 or compressed-tensors' strategies. */
  enum Layout {
    FINE_GRAINED, CT_CHANNEL, CT_TENSOR, CT_BLOCK;

    long blockOut(long out) {
      return this == CT_CHANNEL ? 1 : this == CT_TENSOR ? out : BO;
    }

    long blockIn(long in) {
      return this == CT_CHANNEL || this == CT_TENSOR ? in : BI;
    }

    long[] scaleShape(long rows, long cols) {
      return this == CT_CHANNEL ? new long[] {rows, 1} : this == CT_TENSOR ? new long[] {1} : new long[] {rows, cols};
    }

    String scaleSuffix() {
      return this == FINE_GRAINED ? ".weight_scale_inv" : ".weight_scale";
    }

    String quantizationConfig() {
      if (this == FINE_GRAINED)
        return "{\"activation_scheme\": \"dynamic\", \"fmt\": \"e4m3\", \"quant_method\": \"fp8\", "
            + "\"weight_block_size\": [" + BO + ", " + BI + "]}";
      String strategy = this == CT_CHANNEL ? "channel" : this == CT_TENSOR ? "tensor" : "block";
      return "{\"quant_method\": \"compressed-tensors\", \"format\": \"float-quantized\", \"ignore\": "
          + "[\"lm_head\"], \"config_groups\": {\"group_0\": {\"targets\": [\"Linear\"], \"weights\": "
          + "{\"num_bits\": 8, \"type\": \"float\", \"symmetric\": true, \"strategy\": \"" + strategy + "\""
          + (this == CT_BLOCK ? ", \"block_structure\": [" + BO + ", " + BI + "]" : "") + "}}}}";
    }
  }

  /**
   * The fixture as an FP8 checkpoint (linear weights F8_E4M3 + their scales, the rest F32) and as the dense one
   * torch dequantizes it to; {@code badScale} gives q_proj of layer 0 a scale of the wrong shape.
   */
  private static Path[] convert(Path tmp, boolean badScale) throws IOException {
    return convert(tmp, badScale, Layout.FINE_GRAINED);
  }

  private static Path[] convert(Path tmp, boolean badScale, Layout layout) throws IOException {
    Path fp8 = Files.createDirectories(tmp.resolve("fp8")), dense = Files.createDirectories(tmp.resolve("dense"));
    Map<String, Raw> q = new LinkedHashMap<>(), d = new LinkedHashMap<>();
    try (Checkpoint base = Checkpoint.open(Fixtures.llamaGqa())) {
      for (String name : base.names()) {
        float[] v = base.file(name).floats(name);
        long[] shape = base.file(name).entry(name).shape();
        boolean linear = name.endsWith("_proj.weight");
        if (!linear) {
          q.put(name, new Raw("F32", shape, f32Bytes(v)));
          d.put(name, new Raw("F32", shape, f32Bytes(v)));
          continue;
        }
        int out = (int) shape[0], in = (int) shape[1];
        int bo = (int) layout.blockOut(out), bi = (int) layout.blockIn(in);
        int rows = (out + bo - 1) / bo, cols = (in + bi - 1) / bi;
        float[] scale = new float[rows * cols];
        for (int o = 0; o < out; o++)
          for (int i = 0; i < in; i++) {
            int b = (o / bo) * cols + i / bi;
            scale[b] = Math.max(scale[b], Math.abs(v[o * in + i]) / 448f);
          }
        float[] scaled = new float[v.length];
        for (int o = 0; o < out; o++)
          for (int i = 0; i < in; i++) scaled[o * in + i] = v[o * in + i] / scale[(o / bo) * cols + i / bi];
        var t8 = org.bytedeco.pytorch.Tensor.create(scaled, out, in).clone().to(torch.ScalarType.Float8_e4m3fn);
        byte[] codes = new byte[out * in];
        t8.view(torch.ScalarType.Byte).contiguous().data_ptr_byte().get(codes);
        float[] back = Torch.floats(t8.to(torch.ScalarType.Float));  // torch's dequantization: q.float() * scale
        for (int o = 0; o < out; o++)
          for (int i = 0; i < in; i++) back[o * in + i] *= scale[(o / bo) * cols + i / bi];
        q.put(name, new Raw("F8_E4M3", shape, codes));
        String scaleName = name.replace(".weight", layout.scaleSuffix());
        boolean bad = badScale && name.equals("model.layers.0.self_attn.q_proj.weight");
        q.put(scaleName, new Raw("F32", bad ? new long[] {rows, cols + 1} : layout.scaleShape(rows, cols),
            f32Bytes(bad ? java.util.Arrays.copyOf(scale, rows * (cols + 1)) : scale)));
        d.put(name, new Raw("F32", shape, f32Bytes(back)));
      }
    }
    writeSafetensors(fp8.resolve("model.safetensors"), q);
    writeSafetensors(dense.resolve("model.safetensors"), d);
    String config = Files.readString(Fixtures.llamaGqa().resolve("config.json"));
    Files.writeString(dense.resolve("config.json"), config);
    Files.writeString(fp8.resolve("config.json"), config.replaceFirst("\\{", "{\"quantization_config\": "
        + layout.quantizationConfig() + ","));
    return new Path[] {fp8, dense};
  }

  @ParameterizedTest
  @EnumSource(Layout.class)
  void loadsWithTheLogitsOfTorchsDequantizedWeights(Layout layout, @TempDir Path tmp) throws IOException {
    Path[] dirs = convert(tmp, false, layout);
    try (CausalLM f = CausalLM.load(dirs[0], Device.CPU); CausalLM d = CausalLM.load(dirs[1], Device.CPU);
        CausalLM orig = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      assertNotNull(f.fp8());
      float[] logits = f.logits(BATCH);
      Assert.close("FP8 vs torch-dequantized", logits, d.logits(BATCH), 1e-5, 1e-5);
      // and FP8 is a real quantization: close to the original model, not equal to it
      double diff = 0;
      float[] o = orig.logits(BATCH);
      for (int i = 0; i < o.length; i++) diff = Math.max(diff, Math.abs(o[i] - logits[i]));
      assertTrue(diff > 1e-4 && diff < 0.5, "FP8 rounding moves the logits by " + diff);
    }
  }

  @Test
  void otherCompressedTensorsFormatsAndUnknownMethodsAreRefusedByName(@TempDir Path tmp) throws IOException {
    Path dir = Fixtures.tinyChatModel(tmp.resolve("int4"));
    String config = Files.readString(dir.resolve("config.json"));
    Files.writeString(dir.resolve("config.json"), config.replaceFirst("\\{", "{\"quantization_config\": {\"quant_method\": "
        + "\"compressed-tensors\", \"format\": \"pack-quantized\", \"config_groups\": {\"group_0\": {\"weights\": "
        + "{\"num_bits\": 4, \"type\": \"int\"}}}},"));
    IOException e = assertThrows(IOException.class, () -> CausalLM.load(dir, Device.CPU).close());
    assertTrue(e.getMessage().contains("format 'pack-quantized'") && e.getMessage().contains("float-quantized"),
        e.getMessage());
    Files.writeString(dir.resolve("config.json"), config.replaceFirst("\\{", "{\"quantization_config\": "
        + "{\"quant_method\": \"hqq\", \"nbits\": 4},"));
    e = assertThrows(IOException.class, () -> CausalLM.load(dir, Device.CPU).close());
    assertTrue(e.getMessage().contains("quant_method 'hqq' is not supported"), e.getMessage());
  }

  @Test
  void aScaleOfTheWrongShapeIsRefusedWithItsName(@TempDir Path tmp) throws IOException {
    Path[] dirs = convert(tmp, true);
    IOException e = assertThrows(IOException.class, () -> CausalLM.load(dirs[0], Device.CPU).close());
    assertTrue(e.getMessage().contains("model.layers.0.self_attn.q_proj.weight_scale_inv") && e.getMessage()
        .contains("[4, 3]") && e.getMessage().contains("needs [4, 2]"), e.getMessage());
  }
}
