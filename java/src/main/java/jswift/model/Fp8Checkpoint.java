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
 * An FP8 checkpoint, read as one of its two common layouts (config.json's {@code quantization_config}):
 *
 * <ul>
 *   <li>transformers' FineGrainedFP8 ({@code quant_method "fp8"}, {@code fmt "e4m3"}, {@code weight_block_size
 *       [bo, bi]}: Qwen3's and DeepSeek's -FP8 releases, and {@code jswift export --quant_method fp8}): per linear
 *       {@code P.weight} in float8_e4m3fn [out, in] and {@code P.weight_scale_inv}, one fp32 scale per [bo, bi]
 *       block ([ceil(out / bo), ceil(in / bi)]);
 *   <li>compressed-tensors' float-quantized FP8 ({@code quant_method "compressed-tensors"}, {@code format
 *       "float-quantized"}, weights of 8-bit {@code type "float"}: llm-compressor's and vLLM's FP8 models):
 *       {@code P.weight} and {@code P.weight_scale} per tensor ([1] or a scalar), per output channel ([out, 1]) or
 *       per block ({@code block_structure}); activation scales ({@code input_scale}) are ignored.
 * </ul>
 *
 * Either way W = weight * the scale of its block. jswift computes in bf16 / fp32, so each such weight is
 * dequantized once at load (FP8 activations at inference do not apply); --quant_bits 4 then re-quantizes it to NF4
 * like any dense weight. Modules the checkpoint left unquantized (lm_head, an ignore list) have no scale and load
 * as stored.
 *
 * @param strategy  "block", "channel" or "tensor": what one scale covers
 * @param blockOut  block rows (strategy block)
 * @param blockIn   block columns (strategy block)
 * @param scaleSuffix  ".weight_scale_inv" (FineGrainedFP8) or ".weight_scale" (compressed-tensors)
 */
public record Fp8Checkpoint(String strategy, int blockOut, int blockIn, String scaleSuffix) {
  private static final ObjectMapper JSON = new ObjectMapper();
  public static final String SCALE = ".weight_scale_inv";

  /** The FP8 settings of a model folder, or null when it is not an FP8 checkpoint. */
  public static Fp8Checkpoint detect(Path dir) throws IOException {
    JsonNode q = JSON.readTree(dir.resolve("config.json").toFile()).path("quantization_config");
    String method = q.path("quant_method").asText("");
    String source = dir.resolve("config.json") + " (quantization_config)";
    if (method.equals("compressed-tensors")) return compressedTensors(q, source);
    if (!method.equals("fp8")) return null;
    String fmt = q.path("fmt").asText("e4m3");
    if (!fmt.equals("e4m3"))
      throw new IOException(source + ": FP8 fmt '" + fmt + "' is not supported; jswift reads e4m3 (float8_e4m3fn)");
    int[] block = block(q.get("weight_block_size"), source + ": weight_block_size");
    return new Fp8Checkpoint("block", block[0], block[1], SCALE);
  }

  private static Fp8Checkpoint compressedTensors(JsonNode q, String source) throws IOException {
    String format = q.path("format").asText("");
    JsonNode groups = q.path("config_groups");
    if (!format.equals("float-quantized") || !groups.isObject() || groups.size() != 1)
      throw new IOException(source + ": compressed-tensors format '" + format + "' with " + groups.size() + " config "
          + "group(s) is not supported; jswift reads its float-quantized FP8 checkpoints (one config group)");
    JsonNode w = groups.elements().next().path("weights");
    if (w.path("num_bits").asInt() != 8 || !w.path("type").asText().equals("float"))
      throw new IOException(source + ": compressed-tensors weights of " + w.path("num_bits").asInt() + "-bit "
          + w.path("type").asText() + " are not supported; jswift reads 8-bit float (FP8) weights");
    String strategy = w.path("strategy").asText("tensor");
    return switch (strategy) {
      case "tensor", "channel" -> new Fp8Checkpoint(strategy, 0, 0, ".weight_scale");
      case "block" -> {
        int[] b = block(w.get("block_structure"), source + ": block_structure");
        yield new Fp8Checkpoint("block", b[0], b[1], ".weight_scale");
      }
      default -> throw new IOException(source + ": compressed-tensors weight strategy '" + strategy + "' is not "
          + "supported (tensor, channel and block are)");
    };
  }

  private static int[] block(JsonNode b, String what) throws IOException {
    if (b == null || !b.isArray() || b.size() != 2 || b.get(0).asInt() <= 0 || b.get(1).asInt() <= 0)
      throw new IOException(what + " " + b + " is not [rows, cols]");
    return new int[] {b.get(0).asInt(), b.get(1).asInt()};
  }

  /** Whether a linear layer is stored in FP8 (it has a scale; the modules left unquantized do not). */
  public boolean isQuantized(Checkpoint files, String module) {
    return files.contains(module + scaleSuffix);
  }

  /** The layer's weight dequantized, [out, in] in {@code dtype} on {@code device} (the caller owns it). */
  public Tensor load(Checkpoint files, String module, long out, long in, DType dtype, Device device)
      throws IOException {
    String name = module + ".weight", scaleName = module + scaleSuffix;
    SafetensorsFile wf = files.file(name), sf = files.file(scaleName);
    SafetensorsFile.Entry w = wf.entry(name);
    if (!w.dtype().equals("F8_E4M3") || !Arrays.equals(w.shape(), new long[] {out, in}))
      throw new IOException(wf.path() + ": '" + name + "' is " + w.dtype() + Arrays.toString(w.shape()) + ", but an"
          + " FP8 layer's weight must be F8_E4M3[" + out + ", " + in + "]");
    long bo = strategy.equals("block") ? blockOut : strategy.equals("channel") ? 1 : out;
    long bi = strategy.equals("block") ? blockIn : in;
    long rows = (out + bo - 1) / bo, cols = (in + bi - 1) / bi;
    long[] scaleShape = sf.entry(scaleName).shape();
    boolean fits = Arrays.equals(scaleShape, new long[] {rows, cols})
        || (cols == 1 && Arrays.equals(scaleShape, new long[] {rows}))
        || (rows * cols == 1 && Arrays.stream(scaleShape).reduce(1, (a, b) -> a * b) == 1);
    if (!fits)
      throw new IOException(sf.path() + ": '" + scaleName + "' is " + Arrays.toString(scaleShape) + ", but [" + out
          + ", " + in + "] with one scale per " + (strategy.equals("block") ? "[" + bo + ", " + bi + "] block"
          : strategy.equals("channel") ? "output channel" : "tensor") + " needs [" + rows + ", " + cols + "]");
    if (out * in > Integer.MAX_VALUE)
      throw new IOException(wf.path() + ": '" + name + "' has " + out * in + " values, more than one array holds");
    float[] v = wf.floats(name), scale = sf.floats(scaleName);
    for (long o = 0; o < out; o++) {
      long base = o * in, srow = (o / bo) * cols;
      for (long i = 0; i < in; i++) v[(int) (base + i)] *= scale[(int) (srow + i / bi)];
    }
    return Tensor.fromFloats(v, dtype, device, out, in);
  }
}
