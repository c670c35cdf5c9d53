package jswift.testing;

import static org.junit.jupiter.api.Assertions.fail;

/** Numeric comparisons with a message naming the worst element. */
public final class Assert {
  private Assert() {}

  /** |got - want| <= atol + rtol * |want| elementwise; NaN never passes. */
  public static void close(String what, float[] got, float[] want, double atol, double rtol) {
    if (got.length != want.length) fail(what + ": length " + got.length + " != " + want.length);
    int worst = -1;
    double worstExcess = 0;
    for (int i = 0; i < got.length; i++) {
      double err = Math.abs((double) got[i] - want[i]);
      if (Float.isNaN(got[i]) || Float.isNaN(want[i])) err = Double.POSITIVE_INFINITY;
      double excess = err - (atol + rtol * Math.abs(want[i]));
      if (excess > worstExcess || (worst < 0 && excess > 0)) {
        worstExcess = excess;
        worst = i;
      }
    }
    if (worst >= 0)
      fail(String.format("%s: element %d got %.9g want %.9g (atol %.1e, rtol %.1e)", what, worst, got[worst],
          want[worst], atol, rtol));
  }

  /** ||got - want|| / ||want|| <= tol. */
  public static void relNorm(String what, float[] got, float[] want, double tol) {
    if (got.length != want.length) fail(what + ": length " + got.length + " != " + want.length);
    double num = 0, den = 0;
    for (int i = 0; i < got.length; i++) {
      if (Float.isNaN(got[i])) fail(what + ": NaN at " + i);
      double d = (double) got[i] - want[i];
      num += d * d;
      den += (double) want[i] * want[i];
    }
    double rel = Math.sqrt(num) / (Math.sqrt(den) + 1e-30);
    if (rel > tol) fail(String.format("%s: relative error %.3e > %.1e", what, rel, tol));
  }
}
