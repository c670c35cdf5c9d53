package jswift.quant;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import jswift.model.SafetensorsDtype;
import jswift.model.TensorSource;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Tensor;

/**
 * One quantized linear in the "gptq" v1 layout, on the host: the four tensors AutoGPTQ writes per module
 * ({@code qweight}, {@code qzeros}, {@code scales} f16, {@code g_idx}) plus the optional bias (f16).
 */
record GptqPacked(String module, long in, long out, int bits, long groups, int[] qweight, int[] qzeros,
    byte[] scalesF16, int[] gIdx, byte[] biasF16) {

  /** Packs a quantizer's outputs (codes [out, in], scales f32 [groups, out], true zeros, g_idx). */
  static GptqPacked of(String module, long in, long out, int bits, long groups, int[] codes, float[] scales,
      int[] zeros, int[] gIdx, float[] bias) {
    return new GptqPacked(module, in, out, bits, groups, GptqLayout.packWeight(codes, in, out, bits),
        GptqLayout.packZeros(zeros, groups, out, bits), f16(scales), gIdx, bias == null ? null : f16(bias));
  }

  List<TensorSource> tensors() {
    int p = 32 / bits;
    List<TensorSource> t = new ArrayList<>();
    t.add(TensorSource.of(module + ".qweight", SafetensorsDtype.I32, new long[] {in / p, out}, le(qweight)));
    t.add(TensorSource.of(module + ".qzeros", SafetensorsDtype.I32, new long[] {groups, out / p}, le(qzeros)));
    t.add(TensorSource.of(module + ".scales", SafetensorsDtype.F16, new long[] {groups, out}, scalesF16));
    t.add(TensorSource.of(module + ".g_idx", SafetensorsDtype.I32, new long[] {in}, le(gIdx)));
    if (biasF16 != null) t.add(TensorSource.of(module + ".bias", SafetensorsDtype.F16, new long[] {out}, biasF16));
    return t;
  }

  /** Bytes of the packed tensors. */
  long bytes() {
    return 4L * (qweight.length + qzeros.length + gIdx.length) + scalesF16.length
        + (biasF16 == null ? 0 : biasF16.length);
  }

  static byte[] le(int[] v) {
    ByteBuffer b = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
    b.asIntBuffer().put(v);
    return b.array();
  }

  /** fp32 values rounded to f16 (nearest even), little-endian bytes. */
  static byte[] f16(float[] v) {
    try (Tensor t = Tensor.fromFloats(v, DType.F16, Device.CPU, v.length)) {
      return t.toByteArray();
    }
  }
}
