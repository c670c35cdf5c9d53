package jswift.quant;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.List;
import jswift.model.Checkpoint;
import jswift.model.Float8E4M3;
import jswift.model.Fp8Checkpoint;
import jswift.model.SafetensorsDtype;
import jswift.model.TensorSource;

/**
 * Quantizes a Hugging Face model folder to block-wise FP8 as transformers saves a model loaded with
 * {@code FineGrainedFP8Config()} (ms-swift's {@code export --quant_method fp8}): every decoder linear becomes
 * {@code weight} in float8_e4m3fn and {@code weight_scale_inv}, one fp32 scale per [128, 128] block, max |w| / 448
 * of the block (each value times 448 / max |w|, rounded to the nearest e4m3 value, ties to even, as torch's
 * conversion rounds); every other tensor is copied byte for byte, and config.json gets the FP8
 * {@code quantization_config} ({@link Fp8Checkpoint} reads it back). No calibration: one linear at a time is read,
 * encoded and written, into a temporary sibling folder renamed at the end.
 */
public final class Fp8Exporter {
  private static final ObjectMapper JSON = new ObjectMapper();
  public static final int BLOCK = 128;

  private Fp8Exporter() {}

  /** One encoded weight: the e4m3 codes (row-major [out, in]) and the [ceil(out / 128), ceil(in / 128)] scales. */
  record Encoded(byte[] codes, float[] scaleInv) {}

  /** Encodes one [out, in] weight. */
  static Encoded quantize(float[] w, int out, int in) {
    int rows = (out + BLOCK - 1) / BLOCK, cols = (in + BLOCK - 1) / BLOCK;
    float[] amax = new float[rows * cols];
    for (int o = 0; o < out; o++)
      for (int i = 0; i < in; i++) {
        int b = (o / BLOCK) * cols + i / BLOCK;
        amax[b] = Math.max(amax[b], Math.abs(w[o * in + i]));
      }
    float[] scaleInv = new float[amax.length], scale = new float[amax.length];
    for (int b = 0; b < amax.length; b++) {
      float m = Math.max(amax[b], 1e-12f);  // an all-zero block keeps a finite scale
      scale[b] = 448f / m;
      scaleInv[b] = m / 448f;
    }
    byte[] codes = new byte[w.length];
    for (int o = 0; o < out; o++)
      for (int i = 0; i < in; i++)
        codes[o * in + i] = Float8E4M3.encode(w[o * in + i] * scale[(o / BLOCK) * cols + i / BLOCK]);
    return new Encoded(codes, scaleInv);
  }

  /** Quantizes {@code modelDir} into {@code outDir}, which must not exist or be empty. */
  public static StreamedExport.Result export(Path modelDir, Path outDir, long maxShardSize) throws IOException {
    GptqExporter.refuseQuantized(modelDir);
    ObjectNode q = JSON.createObjectNode();
    q.put("activation_scheme", "dynamic");
    q.put("fmt", "e4m3");
    q.put("quant_method", "fp8");
    q.putArray("weight_block_size").add(BLOCK).add(BLOCK);
    try (Checkpoint ckpt = Checkpoint.open(modelDir)) {
      LastEncoded cache = new LastEncoded(ckpt);
      return StreamedExport.export(modelDir, outDir, maxShardSize, ckpt, (f, name, out, in) -> {
        int o = (int) out, i = (int) in;
        String scale = name.substring(0, name.length() - ".weight".length()) + Fp8Checkpoint.SCALE;
        return List.of(TensorSource.custom(name, SafetensorsDtype.F8_E4M3, new long[] {out, in},
                ch -> write(ch, ByteBuffer.wrap(cache.get(name, o, i).codes()))),
            TensorSource.custom(scale, SafetensorsDtype.F32, new long[] {(o + BLOCK - 1) / BLOCK, (i + BLOCK - 1) / BLOCK},
                ch -> write(ch, f32(cache.get(name, o, i).scaleInv()))));
      }, q);
    }
  }

  /** The last linear encoded: the writer asks for a weight's codes and then its scales. */
  private static final class LastEncoded {
    private final Checkpoint ckpt;
    private String name;
    private Encoded encoded;

    LastEncoded(Checkpoint ckpt) {
      this.ckpt = ckpt;
    }

    Encoded get(String weight, int out, int in) throws IOException {
      if (!weight.equals(name)) {
        encoded = quantize(ckpt.file(weight).floats(weight), out, in);
        name = weight;
      }
      return encoded;
    }
  }

  private static void write(java.nio.channels.WritableByteChannel ch, ByteBuffer b) throws IOException {
    while (b.hasRemaining()) ch.write(b);
  }

  private static ByteBuffer f32(float[] v) {
    ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
    for (float x : v) b.putFloat(x);
    return b.flip();
  }

}
