package jswift.train;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A hidden working folder a run creates inside its output directory and deletes when it ends (LLaMA-Pro's
 * expanded model). The name carries the creating process's id, {@code .<prefix>-<pid>-<random>}: a run killed
 * before it could delete its folder leaves one behind, and the next run in that directory deletes every such folder
 * whose process is gone, never one that a live concurrent run is using.
 */
final class ScratchFolder {
  private ScratchFolder() {}

  /** Sweeps the stale folders of {@code prefix} in {@code parent} (created if needed), then makes a new one. */
  static Path create(Path parent, String prefix) throws IOException {
    Files.createDirectories(parent);
    sweepStale(parent, prefix);
    return Files.createTempDirectory(parent.toAbsolutePath(), "." + prefix + "-" + ProcessHandle.current().pid() + "-");
  }

  /** Deletes the folders of {@code prefix} in {@code parent} left by processes that are no longer running. */
  static int sweepStale(Path parent, String prefix) throws IOException {
    int deleted = 0;
    try (DirectoryStream<Path> s = Files.newDirectoryStream(parent, "." + prefix + "-*")) {
      for (Path p : s) {
        if (!Files.isDirectory(p)) continue;
        long pid = ownerPid(p.getFileName().toString(), prefix);
        if (pid < 0 || ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)) continue;
        Checkpoints.deleteTree(p);
        deleted++;
      }
    }
    return deleted;
  }

  /** The pid in ".prefix-PID-random", or -1 for a name of another shape (left alone). */
  static long ownerPid(String name, String prefix) {
    String rest = name.substring(prefix.length() + 2);
    int dash = rest.indexOf('-');
    if (dash <= 0) return -1;
    try {
      return Long.parseLong(rest.substring(0, dash));
    } catch (NumberFormatException e) {
      return -1;
    }
  }
}
