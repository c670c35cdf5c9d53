package jswift.quant;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.WritableByteChannel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import jswift.model.BnbCheckpoint;
import jswift.model.Checkpoint;
import jswift.model.SafetensorsDtype;
import jswift.model.TensorSource;
import jswift.nn.Nf4Weight;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Kernels;
import jswift.tensor.Tensor;

/**
 * Quantizes a Hugging Face model folder to a bitsandbytes 4-bit NF4 checkpoint, as transformers saves a model
 * loaded with {@code BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4")}: every decoder linear
 * becomes {@code weight} (u8 codes), {@code weight.absmax}, {@code weight.quant_map}, with double quantization
 * {@code weight.nested_absmax} / {@code weight.nested_quant_map}, and {@code weight.quant_state.bitsandbytes__nf4}
 * (see {@link BnbCheckpoint}); every other tensor is copied byte for byte. Linears are quantized (on the CPU, from
 * their fp32 values, as {@code CausalLM}'s NF4-at-load does) when their turn to be written comes, one at a time, so
 * the heap never holds the model. The folder is written into a temporary sibling renamed at the end.
 */
public final class BnbExporter {
  private static final ObjectMapper JSON = new ObjectMapper();
  private BnbExporter() {}

  /** Quantizes {@code modelDir} into {@code outDir}, which must not exist or be empty. */
  public static StreamedExport.Result export(Path modelDir, Path outDir, boolean doubleQuant, long maxShardSize)
      throws IOException {
    GptqExporter.refuseQuantized(modelDir);
    ObjectNode cfg = (ObjectNode) JSON.readTree(modelDir.resolve("config.json").toFile());
    String dtype = cfg.path("dtype").asText(cfg.path("torch_dtype").asText("float32"));
    try (Checkpoint ckpt = Checkpoint.open(modelDir); Quantizer q = new Quantizer(ckpt, doubleQuant)) {
      return StreamedExport.export(modelDir, outDir, maxShardSize, ckpt,
          (f, name, out, in) -> q.sources(name, out, in, f.dtype(name)), quantizationConfig(doubleQuant, dtype));
    }
  }

  /**
   * Quantizes each linear when its first tensor is written and keeps it until another linear is asked for (the
   * writer goes through one module's tensors in a row). With double quantization the JSON holds the offset, whose
   * length the file header needs before any body is written: a first pass computes each linear's offset.
   */
  private static final class Quantizer implements AutoCloseable {
    private final Checkpoint ckpt;
    private final boolean doubleQuant;
    private final Tensor code256;
    private final Map<String, Float> offsets = new HashMap<>();
    private String module;
    private Nf4Weight current;

    Quantizer(Checkpoint ckpt, boolean doubleQuant) {
      this.ckpt = ckpt;
      this.doubleQuant = doubleQuant;
      this.code256 = doubleQuant ? Nf4Weight.dynamicMap(Device.CPU) : null;
    }

    List<TensorSource> sources(String weight, long out, long in, DType stored) throws IOException {
      String p = weight;  // keys hang off "<module>.weight"
      long n = out * in, blocks = (n + Nf4Weight.BLOCKSIZE - 1) / Nf4Weight.BLOCKSIZE;
      float offset = 0;
      if (doubleQuant) {
        offset = get(weight, out, in).offset();
        offsets.put(weight, offset);
      }
      List<TensorSource> s = new ArrayList<>();
      s.add(TensorSource.custom(p, SafetensorsDtype.U8, new long[] {(n + 1) / 2, 1},
          ch -> write(ch, get(weight, out, in).packed())));
      if (!doubleQuant) {
        s.add(TensorSource.custom(p + ".absmax", SafetensorsDtype.F32, new long[] {blocks},
            ch -> write(ch, get(weight, out, in).absmax())));
      } else {
        s.add(TensorSource.custom(p + ".absmax", SafetensorsDtype.U8, new long[] {blocks},
            ch -> write(ch, get(weight, out, in).absmaxCodes())));
        s.add(TensorSource.custom(p + ".nested_absmax", SafetensorsDtype.F32, new long[] {(blocks + 255) / 256},
            ch -> write(ch, get(weight, out, in).nestedAbsmax())));
        s.add(TensorSource.of(p + ".nested_quant_map", SafetensorsDtype.F32, new long[] {256},
            f32(Kernels.dynamicMapSigned())));
      }
      s.add(TensorSource.of(p + ".quant_map", SafetensorsDtype.F32, new long[] {16}, f32(Kernels.nf4Codebook())));
      byte[] json = BnbCheckpoint.quantStateJson(out, in, stored.torchName(), doubleQuant, offset);
      s.add(TensorSource.of(p + ".quant_state.bitsandbytes__nf4", SafetensorsDtype.U8, new long[] {json.length},
          json));
      return s;
    }

    /** The NF4 weight of one linear, quantized from its fp32 values on the CPU. */
    private Nf4Weight get(String weight, long out, long in) throws IOException {
      if (weight.equals(module)) return current;
      drop();
      try (Tensor w = ckpt.load(weight, new long[] {out, in}, DType.F32, Device.CPU)) {
        current = Nf4Weight.quantize(w, doubleQuant, code256);
      }
      module = weight;
      Float planned = offsets.get(weight);
      if (planned != null && planned != current.offset())
        throw new IllegalStateException(weight + ": the double-quantization offset changed between two quantizations "
            + "of the same weight (" + planned + " vs " + current.offset() + ")");
      return current;
    }

    private static void write(WritableByteChannel ch, Tensor t) throws IOException {
      ByteBuffer b = ByteBuffer.wrap(t.toByteArray());
      while (b.hasRemaining()) ch.write(b);
    }

    private static byte[] f32(float[] v) {
      ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
      for (float x : v) b.putFloat(x);
      return b.array();
    }

    private void drop() {
      if (current != null) current.close();
      current = null;
      module = null;
    }

    @Override
    public void close() {
      drop();
      if (code256 != null) code256.close();
    }
  }

  /** transformers' {@code BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", ...).to_dict()}. */
  static ObjectNode quantizationConfig(boolean doubleQuant, String computeDtype) {
    ObjectNode q = JSON.createObjectNode();
    q.put("quant_method", "bitsandbytes");
    q.put("_load_in_8bit", false);
    q.put("_load_in_4bit", true);
    q.put("llm_int8_threshold", 6.0);
    q.putNull("llm_int8_skip_modules");
    q.put("llm_int8_enable_fp32_cpu_offload", false);
    q.put("llm_int8_has_fp16_weight", false);
    q.put("bnb_4bit_quant_type", "nf4");
    q.put("bnb_4bit_use_double_quant", doubleQuant);
    q.put("bnb_4bit_compute_dtype", computeDtype);
    q.put("bnb_4bit_quant_storage", "uint8");
    q.put("load_in_4bit", true);
    q.put("load_in_8bit", false);
    return q;
  }
}
