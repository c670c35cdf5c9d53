package jswift.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Path;
import jswift.nn.AwqWeight;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Tensor;

/**
 * An AutoAWQ checkpoint's settings, from config.json's {@code quantization_config} ({@code quant_method "awq"},
 * as AutoAWQ and transformers write it), and the loading of its quantized linears. Only the "gemm" version (the
 * layout transformers, vLLM and AutoRound read) with zero points and 4 bits is supported; "gemv", "gemv_fast",
 * "marlin", "exllama" or "ipex" folders and symmetric (zero_point false) ones are refused with a clear message.
 * Linears listed in {@code modules_to_not_convert} (or simply stored with a dense {@code .weight}) load dense.
 */
public record AwqCheckpoint(int bits, int groupSize) {
  private static final ObjectMapper JSON = new ObjectMapper();

  /** The AWQ settings of a model folder, or null when it is not an AWQ checkpoint. */
  public static AwqCheckpoint detect(Path dir) throws IOException {
    JsonNode q = JSON.readTree(dir.resolve("config.json").toFile()).path("quantization_config");
    if (!q.path("quant_method").asText("").equals("awq")) return null;
    String source = dir.resolve("config.json") + " (quantization_config)";
    String version = q.path("version").asText("gemm").toLowerCase(java.util.Locale.ROOT);
    if (!version.equals("gemm"))
      throw new IOException(source + ": AWQ version '" + version + "' is not supported; only \"gemm\" (AutoAWQ's "
          + "default, the layout transformers reads) is. Re-export the model with version GEMM");
    int bits = q.has("bits") ? q.get("bits").asInt() : q.path("w_bit").asInt(4);
    if (bits != 4)
      throw new IOException(source + ": AWQ bits " + bits + " is not supported (the GEMM layout is 4-bit only)");
    if (!q.path("zero_point").asBoolean(true))
      throw new IOException(source + ": zero_point false (symmetric AWQ) is not supported; only AutoAWQ's default "
          + "zero_point true checkpoints load");
    int group = q.has("group_size") ? q.get("group_size").asInt() : q.path("q_group_size").asInt(128);
    if (group != -1 && group <= 0)
      throw new IOException(source + ": group_size " + group + " is not valid (> 0, or -1 for one group per row)");
    return new AwqCheckpoint(bits, group);
  }

  /** Whether the checkpoint stores this linear quantized (modules_to_not_convert keep a dense weight). */
  boolean isQuantized(Checkpoint ckpt, String module) {
    return ckpt.contains(module + ".qweight");
  }

  /** The quantized weight of one linear on a device; the dense compute dtype is {@code dtype}. */
  AwqWeight load(Checkpoint ckpt, String module, long out, long in, DType dtype, Device device) throws IOException {
    return PackedTensors.load(ckpt, "an AWQ", module, new String[] {".qweight", ".qzeros", ".scales"},
        new DType[] {DType.I32, DType.I32, DType.F16}, device,
        t -> new AwqWeight(module, out, in, groupSize, dtype, t[0], t[1], t[2]));
  }
}
