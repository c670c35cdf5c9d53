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
}
