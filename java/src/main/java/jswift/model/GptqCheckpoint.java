package jswift.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import jswift.nn.GptqWeight;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Tensor;

/**
 * A GPTQ checkpoint's quantization settings, from config.json's {@code quantization_config} (transformers) or,
 * for older AutoGPTQ folders, {@code quantize_config.json}; and the loading of its quantized linears. AutoGPTQ's
 * "gptq" (v1) checkpoint format is read as stored; GPTQModel's "gptq_v2" (zero points stored as they are, where v1
 * stores zero - 1) is converted to v1 at load, which holds every zero point but 0 (a v2 layer with a zero point of 0
 * is refused by name); the "marlin" repacking is refused.
 */
public record GptqCheckpoint(int bits, int groupSize, boolean v2) {
  public GptqCheckpoint(int bits, int groupSize) {
    this(bits, groupSize, false);
  }

  private static final ObjectMapper JSON = new ObjectMapper();

  /** The GPTQ settings of a model folder, or null when it is not a GPTQ checkpoint. */
  public static GptqCheckpoint detect(Path dir) throws IOException {
    JsonNode q = JSON.readTree(dir.resolve("config.json").toFile()).path("quantization_config");
    Path legacy = dir.resolve("quantize_config.json");
    String source = dir.resolve("config.json") + " (quantization_config)";
    if ((q.isMissingNode() || q.isNull()) && Files.exists(legacy)) {
      q = JSON.readTree(legacy.toFile());
      source = legacy.toString();
    }
    if (q.isMissingNode() || q.isNull()) return null;
    String method = q.path("quant_method").asText("gptq");
    if (!method.equals("gptq")) return null;  // other methods (awq: AwqCheckpoint) are not ours to judge here
    String format = q.path("checkpoint_format").asText(q.path("format").asText("gptq"));
    if (!format.equals("gptq") && !format.equals("gptq_v2"))
      throw new IOException(source + ": checkpoint_format '" + format + "' is not supported (AutoGPTQ's \"gptq\" and "
          + "GPTQModel's \"gptq_v2\" layouts are; GPTQModel can save those with format=\"gptq\")");
    int bits = q.has("bits") ? q.get("bits").asInt() : q.path("w_bit").asInt(4);
    int group = q.has("group_size") ? q.get("group_size").asInt() : q.path("q_group_size").asInt(128);
    if (bits != 2 && bits != 4 && bits != 8)
      throw new IOException(source + ": bits " + bits + " is not supported (2, 4 or 8; 3-bit packing is not read)");
    return new GptqCheckpoint(bits, group, format.equals("gptq_v2"));
  }

  /** Whether the checkpoint stores this linear quantized (it may keep some linears dense). */
  boolean isQuantized(Checkpoint ckpt, String module) {
    return ckpt.contains(module + ".qweight");
  }

  /** The quantized weight of one linear on a device; the dense compute dtype is {@code dtype}. */
  GptqWeight load(Checkpoint ckpt, String module, long out, long in, DType dtype, Device device) throws IOException {
    return PackedTensors.load(ckpt, "a GPTQ", module, new String[] {".qweight", ".qzeros", ".scales", ".g_idx"},
        new DType[] {DType.I32, DType.I32, DType.F16, DType.I32}, device,
        t -> {
          if (v2) t[1].copyFrom(v2ZerosToV1(t[1].toIntArray(), bits, module));
          return new GptqWeight(module, out, in, bits, dtype, t[0], t[1], t[2], t[3]);
        });
  }

  /**
   * GPTQModel's v2 zero points (packed {@code bits} to a field, low bits first) as v1 stores them: each one less by
   * one. A zero point of 0 has no v1 form (v1 reads stored + 1) and is refused.
   */
  public static int[] v2ZerosToV1(int[] packed, int bits, String module) {
    int per = 32 / bits, mask = (1 << bits) - 1;
    int[] out = new int[packed.length];
    for (int i = 0; i < packed.length; i++) {
      int word = 0;
      for (int k = 0; k < per; k++) {
        int z = (packed[i] >>> (k * bits)) & mask;
        if (z == 0)
          throw new IllegalArgumentException(module + ".qzeros holds a zero point of 0, which the gptq (v1) kernels "
              + "cannot represent: re-save the model with GPTQModel's format=\"gptq\", or quantize it with sym=True");
        word |= (z - 1) << (k * bits);
      }
      out[i] = word;
    }
    return out;
  }
}
