package jswift.bench;

/** The arithmetic and the minimum memory traffic of one benchmarked call, for GFLOP/s and GB/s figures. */
record Work(double flops, double bytes) {
  static long[] dims(String shape) {
    String[] parts = shape.split("x");
    long[] d = new long[parts.length];
    for (int i = 0; i < parts.length; i++) d[i] = Long.parseLong(parts[i]);
    return d;
  }
}
