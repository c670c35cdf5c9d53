package jswift.bench;

import java.util.Random;

/** Seeded random inputs (never zeros: they hide unwritten outputs and can run faster than real data). */
final class BenchData {
  private BenchData() {}

  static float[] normal(long n, long seed) {
    Random r = new Random(seed);
    float[] v = new float[Math.toIntExact(n)];
    for (int i = 0; i < v.length; i++) v[i] = (float) r.nextGaussian();
    return v;
  }

  static int[] ints(long n, long seed, int bound) {
    Random r = new Random(seed);
    int[] v = new int[Math.toIntExact(n)];
    for (int i = 0; i < v.length; i++) v[i] = r.nextInt(bound);
    return v;
  }
}
