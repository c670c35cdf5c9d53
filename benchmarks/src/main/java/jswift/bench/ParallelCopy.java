package jswift.bench;

import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Kernels;
import jswift.tensor.Tensor;

/**
 * The all-cores copy peer of the GEMV benchmarks: as many bytes as the weight, copied by an fp32 -> fp32
 * {@link Kernels#cast} (an OpenMP loop over every core, like the GEMV) between the next of a {@link WorkingSet}'s
 * source / destination pairs. A single-threaded memcpy may not reach the memory bandwidth that two cores do; this
 * peer shows what they reach.
 */
final class ParallelCopy implements AutoCloseable {
  private final Tensor[] src, dst;

  ParallelCopy(WorkingSet set, double bytes) {
    long floats = (long) Math.ceil(bytes / 4);
    src = new Tensor[set.copies];
    dst = new Tensor[set.copies];
    for (int c = 0; c < set.copies; c++) {
      src[c] = Tensor.zeros(DType.F32, Device.CPU, floats);
      dst[c] = Tensor.zeros(DType.F32, Device.CPU, floats);
    }
  }

  void run(int copy) {
    Kernels.cast(src[copy], dst[copy]);
  }

  @Override
  public void close() {
    for (Tensor[] ts : new Tensor[][] {src, dst})
      for (Tensor t : ts) t.close();
  }
}
