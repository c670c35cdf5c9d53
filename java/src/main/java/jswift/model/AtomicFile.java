package jswift.model;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Collection;
import java.util.List;

/**
 * Writes a file so that its final name only ever holds complete contents: the bytes go to {@code <name>.tmp},
 * are flushed to the disk (fsync), and the temporary file is then renamed over the final name. If anything fails
 * on the way (a full disk, an I/O error, a bug in the code producing the bytes) the temporary file is deleted and
 * whatever was under the final name before is left as it was. A crash can leave a stale {@code .tmp} behind, never
 * a truncated file under the real name.
 */
public final class AtomicFile {
  private AtomicFile() {}

  /** Produces the file's contents. */
  @FunctionalInterface
  public interface Contents {
    void writeTo(FileChannel out) throws IOException;
  }

  /** The temporary name a write goes through. */
  public static Path temporary(Path target) {
    return target.resolveSibling(target.getFileName() + ".tmp");
  }

  public static void write(Path target, Contents contents) throws IOException {
    Path tmp = temporary(target);
    try {
      try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
          StandardOpenOption.TRUNCATE_EXISTING)) {
        contents.writeTo(ch);
        ch.force(true);
      }
      try {
        Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
      } catch (AtomicMoveNotSupportedException e) {
        // Same directory, so this only happens on exotic file systems; a plain replace is the best they offer.
        Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
      }
    } catch (IOException e) {
      deleteAll(List.of(tmp), e);
      // "No space left on device" alone does not say which file; the user needs that (and that nothing was kept).
      String msg = String.valueOf(e.getMessage());
      if (msg.contains(target.getFileName().toString())) throw e;
      throw new IOException("writing " + target + " failed (nothing was written under that name): " + msg, e);
    } catch (RuntimeException | Error e) {
      deleteAll(List.of(tmp), e);
      throw e;
    }
    syncDirectory(target.toAbsolutePath().getParent());
  }

  /**
   * Deletes files after a failure without hiding it: a file that cannot be deleted is reported as suppressed by
   * {@code cause}, which the caller then rethrows.
   */
  public static void deleteAll(Collection<Path> files, Throwable cause) {
    for (Path p : files) {
      try {
        Files.deleteIfExists(p);
      } catch (IOException | RuntimeException d) {
        cause.addSuppressed(d);
      }
    }
  }

  public static void writeString(Path target, String text) throws IOException {
    byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
    write(target, ch -> {
      ByteBuffer b = ByteBuffer.wrap(bytes);
      while (b.hasRemaining()) ch.write(b);
    });
  }

  /** Copies a file's bytes to {@code target}, atomically. */
  public static void copy(Path source, Path target) throws IOException {
    write(target, out -> {
      try (FileChannel in = FileChannel.open(source, StandardOpenOption.READ)) {
        long size = in.size(), pos = 0;
        while (pos < size) {
          long n = in.transferTo(pos, size - pos, out);
          if (n <= 0) throw new IOException(source + " shrank while it was being copied");
          pos += n;
        }
      }
    });
  }

  /**
   * Makes the rename itself durable. Linux allows fsync on a directory opened for reading; where a platform
   * refuses, the data is still safe, only the new name might not survive a power cut.
   */
  private static void syncDirectory(Path dir) {
    if (dir == null) return;
    try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
      ch.force(true);
    } catch (IOException | UnsupportedOperationException e) {
      // best effort, see above
    }
  }
}
