package jswift.nn;

import jswift.tensor.Arena;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Kernels;
import jswift.tensor.Tensor;

/**
 * A frozen linear weight [out, in] as a GPTQ checkpoint stores it ("gptq" v1 layout of AutoGPTQ / GPTQModel):
 * packed codes {@code qweight} i32 [in * bits / 32, out], packed zero points {@code qzeros} i32 [groups, out *
 * bits / 32], {@code scales} f16 [groups, out] and the group of every input {@code g_idx} i32 [in] (non-monotone
 * after act-order). Products run straight from the packed words: the dequant-to-tile GEMM ({@link #matmul},
 * {@link #matmulBackward}) and, for decode, the fused GEMV ({@link #gemv}); the layer holds ~bits + 0.3 bits per
 * value and never a dense copy.
 */
public final class GptqWeight implements QuantizedWeight {
  /** Inputs of at most this many rows take the fused GEMV (as NF4's {@link Linear#NF4_GEMV_ROWS}). */
  static final int GEMV_ROWS = 4;

  private final String name;
  private final long out, in;
  private final int bits;
  private final DType computeDtype;
  private final Tensor qweight, qzeros, scales, gIdx;

  /**
   * Takes ownership of the four tensors (all on one device) after checking their dtypes and shapes against
   * [out, in] and bits, and every g_idx value against the number of groups (so no kernel sees a bad one).
   */
  public GptqWeight(String name, long out, long in, int bits, DType computeDtype, Tensor qweight, Tensor qzeros,
      Tensor scales, Tensor gIdx) {
    this.name = name;
    this.out = out;
    this.in = in;
    this.bits = bits;
    this.computeDtype = computeDtype;
    this.qweight = qweight;
    this.qzeros = qzeros;
    this.scales = scales;
    this.gIdx = gIdx;
    if (bits != 2 && bits != 4 && bits != 8)
      throw new IllegalArgumentException(name + ": GPTQ bits " + bits + " are not supported (2, 4 or 8)");
    long p = 32 / bits;
    if (in % p != 0 || out % p != 0)
      throw new IllegalArgumentException(name + ": a [" + out + ", " + in + "] weight cannot be a " + bits
          + "-bit GPTQ layer (both dimensions must be multiples of " + p + ")");
    long groups = scales.rank() == 2 ? scales.size(0) : -1;
    expect(qweight, ".qweight", DType.I32, in / p, out);
    expect(scales, ".scales", DType.F16, groups, out);
    expect(qzeros, ".qzeros", DType.I32, groups, out / p);
    expect(gIdx, ".g_idx", DType.I32, in);
    int[] g = gIdx.toIntArray();
    for (int k = 0; k < g.length; k++)
      if (g[k] < 0 || g[k] >= groups)
        throw new IllegalArgumentException(name + ".g_idx[" + k + "] = " + g[k] + " is outside [0, " + groups
            + ") (the groups of " + name + ".scales): the checkpoint is damaged");
  }

  private void expect(Tensor t, String suffix, DType dtype, long... shape) {
    if (t.dtype() != dtype || !java.util.Arrays.equals(t.shape(), shape))
      throw new IllegalArgumentException(name + suffix + " is " + t + ", but a " + bits + "-bit GPTQ layer of ["
          + out + ", " + in + "] needs " + dtype.torchName() + java.util.Arrays.toString(shape));
  }

  @Override
  public long[] shape() {
    return new long[] {out, in};
  }

  public int bits() {
    return bits;
  }

  @Override
  public Device device() {
    return qweight.device();
  }

  @Override
  public Tensor dequantize(Arena arena) {
    Tensor w = arena.allocate(computeDtype, qweight.device(), out, in);
    Kernels.gptqDequantize(qweight, qzeros, scales, gIdx, bits, w);
    return w;
  }

  /** The dequant-to-tile GEMM ({@link Kernels#gptqMatmul}): no dense copy of the weight. */
  @Override
  public void matmul(Tensor x, Tensor y, float beta) {
    Kernels.gptqMatmul(x, qweight, qzeros, scales, gIdx, bits, false, beta, y);
  }

  @Override
  public void matmulBackward(Tensor dy, Tensor dx, float beta) {
    Kernels.gptqMatmul(dy, qweight, qzeros, scales, gIdx, bits, true, beta, dx);
  }

  /**
   * Decode-shaped inputs take the fused GEMV: a handful of rows are bound by the packed weight's read, which
   * the GEMV does once, with no tile to write and re-read.
   */
  @Override
  public int gemvMaxRows() {
    return GEMV_ROWS;
  }

  /** The fused GPTQ dequant-GEMV ({@link Kernels#gptqGemv}). */
  @Override
  public void gemv(Tensor x, Tensor bias, Tensor y) {
    Kernels.gptqGemv(x, qweight, qzeros, scales, gIdx, bits, bias, y);
  }

  @Override
  public long bytes() {
    return qweight.byteSize() + qzeros.byteSize() + scales.byteSize() + gIdx.byteSize();
  }

  @Override
  public void close() {
    for (Tensor t : new Tensor[] {qweight, qzeros, scales, gIdx}) t.close();
  }
}
