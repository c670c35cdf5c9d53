package jswift.bench;

import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Tensor;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.global.torch;

/**
 * A random GPTQ linear [out, in] ("gptq" v1 layout, group size 128, an act-order g_idx by default) held twice: as jswift
 * tensors for the kernels and as libtorch tensors for the peer, whose {@link #torchDequantize} is AutoGPTQ's
 * pure-PyTorch dequantization (shift the packed words by [0, bits, 2 bits, ...], mask, gather scales and zeros by
 * g_idx), the path a CPU user of AutoGPTQ / GPTQModel runs.
 */
final class GptqData implements AutoCloseable {
  final long out, in, groups;
  final int bits;
  final Tensor qweight, qzeros, scales, gIdx;
  private final org.bytedeco.pytorch.Tensor tq, tz, ts, tg, wfWeight, wfZeros;

  GptqData(long out, long in, int bits) {
    this(out, in, bits, true);
  }

  /** actOrder false: inputs in group order (g_idx[k] = k / 128), as checkpoints without desc_act store them. */
  GptqData(long out, long in, int bits, boolean actOrder) {
    this.out = out;
    this.in = in;
    this.bits = bits;
    int p = 32 / bits;
    groups = (in + 127) / 128;
    java.util.Random r = new java.util.Random(7);
    int[] qw = new int[Math.toIntExact(in / p * out)], qz = new int[Math.toIntExact(groups * out / p)];
    for (int i = 0; i < qw.length; i++) qw[i] = r.nextInt();
    for (int i = 0; i < qz.length; i++) qz[i] = r.nextInt();
    float[] sc = new float[Math.toIntExact(groups * out)];
    for (int i = 0; i < sc.length; i++) sc[i] = 0.001f + 0.01f * r.nextFloat();
    int[] g = new int[Math.toIntExact(in)];
    for (int k = 0; k < in; k++) g[k] = (int) (k / 128);
    for (int k = g.length - 1; actOrder && k > 0; k--) {  // act-order: a shuffled g_idx
      int j = r.nextInt(k + 1), t = g[k];
      g[k] = g[j];
      g[j] = t;
    }
    qweight = Tensor.fromInts(qw, Device.CPU, in / p, out);
    qzeros = Tensor.fromInts(qz, Device.CPU, groups, out / p);
    scales = Tensor.fromFloats(sc, DType.F16, Device.CPU, groups, out);
    gIdx = Tensor.fromInts(g, Device.CPU, in);
    tq = org.bytedeco.pytorch.Tensor.create(qw, in / p, out).clone();
    tz = org.bytedeco.pytorch.Tensor.create(qz, groups, out / p).clone();
    ts = org.bytedeco.pytorch.Tensor.create(scales.toFloatArray(), groups, out).clone();
    tg = org.bytedeco.pytorch.Tensor.create(g, in).clone().to(torch.ScalarType.Long);
    int[] shifts = new int[p];
    for (int j = 0; j < p; j++) shifts[j] = bits * j;
    wfWeight = org.bytedeco.pytorch.Tensor.create(shifts, 1, p, 1).clone();
    wfZeros = org.bytedeco.pytorch.Tensor.create(shifts, 1, 1, p).clone();
  }

  /** Bytes of the packed weight (qweight, qzeros, f16 scales, g_idx): what a GEMV must read once. */
  static double packedBytes(double out, double in, int bits) {
    double groups = Math.ceil(in / 128);
    return out * in * bits / 8 + groups * out * (2 + bits / 8.0) + 4 * in;
  }

  /** W^T [in, out] in fp32 as AutoGPTQ's torch path computes it (call inside a PointerScope). */
  org.bytedeco.pytorch.Tensor torchDequantize() {
    Scalar mask = new Scalar((1 << bits) - 1);
    org.bytedeco.pytorch.Tensor w = tq.unsqueeze(1).bitwise_right_shift(wfWeight).bitwise_and(mask).reshape(in, out);
    org.bytedeco.pytorch.Tensor z = tz.unsqueeze(2).bitwise_right_shift(wfZeros).bitwise_and(mask).add(new Scalar(1))
        .bitwise_and(mask).reshape(groups, out);
    return ts.index_select(0, tg).mul(w.sub(z.index_select(0, tg)).to(torch.ScalarType.Float));
  }

  @Override
  public void close() {
    for (Tensor t : new Tensor[] {qweight, qzeros, scales, gIdx}) t.close();
  }
}
