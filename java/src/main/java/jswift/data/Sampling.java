package jswift.data;

import java.util.Arrays;
import java.util.Random;

/**
 * Seeded sampling, splitting and shuffling of indexed datasets, with ms-swift's rules ({@code sample_dataset}
 * and {@code DatasetLoader.post_process}):
 *
 * <ul>
 *   <li>{@code #N} below the row count draws N distinct rows at random (the first N without shuffling); above
 *       it, every row is repeated N / count times, in order, and the remainder is topped up with distinct
 *       random rows (the first ones without shuffling).
 *   <li>{@code split_dataset_ratio} r in (0, 1) moves {@code max(floor(min(count, N) * r), 1)} random rows to
 *       the validation set, then samples the training set down (or up) to N minus that; r = 1 makes the whole
 *       (sampled) dataset the validation set.
 * </ul>
 *
 * <p>One {@link Random} is consumed in dataset order, so a run repeats exactly for a given seed. Its draws are
 * {@code java.util.Random}'s, not numpy's: jswift and ms-swift pick different rows for the same seed.
 */
final class Sampling {
  private Sampling() {}

  /** A training part and a validation part; either may be null. */
  record Split(RowList train, RowList val) {}

  /** A random order of 0..n-1 (Fisher-Yates). */
  static int[] permutation(int n, Random random) {
    int[] p = new int[n];
    for (int i = 0; i < n; i++) p[i] = i;
    for (int i = n - 1; i > 0; i--) {
      int j = random.nextInt(i + 1);
      int t = p[i];
      p[i] = p[j];
      p[j] = t;
    }
    return p;
  }

  /** The indices {@code #n} selects from {@code size} rows. */
  static int[] sampleIndices(int size, int n, boolean shuffle, Random random) {
    if (size == 0) throw new IllegalArgumentException("cannot sample from an empty dataset");
    int repeats = n / size;
    int remainder = n % size;
    int[] out = new int[n];
    for (int r = 0; r < repeats; r++)
      for (int i = 0; i < size; i++) out[r * size + i] = i;
    int[] top = shuffle ? permutation(size, random) : null;
    for (int i = 0; i < remainder; i++) out[repeats * size + i] = shuffle ? top[i] : i;
    return out;
  }

  /** {@code #n} applied to a list; the list itself when n is its size (or null). */
  static RowList sample(RowList rows, Integer n, boolean shuffle, Random random) {
    if (n == null || n == rows.size()) return rows;
    return new SelectedRows(rows, sampleIndices(rows.size(), n, shuffle, random));
  }

  static RowList shuffle(RowList rows, Random random) {
    return new SelectedRows(rows, permutation(rows.size(), random));
  }

  /**
   * Samples one dataset and splits it into training and validation parts.
   *
   * @param n {@code #N} of the dataset spec, or null
   * @param ratio {@code split_dataset_ratio}, in [0, 1]
   * @param what the dataset spec, for error messages
   */
  static Split split(RowList rows, Integer n, double ratio, boolean shuffle, Random random, String what) {
    if (!(ratio >= 0 && ratio <= 1))
      throw new IllegalArgumentException("split_dataset_ratio must be in [0, 1], not " + ratio);
    if (rows.size() == 0) throw new IllegalArgumentException(what + ": no usable rows");
    int count = n == null ? rows.size() : n;
    if (ratio == 0) return new Split(sample(rows, count, shuffle, random), null);
    if (ratio == 1) {
      // every validation row once: repeating rows would only weight the validation loss
      if (count > rows.size())
        throw new IllegalArgumentException(what + ": #" + count + " asks for more validation rows than the "
            + rows.size() + " there are");
      return new Split(null, sample(rows, count, shuffle, random));
    }
    int valCount = Math.max((int) Math.floor(Math.min(rows.size(), count) * ratio), 1);
    int trainCount = count - valCount;
    if (trainCount <= 0 || valCount == rows.size())
      throw new IllegalArgumentException(what + ": split_dataset_ratio " + ratio + " leaves no training rows (of "
          + count + ")");
    int[] order = permutation(rows.size(), random);
    RowList val = new SelectedRows(rows, Arrays.copyOfRange(order, 0, valCount));
    RowList train = new SelectedRows(rows, Arrays.copyOfRange(order, valCount, order.length));
    return new Split(sample(train, trainCount, shuffle, random), val);
  }
}
