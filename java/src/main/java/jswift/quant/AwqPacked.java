package jswift.quant;

import java.util.ArrayList;
import java.util.List;
import jswift.model.SafetensorsDtype;
import jswift.model.TensorSource;

/**
 * One quantized linear in AutoAWQ's GEMM layout, on the host: the three tensors WQLinear_GEMM stores per module
 * ({@code qweight} i32 [in, out / 8], {@code qzeros} i32 [groups, out / 8], {@code scales} f16 [groups, out]) plus
 * the optional bias (f16).
 */
record AwqPacked(String module, long in, long out, long groups, int[] qweight, int[] qzeros, byte[] scalesF16,
    byte[] biasF16) {

  /** Packs a quantizer's outputs (codes [out, in], scales [groups, out], zeros [groups, out]). */
  static AwqPacked of(String module, long in, long out, AwqQuantizer.Result q, long groups, float[] bias) {
    return new AwqPacked(module, in, out, groups, AwqLayout.packWeight(q.codes(), in, out),
        AwqLayout.packZeros(q.zeros(), groups, out), GptqPacked.f16(q.scales()),
        bias == null ? null : GptqPacked.f16(bias));
  }

  List<TensorSource> tensors() {
    List<TensorSource> t = new ArrayList<>();
    t.add(TensorSource.of(module + ".qweight", SafetensorsDtype.I32, new long[] {in, out / 8}, GptqPacked.le(qweight)));
    t.add(TensorSource.of(module + ".qzeros", SafetensorsDtype.I32, new long[] {groups, out / 8},
        GptqPacked.le(qzeros)));
    t.add(TensorSource.of(module + ".scales", SafetensorsDtype.F16, new long[] {groups, out}, scalesF16));
    if (biasF16 != null) t.add(TensorSource.of(module + ".bias", SafetensorsDtype.F16, new long[] {out}, biasF16));
    return t;
  }

  /** Bytes of the packed tensors. */
  long bytes() {
    return 4L * (qweight.length + qzeros.length) + scalesF16.length + (biasF16 == null ? 0 : biasF16.length);
  }
}
