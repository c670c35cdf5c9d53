package jswift.bench;

/**
 * The decode-shaped working set of the GEMV benchmarks. A model's decode step reads every layer's weight once,
 * so no weight is still in cache when its GEMV runs; a benchmark that multiplies by one small weight over and
 * over would instead measure the caches (a 2 MB weight split over two cores stays in their L2). So the GEMV
 * benchmarks hold enough copies of the weight to pass {@link #BYTES} and use the next copy on every call, and the
 * memcpy peer copies between as many source / destination pairs, the same way.
 */
final class WorkingSet {
  /** 64 MiB: 16x this machine's L2 (2 MiB per core), the size of a 0.5B model's 4-bit decoder layers. */
  static final double BYTES = 64.0 * (1 << 20);

  final int copies;
  private int next;

  WorkingSet(double weightBytes) {
    copies = (int) Math.max(1, Math.ceil(BYTES / weightBytes));
  }

  /** The copy for this call: 0, 1, ..., copies - 1, then 0 again. */
  int next() {
    int i = next;
    next = next + 1 == copies ? 0 : next + 1;
    return i;
  }
}
