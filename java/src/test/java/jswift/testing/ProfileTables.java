package jswift.testing;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Reading the per-op tables of the native profiler ({@link jswift.tensor.Kernels#profileTable}) in tests. */
public final class ProfileTables {
  private ProfileTables() {}

  /** The call count in op's row of a profiler table, 0 without one. */
  public static long calls(String table, String op) {
    Matcher m = Pattern.compile("\\n  " + Pattern.quote(op) + " +(\\d+) ").matcher(table);
    return m.find() ? Long.parseLong(m.group(1)) : 0;
  }
}
