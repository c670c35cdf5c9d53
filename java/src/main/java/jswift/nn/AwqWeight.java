package jswift.nn;

import java.util.Arrays;
import jswift.tensor.Arena;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Kernels;
import jswift.tensor.Tensor;

/**
 * A frozen linear weight [out, in] as an AutoAWQ "GEMM" checkpoint stores it: 4-bit codes {@code qweight} i32
 * [in, out / 8] packed along the output dim in AutoAWQ's interleaved nibble order, zero points {@code qzeros} i32
 * [in / group, out / 8] packed the same way, and {@code scales} f16 [in / group, out]. Like {@link GptqWeight},
 * products run straight from the packed words: the dequant-to-tile GEMM ({@link #matmul}, {@link
 * #matmulBackward}) and, for decode-shaped inputs (up to 4 rows), the fused GEMV; the layer holds ~4.3 bits per
 * value (at group 128), and a dense copy exists only when one is asked for ({@link #dequantize}).
 */
public final class AwqWeight implements QuantizedWeight {
  private final String name;
  private final long out, in, groupSize;
  private final DType computeDtype;
  private final Tensor qweight, qzeros, scales;

  /**
   * Takes ownership of the three tensors (all on one device) after checking their dtypes and shapes against
   * [out, in] and the group size (-1: one group per row).
   */
  public AwqWeight(String name, long out, long in, long groupSize, DType computeDtype, Tensor qweight, Tensor qzeros,
      Tensor scales) {
    this.name = name;
    this.out = out;
    this.in = in;
    this.groupSize = groupSize == -1 ? in : groupSize;
    this.computeDtype = computeDtype;
    this.qweight = qweight;
    this.qzeros = qzeros;
    this.scales = scales;
    if (this.groupSize <= 0 || in % this.groupSize != 0)
      throw new IllegalArgumentException(name + ": group_size " + groupSize + " does not divide the " + in
          + " inputs of a [" + out + ", " + in + "] weight (AWQ groups tile each row)");
    if (out % 8 != 0)
      throw new IllegalArgumentException(name + ": a [" + out + ", " + in + "] weight cannot be an AWQ GEMM layer "
          + "(out must be a multiple of 8)");
    long groups = in / this.groupSize;
    expect(qweight, ".qweight", DType.I32, in, out / 8);
    expect(qzeros, ".qzeros", DType.I32, groups, out / 8);
    expect(scales, ".scales", DType.F16, groups, out);
  }

  private void expect(Tensor t, String suffix, DType dtype, long... shape) {
    if (t.dtype() != dtype || !Arrays.equals(t.shape(), shape))
      throw new IllegalArgumentException(name + suffix + " is " + t + ", but a 4-bit AWQ layer of [" + out + ", "
          + in + "] with group_size " + groupSize + " needs " + dtype.torchName() + Arrays.toString(shape));
  }

  @Override
  public long[] shape() {
    return new long[] {out, in};
  }

  public long groupSize() {
    return groupSize;
  }

  @Override
  public Device device() {
    return qweight.device();
  }

  @Override
  public Tensor dequantize(Arena arena) {
    Tensor w = arena.allocate(computeDtype, qweight.device(), out, in);
    Kernels.awqDequantize(qweight, qzeros, scales, groupSize, w);
    return w;
  }

  /** The dequant-to-tile GEMM ({@link Kernels#awqMatmul}): no dense copy of the weight. */
  @Override
  public void matmul(Tensor x, Tensor y, float beta) {
    Kernels.awqMatmul(x, qweight, qzeros, scales, groupSize, false, beta, y);
  }

  @Override
  public void matmulBackward(Tensor dy, Tensor dx, float beta) {
    Kernels.awqMatmul(dy, qweight, qzeros, scales, groupSize, true, beta, dx);
  }

  /** Decode-shaped inputs take the fused GEMV ({@link Linear#gemvRows}: up to 16 rows on the CPU, 4 on CUDA). */
  @Override
  public int gemvMaxRows() {
    return Linear.gemvRows(qweight.device());
  }

  /**
   * The fused AWQ dequant-GEMV ({@link Kernels#awqGemv}): decode reads the 4-bit words once, in calls of at most
   * its kernel's 4 rows.
   */
  @Override
  public void gemv(Tensor x, Tensor bias, Tensor y) {
    Linear.inRowSlices(x, y, Kernels.AWQ_GEMV_MAX_ROWS,
        (xs, ys) -> Kernels.awqGemv(xs, qweight, qzeros, scales, groupSize, bias, ys));
  }

  @Override
  public long bytes() {
    return qweight.byteSize() + qzeros.byteSize() + scales.byteSize();
  }

  @Override
  public void close() {
    for (Tensor t : new Tensor[] {qweight, qzeros, scales}) t.close();
  }
}
