package jswift.webui;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One training run the web UI started: a child JVM running {@code jswift <command> <args>}, its console written to
 * a log file, and its status. The run is a separate process so that a failing or stopped run never takes the UI
 * down, and stopping it is an ordinary SIGTERM (checkpoints already written survive, as they survive kill -9).
 */
final class TrainingRun {
  /** Where a run is. */
  enum Status {
    RUNNING, FINISHED, FAILED, STOPPED
  }

  private static final Pattern RUN_FOLDER = Pattern.compile("(?m)^run folder: (.+)$");

  final int id;
  final String command;
  final List<String> args;
  final Path log;
  final Instant started = Instant.now();
  private final Process process;
  private volatile boolean stopRequested;

  TrainingRun(int id, String command, List<String> args, Path log, Process process) {
    this.id = id;
    this.command = command;
    this.args = List.copyOf(args);
    this.log = log;
    this.process = process;
  }

  Status status() {
    if (process.isAlive()) return Status.RUNNING;
    if (stopRequested) return Status.STOPPED;
    return process.exitValue() == 0 ? Status.FINISHED : Status.FAILED;
  }

  /** The exit code, or null while it runs. */
  Integer exitCode() {
    return process.isAlive() ? null : process.exitValue();
  }

  /** Asks the run to stop (SIGTERM); its checkpoints stay. */
  void stop() {
    stopRequested = true;
    process.destroy();
  }

  /** Waits for the process (tests, shutdown). */
  boolean waitFor(long millis) throws InterruptedException {
    return process.waitFor(millis, java.util.concurrent.TimeUnit.MILLISECONDS);
  }

  /** The console from byte {@code from} on (at most {@code max} bytes), and where it ends. */
  record Chunk(String text, long next) {}

  Chunk console(long from, int max) throws IOException {
    if (!Files.exists(log)) return new Chunk("", 0);
    try (RandomAccessFile f = new RandomAccessFile(log.toFile(), "r")) {
      long start = Math.max(0, Math.min(from, f.length()));
      int n = (int) Math.min(max, f.length() - start);
      byte[] b = new byte[n];
      f.seek(start);
      f.readFully(b);
      int end = wholeCharacters(b, n);  // a multi-byte character cut at the end comes with the next chunk
      return new Chunk(new String(b, 0, end, StandardCharsets.UTF_8), start + end);
    }
  }

  /** The length of the longest prefix of b[0, n) that does not end inside a UTF-8 character. */
  static int wholeCharacters(byte[] b, int n) {
    for (int back = 1; back <= Math.min(3, n); back++) {
      int c = b[n - back] & 0xFF;
      if ((c & 0xC0) == 0x80) continue;  // a continuation byte: look further back for the lead byte
      int length = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
      return length > back ? n - back : n;
    }
    return n;
  }

  /** The run's output folder (vN-...), once its console has named it; else null. */
  Path runFolder() throws IOException {
    if (!Files.exists(log)) return null;
    Matcher m = RUN_FOLDER.matcher(Files.readString(log, StandardCharsets.UTF_8));
    return m.find() ? Path.of(m.group(1).trim()) : null;
  }
}
