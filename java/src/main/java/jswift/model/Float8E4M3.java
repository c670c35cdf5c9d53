package jswift.model;

/**
 * torch's float8_e4m3fn: 1 sign, 4 exponent (bias 7) and 3 mantissa bits, no infinities, only S.1111.111 NaN, so
 * the largest finite value is 448; exponent 0 holds the subnormals m / 8 * 2^-6. Decoding is a table of the 256
 * codes; encoding rounds to the nearest value, ties to the even code, as torch's conversion does, saturating at
 * ±448 (torch gives NaN beyond; FP8 quantizers scale into range first).
 */
public final class Float8E4M3 {
  private static final float[] VALUES = new float[256];

  static {
    for (int bits = 0; bits < 256; bits++) {
      int exp = (bits >> 3) & 0xf, mant = bits & 7;
      float v = exp == 0 ? mant / 8f * 0x1p-6f : (1 + mant / 8f) * (float) Math.pow(2, exp - 7);
      if (exp == 0xf && mant == 7) v = Float.NaN;
      VALUES[bits] = (bits & 0x80) != 0 ? -v : v;
    }
  }

  private Float8E4M3() {}

  /** The value of a code (its byte, 0..255). */
  public static float decode(int code) {
    return VALUES[code & 0xff];
  }

  /** The code nearest to x (ties to the even code), saturating at ±448; NaN stays NaN (0x7f). */
  public static byte encode(float x) {
    if (Float.isNaN(x)) return (byte) 0x7f;
    int sign = (Float.floatToRawIntBits(x) >>> 24) & 0x80;
    float a = Math.min(Math.abs(x), 448f);
    int lo = 0, hi = 126;  // the largest non-negative code whose value is <= a (codes 0x00..0x7e ascend)
    while (lo < hi) {
      int mid = (lo + hi + 1) >>> 1;
      if (VALUES[mid] <= a) lo = mid;
      else hi = mid - 1;
    }
    int code = lo;
    if (lo < 126) {
      float below = a - VALUES[lo], above = VALUES[lo + 1] - a;
      if (above < below || (above == below && (lo & 1) == 1)) code = lo + 1;
    }
    return (byte) (sign | code);
  }
}
