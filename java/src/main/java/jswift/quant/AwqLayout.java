package jswift.quant;

/**
 * The bit layout of AutoAWQ's "GEMM" checkpoints (WQLinear_GEMM), on host int arrays. 4-bit codes are packed
 * along the OUTPUT dim, eight per int32 word and interleaved: nibble i (bits 4i .. 4i + 3) of word [k, j] holds
 * output {@code 8j + ORDER[i]}, ORDER = {0, 2, 4, 6, 1, 3, 5, 7}, the order AutoAWQ's packer writes so its CUDA
 * kernel can turn nibble pairs (0, 4), (1, 5), ... into f16 pairs with one instruction each. {@code qweight} is
 * [in, out / 8] (the weight transposed), {@code qzeros} [groups, out / 8] packs the zero points the same way,
 * stored as they are (unlike GPTQ's v1 zero - 1). Codes are [out, in] and zeros [groups, out] here, the layout
 * of the dense weight and of {@link AwqQuantizer}'s outputs.
 */
public final class AwqLayout {
  private AwqLayout() {}

  /** Nibble i of a word holds output 8j + ORDER[i]. */
  public static final int[] ORDER = {0, 2, 4, 6, 1, 3, 5, 7};
  /** The nibble of output 8j + m: the inverse of {@link #ORDER}. */
  static final int[] NIBBLE_OF = {0, 4, 1, 5, 2, 6, 3, 7};
  /** AWQ's GEMM layout is 4-bit only (AutoAWQ raises NotImplementedError for other widths). */
  public static final int BITS = 4;

  /** qweight [in, out / 8] from codes [out, in] (each in [0, 15]). */
  public static int[] packWeight(int[] codes, long in, long out) {
    requireOut(out);
    check(codes.length == in * out, "codes has " + codes.length + " values, not out * in = " + out * in);
    int words = (int) (out / 8);
    int[] qweight = new int[(int) (in * words)];
    for (int c = 0; c < out; c++)
      for (int k = 0; k < in; k++) {
        int q = codes[(int) (c * in + k)];
        check(q >= 0 && q <= 15, "code " + q + " at [" + c + ", " + k + "] is outside [0, 15]");
        qweight[k * words + c / 8] |= q << (4 * NIBBLE_OF[c % 8]);
      }
    return qweight;
  }

  /** codes [out, in] from qweight [in, out / 8]. */
  public static int[] unpackWeight(int[] qweight, long in, long out) {
    requireOut(out);
    int words = (int) (out / 8);
    check(qweight.length == in * words, "qweight has " + qweight.length + " words, not in * out / 8");
    int[] codes = new int[(int) (in * out)];
    for (int k = 0; k < in; k++)
      for (int c = 0; c < out; c++)
        codes[(int) (c * in + k)] = (qweight[k * words + c / 8] >>> (4 * NIBBLE_OF[c % 8])) & 15;
    return codes;
  }

  /** qzeros [groups, out / 8] from zero points [groups, out] (each in [0, 15]). */
  public static int[] packZeros(int[] zeros, long groups, long out) {
    requireOut(out);
    check(zeros.length == groups * out, "zeros has " + zeros.length + " values, not groups * out");
    int words = (int) (out / 8);
    int[] qzeros = new int[(int) (groups * words)];
    for (int g = 0; g < groups; g++)
      for (int c = 0; c < out; c++) {
        int z = zeros[(int) (g * out + c)];
        check(z >= 0 && z <= 15, "zero point " + z + " of group " + g + ", output " + c + " is outside [0, 15]");
        qzeros[g * words + c / 8] |= z << (4 * NIBBLE_OF[c % 8]);
      }
    return qzeros;
  }

  /** Zero points [groups, out] from qzeros [groups, out / 8]. */
  public static int[] unpackZeros(int[] qzeros, long groups, long out) {
    requireOut(out);
    int words = (int) (out / 8);
    check(qzeros.length == groups * words, "qzeros has " + qzeros.length + " words, not groups * out / 8");
    int[] zeros = new int[(int) (groups * out)];
    for (int g = 0; g < groups; g++)
      for (int c = 0; c < out; c++)
        zeros[(int) (g * out + c)] = (qzeros[g * words + c / 8] >>> (4 * NIBBLE_OF[c % 8])) & 15;
    return zeros;
  }

  /**
   * The inputs per group of a layer with {@code in} inputs: group_size, or all of them for -1 (WQLinear_GEMM's
   * reading); the groups must tile the row exactly.
   */
  public static long groupSize(int groupSize, long in) {
    long g = groupSize == -1 ? in : groupSize;
    check(g > 0, "group_size must be > 0 or -1, got " + groupSize);
    check(in % g == 0, "in = " + in + " is not a multiple of group_size " + g + " (AWQ groups tile the row)");
    return g;
  }

  private static void requireOut(long out) {
    check(out % 8 == 0, "out = " + out + " is not a multiple of 8 (4-bit outputs per int32 word)");
  }

  private static void check(boolean ok, String message) {
    if (!ok) throw new IllegalArgumentException("AWQ layout: " + message);
  }
}
