package jswift.nn;

import jswift.tensor.Arena;
import jswift.tensor.Device;
import jswift.tensor.Kernels;
import jswift.tensor.Tensor;

/**
 * A frozen linear weight [out, in] kept in a packed low-bit format (bitsandbytes NF4, GPTQ, ...). {@link Linear}
 * holds one in place of a dense parameter and asks it, per op, for a product straight from the packed bytes:
 * {@link #matmul} / {@link #matmulBackward} (training shapes) or {@link #gemv} (decode-shaped inputs). A format
 * without fused kernels inherits the defaults, which dequantize into a temporary ({@link #dequantize}) and run a
 * dense GEMM; NF4 and GPTQ override them with the dequant-to-tile GEMM, so the dense weight never exists. Between
 * ops the layer keeps only the packed bytes.
 */
public interface QuantizedWeight extends AutoCloseable {

  /** {out, in}. */
  long[] shape();

  Device device();

  /** The dense weight in the compute dtype, allocated in {@code arena} (free it as soon as the op is done). */
  Tensor dequantize(Arena arena);

  /**
   * The largest number of input rows {@link #gemv} accepts; 0 when the format has no fused GEMV (the layer then
   * dequantizes and multiplies).
   */
  default int gemvMaxRows() {
    return 0;
  }

  /**
   * y [rows, out] = x [rows, in] W^T (+ bias) straight from the packed weight, for at most {@link #gemvMaxRows}
   * rows: decode reads the low-bit weight once instead of writing and re-reading a dense copy.
   */
  default void gemv(Tensor x, Tensor bias, Tensor y) {
    throw new UnsupportedOperationException(getClass().getSimpleName() + " has no fused GEMV");
  }

  /**
   * y [rows, out] = x [rows, in] W^T + beta y (beta = 0: y's contents are ignored), x and y of the compute dtype.
   * The default dequantizes the whole weight into a temporary and multiplies; formats with a tile kernel override.
   */
  default void matmul(Tensor x, Tensor y, float beta) {
    try (Arena tmp = new Arena()) {
      Kernels.matmul(x, false, dequantize(tmp), true, y, 1f, beta);
    }
  }

  /** The frozen weight's input gradient: dx [rows, in] = dy [rows, out] W + beta dx (as {@link #matmul}). */
  default void matmulBackward(Tensor dy, Tensor dx, float beta) {
    try (Arena tmp = new Arena()) {
      Kernels.matmul(dy, false, dequantize(tmp), false, dx, 1f, beta);
    }
  }

  /** Bytes held on the device. */
  long bytes();

  @Override
  void close();
}
