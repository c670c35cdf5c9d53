package jswift.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Peak extra resident memory of the benchmark process while an op runs: the kernel's high-water mark of
 * resident pages (VmHWM) is reset to the current RSS after inputs are allocated (writing 5 to
 * /proc/self/clear_refs), and read after the measurement. The difference is what the op needed on top of its
 * inputs: workspaces, saved activations, full logits... Each JMH fork appends one line to the file named by
 * -Djswift.bench.memfile, read by {@link BenchReport}.
 */
final class PeakMemory {
  private long baseline;

  void reset() {
    try {
      Files.writeString(Path.of("/proc/self/clear_refs"), "5");
      baseline = readKb("VmRSS:");
    } catch (IOException | RuntimeException e) {
      baseline = -1;
    }
  }

  /** Peak resident bytes above the RSS at {@link #reset()}, or -1 where /proc does not allow it. */
  long peakExtraBytes() {
    if (baseline < 0) return -1;
    try {
      return Math.max(0, readKb("VmHWM:") - baseline) * 1024;
    } catch (IOException e) {
      return -1;
    }
  }

  void record(String benchmark, String params) {
    String file = System.getProperty("jswift.bench.memfile");
    if (file == null) return;
    try {
      Files.writeString(Path.of(file), benchmark + "\t" + params + "\t" + peakExtraBytes() + "\n",
          StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
    } catch (IOException e) {
      System.err.println("cannot record memory: " + e);
    }
  }

  private static long readKb(String key) throws IOException {
    for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
      if (line.startsWith(key)) return Long.parseLong(line.substring(key.length()).trim().split("\\s+")[0]);
    }
    throw new IOException(key + " not in /proc/self/status");
  }
}
