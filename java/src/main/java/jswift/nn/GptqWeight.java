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
 *
 * <p>On the CPU an act-order weight (packed rows whose inputs belong to different groups) is put into group order
 * when it is built, as GPTQModel / exllama do: its inputs are sorted by group and repacked, and every product
 * gathers its input columns into that order first ({@link Kernels#gatherColumns}; a few rows for decode). The
 * GEMV then reads whole groups per packed row, the fast decode path, instead of looking every field's scale up.
 * Results are the same products summed in another order.
 */
public final class GptqWeight implements QuantizedWeight {
  private final String name;
  private final long out, in;
  private final int bits;
  private final DType computeDtype;
  private final Tensor qweight, qzeros, scales, gIdx;
  // Group order of an act-order weight on the CPU (else null): the stored input k' is the checkpoint's input
  // order[k'] (x' = x[:, order]); inverse[k] = k' (dx = dx'[:, inverse]).
  private final Tensor order, inverse;

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
    this.qzeros = qzeros;
    this.scales = scales;
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
    if (qweight.device() == Device.CPU && mixesGroups(g, (int) p)) {
      int[] sorted = groupOrder(g);
      int[] inv = new int[sorted.length], gSorted = new int[sorted.length];
      for (int k = 0; k < sorted.length; k++) {
        inv[sorted[k]] = k;
        gSorted[k] = g[sorted[k]];
      }
      Tensor repacked = Tensor.fromInts(repack(qweight.toIntArray(), sorted, (int) out, bits), Device.CPU, in / p, out);
      qweight.close();
      gIdx.close();
      this.qweight = repacked;
      this.gIdx = Tensor.fromInts(gSorted, Device.CPU, in);
      this.order = Tensor.fromInts(sorted, Device.CPU, in);
      this.inverse = Tensor.fromInts(inv, Device.CPU, in);
    } else {
      this.qweight = qweight;
      this.gIdx = gIdx;
      this.order = null;
      this.inverse = null;
    }
  }

  /** Whether some packed row (p consecutive inputs) holds inputs of more than one group: act-order. */
  private static boolean mixesGroups(int[] g, int p) {
    for (int k = 0; k < g.length; k++)
      if (g[k] != g[k - k % p]) return true;
    return false;
  }

  /** The inputs sorted by group, stably (inputs of one group keep their order). */
  static int[] groupOrder(int[] g) {
    return java.util.stream.IntStream.range(0, g.length).boxed()
        .sorted(java.util.Comparator.comparingInt(k -> g[k])).mapToInt(Integer::intValue).toArray();
  }

  /** qweight [in / p, out] with its input k' taken from input order[k'] of qw. */
  static int[] repack(int[] qw, int[] order, int out, int bits) {
    int p = 32 / bits, mask = (1 << bits) - 1;
    int[] re = new int[qw.length];
    for (int k = 0; k < order.length; k++) {
      int from = order[k], rowFrom = (from / p) * out, shiftFrom = (from % p) * bits;
      int rowTo = (k / p) * out, shiftTo = (k % p) * bits;
      for (int c = 0; c < out; c++) re[rowTo + c] |= ((qw[rowFrom + c] >>> shiftFrom) & mask) << shiftTo;
    }
    return re;
  }

  /** x [..., in] in the stored input order (a new tensor to close), or x itself. */
  private Tensor stored(Tensor x) {
    if (order == null) return x;
    Tensor xs = Tensor.allocate(x.dtype(), x.device(), x.shape());
    Kernels.gatherColumns(x, order, xs);
    return xs;
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
    if (order == null) {
      Kernels.gptqDequantize(qweight, qzeros, scales, gIdx, bits, w);
    } else {
      try (Tensor ws = Tensor.allocate(computeDtype, qweight.device(), out, in)) {
        Kernels.gptqDequantize(qweight, qzeros, scales, gIdx, bits, ws);
        Kernels.gatherColumns(ws, inverse, w);  // back to the checkpoint's input order
      }
    }
    return w;
  }

  /** The dequant-to-tile GEMM ({@link Kernels#gptqMatmul}): no dense copy of the weight. */
  @Override
  public void matmul(Tensor x, Tensor y, float beta) {
    Tensor xs = stored(x);
    try {
      Kernels.gptqMatmul(xs, qweight, qzeros, scales, gIdx, bits, false, beta, y);
    } finally {
      if (xs != x) xs.close();
    }
  }

  @Override
  public void matmulBackward(Tensor dy, Tensor dx, float beta) {
    if (order == null) {
      Kernels.gptqMatmul(dy, qweight, qzeros, scales, gIdx, bits, true, beta, dx);
      return;
    }
    // dx' = dy W' in the stored order, then dx = beta dx + dx'[:, inverse]
    try (Tensor dxs = Tensor.allocate(dx.dtype(), dx.device(), dx.shape());
         Tensor back = Tensor.allocate(dx.dtype(), dx.device(), dx.shape())) {
      Kernels.gptqMatmul(dy, qweight, qzeros, scales, gIdx, bits, true, 0f, dxs);
      Kernels.gatherColumns(dxs, inverse, back);
      Kernels.axpby(1f, back, beta, dx);
    }
  }

  /**
   * Decode-shaped inputs take the fused GEMV: a handful of rows are bound by the packed weight's read, which
   * the GEMV does once, with no tile to write and re-read.
   */
  @Override
  public int gemvMaxRows() {
    return Linear.gemvRows(qweight.device());
  }

  /** The fused GPTQ dequant-GEMV ({@link Kernels#gptqGemv}), in calls of at most its kernel's 8 rows. */
  @Override
  public void gemv(Tensor x, Tensor bias, Tensor y) {
    Linear.inRowSlices(x, y, Kernels.GPTQ_GEMV_MAX_ROWS, (slice, ys) -> {
      Tensor xs = stored(slice);
      try {
        Kernels.gptqGemv(xs, qweight, qzeros, scales, gIdx, bits, bias, ys);
      } finally {
        if (xs != slice) xs.close();
      }
    });
  }

  @Override
  public long bytes() {
    return qweight.byteSize() + qzeros.byteSize() + scales.byteSize() + gIdx.byteSize()
        + (order == null ? 0 : order.byteSize() + inverse.byteSize());
  }

  @Override
  public void close() {
    for (Tensor t : new Tensor[] {qweight, qzeros, scales, gIdx, order, inverse})
      if (t != null) t.close();
  }
}
