package jswift.data;

import java.io.Closeable;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Objects;

/**
 * One dataset file with random access. Loading reads the file once, start to end: every row is parsed,
 * converted and checked (so a bad row is reported, or skipped and counted, before training starts), and the
 * byte offset of each usable row goes into a {@link RowIndex} (8 bytes per row); the rows themselves are not
 * kept. {@link #get} reads a row again from its offset, with a positional read of about the row's size, and
 * converts it again, which gives the same row.
 */
final class IndexedFile implements RowList, Closeable {
  private final Path path;
  private final String name;
  private final DataFormat format;
  private final List<String> header;
  private final RowIndex index;
  private final AutoPreprocessor converter;
  private final long fileSize;
  private volatile FileChannel channel;

  private IndexedFile(Path path, String name, DataFormat format, List<String> header, RowIndex index,
      AutoPreprocessor converter, long fileSize) {
    this.path = path;
    this.name = name;
    this.format = format;
    this.header = header;
    this.index = index;
    this.converter = converter;
    this.fileSize = fileSize;
  }

  /**
   * Reads, checks and indexes a file.
   *
   * @param name the file as errors name it
   * @throws DatasetException for the first bad row, unless {@code bad} skips it
   */
  static IndexedFile index(Path path, String name, AutoPreprocessor converter, BadRows bad) throws IOException {
    DataFormat format = DataFormat.of(path);
    long size = Files.size(path);
    RowIndex index = new RowIndex();
    List<String> header = null;
    try (RowCursor cursor = format.open(Files.newInputStream(path), name)) {
      if (cursor instanceof CsvReader) header = ((CsvReader) cursor).header();
      while (true) {
        RawRow raw;
        try {
          raw = cursor.next();
        } catch (DatasetException e) {
          bad.handle(e);
          continue;
        }
        if (raw == null) break;
        try {
          converter.convert(raw.fields(), raw.location());
        } catch (DatasetException e) {
          bad.handle(e);
          continue;
        }
        index.add(raw.offset(), raw.location().line());
      }
    }
    index.trim();
    return new IndexedFile(path, name, format, header, index, converter, size);
  }

  @Override
  public int size() {
    return index.size();
  }

  @Override
  public Row get(int i) {
    Objects.checkIndex(i, index.size());
    long offset = index.offset(i);
    long next = index.nextOffset(i);
    // one read of the row's own bytes; the last row's length is unknown, so a page
    int hint = next < 0 ? 8192 : (int) Math.min(next - offset + 1, 1 << 20);
    Location where = new Location(name, index.line(i));
    try {
      FileChannel ch = channel();
      if (ch.size() != fileSize)
        throw new DatasetException(where, "the file changed since it was loaded (size " + fileSize + " -> "
            + ch.size() + " bytes); reload the dataset", false, null);
      RawRow raw = format.readAt(new ChannelInputStream(ch, offset), offset, where, header, hint);
      return converter.convert(raw.fields(), where);
    } catch (DatasetException e) {
      if (!e.skippable()) throw e;
      throw new DatasetException(where, "the file changed since it was loaded: " + e.problem(), false, e);
    } catch (IOException e) {
      throw new UncheckedIOException(name + ": " + e.getMessage(), e);
    }
  }

  @Override
  public void close() throws IOException {
    FileChannel ch = channel;
    if (ch != null) ch.close();
  }

  private FileChannel channel() throws IOException {
    FileChannel ch = channel;
    if (ch == null) {
      synchronized (this) {
        ch = channel;
        if (ch == null) channel = ch = FileChannel.open(path, StandardOpenOption.READ);
      }
    }
    return ch;
  }
}
