package jswift.testing;

import java.util.Random;

/** Seeded random inputs for tests. */
public final class Rand {
  private Rand() {}

  public static float[] normal(long n, long seed, float scale) {
    Random r = new Random(seed);
    float[] v = new float[Math.toIntExact(n)];
    for (int i = 0; i < v.length; i++) v[i] = (float) r.nextGaussian() * scale;
    return v;
  }

  public static float[] normal(long n, long seed) {
    return normal(n, seed, 1.0f);
  }

  public static float[] uniform(long n, long seed, float lo, float hi) {
    Random r = new Random(seed);
    float[] v = new float[Math.toIntExact(n)];
    for (int i = 0; i < v.length; i++) v[i] = lo + (hi - lo) * r.nextFloat();
    return v;
  }

  public static int[] ints(long n, long seed, int lo, int hiExclusive) {
    Random r = new Random(seed);
    int[] v = new int[Math.toIntExact(n)];
    for (int i = 0; i < v.length; i++) v[i] = lo + r.nextInt(hiExclusive - lo);
    return v;
  }

  /**
   * The engine's dropout multipliers (0 or 1 / (1 - p)) for n elements, read back through Kernels.dropout of ones
   * at the device's current dropout step: what a fused kernel with that seed does to each input element.
   */
  public static float[] dropoutMask(int n, float p, long seed) {
    float[] ones = new float[n];
    java.util.Arrays.fill(ones, 1f);
    try (jswift.tensor.Tensor t = jswift.tensor.Tensor.fromFloats(ones, jswift.tensor.DType.F32,
        jswift.tensor.Device.CPU, n)) {
      jswift.tensor.Kernels.dropout(t, p, seed, t);
      return t.toFloatArray();
    }
  }
}
