package jswift.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import jswift.nn.Nf4Weight;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Kernels;
import jswift.tensor.Tensor;

/**
 * A bitsandbytes 4-bit checkpoint as transformers saves it (config.json's {@code quantization_config} with
 * {@code quant_method "bitsandbytes"}, {@code load_in_4bit}, {@code bnb_4bit_quant_type "nf4"}): per linear the
 * packed codes ({@code P.weight}, u8 [(n + 1) / 2, 1]), {@code P.weight.absmax}, {@code P.weight.quant_map} and,
 * with double quantization, {@code nested_absmax} / {@code nested_quant_map}, plus the JSON bytes of the
 * remaining fields in {@code P.weight.quant_state.bitsandbytes__nf4}. The weights load as they are stored, so a
 * model loads to the same bits that were saved. FP4 and 8-bit (LLM.int8) checkpoints are refused.
 */
public record BnbCheckpoint(boolean doubleQuant) {
  private static final ObjectMapper JSON = new ObjectMapper();
  public static final String QUANT_STATE = ".weight.quant_state.bitsandbytes__nf4";

  /** The bitsandbytes settings of a model folder, or null when it is not a bitsandbytes checkpoint. */
  public static BnbCheckpoint detect(Path dir) throws IOException {
    JsonNode q = JSON.readTree(dir.resolve("config.json").toFile()).path("quantization_config");
    if (!q.path("quant_method").asText("").equals("bitsandbytes")) return null;
    String source = dir.resolve("config.json") + " (quantization_config)";
    boolean in8 = q.path("load_in_8bit").asBoolean(q.path("_load_in_8bit").asBoolean(false));
    boolean in4 = q.path("load_in_4bit").asBoolean(q.path("_load_in_4bit").asBoolean(false));
    if (in8 || !in4)
      throw new IOException(source + ": 8-bit bitsandbytes (LLM.int8) checkpoints cannot be loaded; only 4-bit nf4 "
          + "(load_in_4bit, bnb_4bit_quant_type nf4) can. Load the original model instead");
    String type = q.path("bnb_4bit_quant_type").asText("fp4");
    if (!type.equals("nf4"))
      throw new IOException(source + ": bnb_4bit_quant_type '" + type + "' is not supported; only nf4 checkpoints "
          + "load (QLoRA's type). Re-quantize the original model with nf4");
    return new BnbCheckpoint(q.path("bnb_4bit_use_double_quant").asBoolean(false));
  }

  /** Whether the checkpoint stores this linear quantized (modules it skipped stay dense). */
  boolean isQuantized(Checkpoint ckpt, String module) {
    return ckpt.contains(module + QUANT_STATE);
  }

  /** The NF4 weight [out, in] of one linear on a device; {@code code256} serves double-quantized weights. */
  Nf4Weight load(Checkpoint ckpt, String module, long out, long in, DType dtype, Device device, Tensor code256)
      throws IOException {
    Path dir = ckpt.directory();
    String w = module + ".weight";
    JsonNode state = JSON.readTree(new String(raw(ckpt, module + QUANT_STATE, "U8"), StandardCharsets.UTF_8));
    String where = dir + ": " + module + QUANT_STATE;
    if (!state.path("quant_type").asText("").equals("nf4") || state.path("blocksize").asInt() != Nf4Weight.BLOCKSIZE)
      throw new IOException(where + " says quant_type " + state.path("quant_type") + ", blocksize "
          + state.path("blocksize") + "; only nf4 with blocksize " + Nf4Weight.BLOCKSIZE + " is supported");
    JsonNode shape = state.path("shape");
    if (shape.size() != 2 || shape.get(0).asLong() != out || shape.get(1).asLong() != in)
      throw new IOException(where + " has shape " + shape + " but config.json implies [" + out + ", " + in + "]");
    long n = out * in, blocks = (n + Nf4Weight.BLOCKSIZE - 1) / Nf4Weight.BLOCKSIZE;
    boolean nested = ckpt.contains(w + ".nested_absmax");
    checkTable(ckpt, w + ".quant_map", Kernels.nf4Codebook(), "the NF4 codebook");
    expect(ckpt, w, "U8", (n + 1) / 2);
    expect(ckpt, w + ".absmax", nested ? "U8" : "F32", blocks);
    Tensor packed = null, absmax = null, nestedAbsmax = null;
    boolean ok = false;
    try {
      packed = ckpt.file(w).load(w, DType.U8, device);
      absmax = ckpt.file(w + ".absmax").load(w + ".absmax", nested ? DType.U8 : DType.F32, device);
      Nf4Weight r;
      if (!nested) {
        r = Nf4Weight.of(new long[] {out, in}, dtype, packed, absmax);
      } else {
        if (state.path("nested_blocksize").asInt() != 256 || !state.path("nested_offset").isNumber())
          throw new IOException(where + ": double quantization needs nested_blocksize 256 and a nested_offset, got "
              + state);
        checkTable(ckpt, w + ".nested_quant_map", Kernels.dynamicMapSigned(), "the signed dynamic map");
        expect(ckpt, w + ".nested_absmax", "F32", (blocks + 255) / 256);
        nestedAbsmax = ckpt.file(w + ".nested_absmax").load(w + ".nested_absmax", DType.F32, device);
        // Python writes the offset as the double value of a float32: the cast back is exact.
        float offset = (float) state.get("nested_offset").doubleValue();
        r = Nf4Weight.ofDoubleQuant(new long[] {out, in}, dtype, packed, absmax, nestedAbsmax, code256, offset);
      }
      ok = true;
      return r;
    } finally {
      if (!ok) for (Tensor t : new Tensor[] {packed, absmax, nestedAbsmax}) if (t != null) t.close();
    }
  }

  private static void expect(Checkpoint ckpt, String name, String dtype, long numel) throws IOException {
    if (!ckpt.contains(name))
      throw new IOException(ckpt.directory() + ": bitsandbytes layer has no tensor " + name);
    SafetensorsFile.Entry e = ckpt.file(name).entry(name);
    if (!e.dtype().equals(dtype) || e.numel() != numel)
      throw new IOException(ckpt.directory() + ": " + name + " is " + e.dtype() + Arrays.toString(e.shape())
          + ", expected " + dtype + " with " + numel + " elements (bitsandbytes nf4, blocksize 64)");
  }

  /** A codebook tensor must be the one our kernels hard-code (bitsandbytes writes exactly these values). */
  private static void checkTable(Checkpoint ckpt, String name, float[] want, String what) throws IOException {
    expect(ckpt, name, "F32", want.length);
    float[] got = ckpt.file(name).floats(name);
    if (!Arrays.equals(got, want))
      throw new IOException(ckpt.directory() + ": " + name + " is not " + what + " (a custom codebook is not "
          + "supported)");
  }

  private static byte[] raw(Checkpoint ckpt, String name, String dtype) throws IOException {
    SafetensorsFile.Entry e = ckpt.file(name).entry(name);
    if (!e.dtype().equals(dtype))
      throw new IOException(ckpt.directory() + ": " + name + " is " + e.dtype() + ", expected " + dtype);
    java.nio.ByteBuffer b = ckpt.file(name).bytes(name);
    byte[] out = new byte[b.remaining()];
    b.get(out);
    return out;
  }

  /**
   * The JSON bytes bitsandbytes packs into {@code quant_state.bitsandbytes__nf4} ({@code json.dumps} of the
   * non-tensor fields of {@code QuantState.as_dict(packed=True)}, in its key order and separators).
   */
  public static byte[] quantStateJson(long out, long in, String dtype, boolean nested, float offset) {
    StringBuilder s = new StringBuilder("{\"quant_type\": \"nf4\", \"blocksize\": ").append(Nf4Weight.BLOCKSIZE)
        .append(", \"dtype\": \"").append(dtype).append("\", \"shape\": [").append(out).append(", ").append(in)
        .append("]");
    if (nested)
      s.append(", \"nested_blocksize\": 256, \"nested_dtype\": \"float32\", \"nested_offset\": ")
          .append(pythonRepr(offset));
    return s.append("}").toString().getBytes(StandardCharsets.UTF_8);
  }

  /** Python's repr of the double value of {@code v} (positional for exponents -4..15, else 1.5e-05 style). */
  static String pythonRepr(float v) {
    double d = v;
    if (d == 0) return (1 / d < 0) ? "-0.0" : "0.0";
    BigDecimal b = new BigDecimal(Double.toString(d)).stripTrailingZeros();
    int exp = b.precision() - b.scale() - 1;
    if (exp >= -4 && exp < 16) {
      String p = b.toPlainString();
      return p.contains(".") ? p : p + ".0";
    }
    String digits = b.unscaledValue().abs().toString();
    String mant = digits.length() == 1 ? digits : digits.charAt(0) + "." + digits.substring(1);
    return (d < 0 ? "-" : "") + mant + "e" + (exp < 0 ? "-" : "+") + String.format("%02d", Math.abs(exp));
  }
}
