package jswift.infer;

import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/** The jsonl file {@code jswift infer} appends its results to, one line per row as each is done. */
public final class ResultFile {
  private ResultFile() {}

  /** A writer appending to {@code path}, its folder created if need be. */
  public static BufferedWriter append(Path path) throws IOException {
    Path parent = path.toAbsolutePath().getParent();
    if (parent != null) Files.createDirectories(parent);
    return Files.newBufferedWriter(path, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
  }
}
