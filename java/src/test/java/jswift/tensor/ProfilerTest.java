package jswift.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The per-op profiler from Java ({@link Kernels#profileStart}, {@link Kernels#profileTable},
 * {@link Kernels#profileStop}): the native calls a piece of work makes show up under their names with their
 * counts, and a new start begins with an empty table.
 */
class ProfilerTest {
  /** The count in op's row, 0 without one. */
  private static long calls(String table, String op) {
    Matcher m = Pattern.compile("\\n  " + op + " +(\\d+) ").matcher(table);
    return m.find() ? Long.parseLong(m.group(1)) : 0;
  }

  @Test
  void countsTheNativeCallsOfAPieceOfWork() {
    try (Tensor x = Tensor.fromFloats(new float[256], DType.F32, Device.CPU, 256);
        Tensor y = Tensor.allocate(DType.F32, Device.CPU, 256)) {
      Kernels.profileStart();
      try {
        for (int i = 0; i < 3; i++) Kernels.fill(x, 1.5f);
        Kernels.axpby(2f, x, 0f, y);
        String table = Kernels.profileTable("test");
        assertTrue(table.startsWith("jswift profile: test: "), table);
        // >=: the profiler is process-wide, and another test's calls may land in the same table
        assertTrue(calls(table, "jsw_fill") >= 3, table);
        assertTrue(calls(table, "jsw_axpby") >= 1, table);
        assertEquals(3f, y.toFloatArray()[0]);
      } finally {
        Kernels.profileStop("ProfilerTest");
      }
      Kernels.profileStart();
      try {
        assertEquals(0, calls(Kernels.profileTable("restart"), "jsw_axpby"), "a new start begins empty");
      } finally {
        Kernels.profileStop("ProfilerTest (restart)");
      }
    }
  }
}
