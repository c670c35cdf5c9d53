package jswift.quant;

/**
 * The bit layout of AutoGPTQ / GPTQModel's "gptq" (v1) checkpoints, on host int arrays. With p = 32 / bits values
 * per int32 word, {@code qweight} [in / p, out] packs the codes along the input dim (input p*r + j of output c in
 * bits bits*j .. bits*j + bits - 1 of word [r, c], the lowest field first) and {@code qzeros} [groups, out / p]
 * packs the zero points along the output dim in the same order, each stored as zero - 1 (the v1 format's
 * historic offset, which every v1 loader adds back). Codes are [out, in] and zeros [groups, out], the layout of
 * the dense weight and of jsw_gptq_quantize's outputs.
 */
public final class GptqLayout {
  private GptqLayout() {}

  /** Values per int32 word; throws unless bits is 2, 4 or 8 (3-bit packing is not implemented). */
  public static int perWord(int bits) {
    if (bits != 2 && bits != 4 && bits != 8)
      throw new IllegalArgumentException("GPTQ bits must be 2, 4 or 8 (got " + bits + ")");
    return 32 / bits;
  }

  /** qweight [in / p, out] from codes [out, in] (each in [0, 2^bits)). */
  public static int[] packWeight(int[] codes, long in, long out, int bits) {
    int p = perWord(bits);
    requireMultiple("in", in, p, bits);
    check(codes.length == in * out, "codes has " + codes.length + " values, not out * in = " + out * in);
    int maxq = (1 << bits) - 1;
    int[] words = new int[(int) (in / p * out)];
    for (int c = 0; c < out; c++)
      for (int k = 0; k < in; k++) {
        int q = codes[(int) (c * in + k)];
        check(q >= 0 && q <= maxq, "code " + q + " at [" + c + ", " + k + "] is outside [0, " + maxq + "]");
        words[(int) ((k / p) * out + c)] |= q << (bits * (k % p));
      }
    return words;
  }

  /** codes [out, in] from qweight [in / p, out]. */
  public static int[] unpackWeight(int[] qweight, long in, long out, int bits) {
    int p = perWord(bits), mask = (1 << bits) - 1;
    check(qweight.length == in / p * out, "qweight has " + qweight.length + " words, not in / " + p + " * out");
    int[] codes = new int[(int) (in * out)];
    for (int r = 0; r < in / p; r++)
      for (int c = 0; c < out; c++) {
        int word = qweight[(int) (r * out + c)];
        for (int j = 0; j < p; j++) codes[(int) (c * in + r * p + j)] = (word >>> (bits * j)) & mask;
      }
    return codes;
  }

  /**
   * qzeros [groups, out / p] from true zero points [groups, out], each stored as zero - 1. A zero of 0 has no
   * v1 encoding (its -1 would spill into the neighbouring fields, as AutoGPTQ's packer lets it), so it is refused.
   */
  public static int[] packZeros(int[] zeros, long groups, long out, int bits) {
    int p = perWord(bits);
    requireMultiple("out", out, p, bits);
    check(zeros.length == groups * out, "zeros has " + zeros.length + " values, not groups * out");
    int maxq = (1 << bits) - 1;
    int[] words = new int[(int) (groups * out / p)];
    for (int g = 0; g < groups; g++)
      for (int c = 0; c < out; c++) {
        int z = zeros[(int) (g * out + c)];
        check(z >= 1 && z <= maxq, "zero point " + z + " of group " + g + ", output " + c + " is outside [1, " + maxq
            + "] (the v1 layout stores zero - 1 in " + bits + " bits)");
        words[(int) (g * (out / p) + c / p)] |= (z - 1) << (bits * (c % p));
      }
    return words;
  }

  /**
   * True zero points [groups, out] from qzeros: (stored + 1) mod 2^bits, as AutoGPTQ's reference dequantization
   * reads them (a field of all ones is a zero of 0, which only a foreign packer writes).
   */
  public static int[] unpackZeros(int[] qzeros, long groups, long out, int bits) {
    int p = perWord(bits), mask = (1 << bits) - 1;
    check(qzeros.length == groups * (out / p), "qzeros has " + qzeros.length + " words, not groups * out / " + p);
    int[] zeros = new int[(int) (groups * out)];
    for (int g = 0; g < groups; g++)
      for (int c = 0; c < out; c++)
        zeros[(int) (g * out + c)] = ((qzeros[(int) (g * (out / p) + c / p)] >>> (bits * (c % p))) + 1) & mask;
    return zeros;
  }

  private static void requireMultiple(String name, long v, int p, int bits) {
    check(v % p == 0, name + " = " + v + " is not a multiple of " + p + " (values per int32 word at " + bits
        + " bits)");
  }

  private static void check(boolean ok, String message) {
    if (!ok) throw new IllegalArgumentException("GPTQ layout: " + message);
  }
}
