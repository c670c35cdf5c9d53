package jswift.nn;

import jswift.tensor.Arena;
import jswift.tensor.Device;
import jswift.tensor.Tensor;

/**
 * A frozen linear weight [out, in] kept in a packed low-bit format (bitsandbytes NF4, GPTQ, ...). {@link Linear}
 * holds one in place of a dense parameter and asks it, per op, either for a dense copy ({@link #dequantize}, freed
 * right after the op) or for a fused product straight from the packed bytes ({@link #gemv}, decode-shaped inputs),
 * so between ops the layer keeps only the packed bytes.
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

  /** Bytes held on the device. */
  long bytes();

  @Override
  void close();
}
