package jswift.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Tensor;

/**
 * A block-wise FP8 checkpoint as transformers' FineGrainedFP8 saves it (config.json's {@code quantization_config}
 * with {@code quant_method "fp8"}, {@code fmt "e4m3"}, {@code weight_block_size [bo, bi]}: Qwen3's and DeepSeek's
 * -FP8 releases): per linear {@code P.weight} in float8_e4m3fn [out, in] and {@code P.weight_scale_inv}, one fp32
 * scale per [bo, bi] block ([ceil(out / bo), ceil(in / bi)]), W = weight * scale of its block. jswift computes in
 * bf16 / fp32, so each such weight is dequantized once at load (activation_scheme, FP8 activations at inference,
 * does not apply); --quant_bits 4 then re-quantizes it to NF4 like any dense weight.
 */
public record Fp8Checkpoint(int blockOut, int blockIn) {
  private static final ObjectMapper JSON = new ObjectMapper();
  public static final String SCALE = ".weight_scale_inv";

  /** The FP8 settings of a model folder, or null when it is not a FineGrainedFP8 checkpoint. */
  public static Fp8Checkpoint detect(Path dir) throws IOException {
    JsonNode q = JSON.readTree(dir.resolve("config.json").toFile()).path("quantization_config");
    if (!q.path("quant_method").asText("").equals("fp8")) return null;
    String source = dir.resolve("config.json") + " (quantization_config)";
    String fmt = q.path("fmt").asText("e4m3");
    if (!fmt.equals("e4m3"))
      throw new IOException(source + ": FP8 fmt '" + fmt + "' is not supported; jswift reads e4m3 (float8_e4m3fn)");
    JsonNode block = q.get("weight_block_size");
    if (block == null || !block.isArray() || block.size() != 2 || block.get(0).asInt() <= 0 || block.get(1).asInt() <= 0)
      throw new IOException(source + ": weight_block_size " + block + " is not [rows, cols]; jswift reads block-wise "
          + "FP8 (FineGrainedFP8) checkpoints, whose scales are per block");
    return new Fp8Checkpoint(block.get(0).asInt(), block.get(1).asInt());
  }

  /** Whether a linear layer is stored in FP8 (it has a weight_scale_inv; modules_to_not_convert do not). */
  public boolean isQuantized(Checkpoint files, String module) {
    return files.contains(module + SCALE);
  }

  /** The layer's weight dequantized, [out, in] in {@code dtype} on {@code device} (the caller owns it). */
  public Tensor load(Checkpoint files, String module, long out, long in, DType dtype, Device device)
      throws IOException {
    String name = module + ".weight", scaleName = module + SCALE;
    SafetensorsFile wf = files.file(name), sf = files.file(scaleName);
    SafetensorsFile.Entry w = wf.entry(name);
    if (!w.dtype().equals("F8_E4M3") || !Arrays.equals(w.shape(), new long[] {out, in}))
      throw new IOException(wf.path() + ": '" + name + "' is " + w.dtype() + Arrays.toString(w.shape()) + ", but an"
          + " FP8 layer's weight must be F8_E4M3[" + out + ", " + in + "]");
    long rows = (out + blockOut - 1) / blockOut, cols = (in + blockIn - 1) / blockIn;
    long[] scaleShape = sf.entry(scaleName).shape();
    if (!Arrays.equals(scaleShape, new long[] {rows, cols}))
      throw new IOException(sf.path() + ": '" + scaleName + "' is " + Arrays.toString(scaleShape) + ", but ["
          + out + ", " + in + "] in blocks of [" + blockOut + ", " + blockIn + "] needs [" + rows + ", " + cols + "]");
    if (out * in > Integer.MAX_VALUE)
      throw new IOException(wf.path() + ": '" + name + "' has " + out * in + " values, more than one array holds");
    float[] v = wf.floats(name), scale = sf.floats(scaleName);
    for (long o = 0; o < out; o++) {
      long base = o * in, srow = (o / blockOut) * cols;
      for (long i = 0; i < in; i++) v[(int) (base + i)] *= scale[(int) (srow + i / blockIn)];
    }
    return Tensor.fromFloats(v, dtype, device, out, in);
  }
}
