package jswift.data;

import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.util.Arrays;

/**
 * A buffered byte reader that knows the file offset of every byte it hands out, so that readers can record
 * where each row starts (the random-access index) without decoding the file to characters first: JSONL, CSV
 * and text rows are delimited by ASCII bytes, which never occur inside a multi-byte UTF-8 sequence.
 *
 * <p>{@link #nextLine()} hands out a line as a view into the buffer (no copy); the buffer grows to hold the
 * longest line seen.
 */
final class ByteSource implements Closeable {
  private final InputStream in;
  private byte[] buf;
  private int pos;
  private int limit;
  private long base;
  private boolean eof;

  private int lineFrom;
  private int lineTo;
  private long lineOffset;

  /**
   * @param startOffset the file offset of the stream's first byte
   * @param bufferSize the initial buffer size (a hint: a random-access read of one row asks for about its size)
   */
  ByteSource(InputStream in, long startOffset, int bufferSize) {
    this.in = in;
    this.buf = new byte[Math.max(64, bufferSize)];
    this.base = startOffset;
  }

  /** The file offset of the next byte. */
  long offset() {
    return base + pos;
  }

  /** Skips a UTF-8 byte-order mark if the stream starts with one (call before reading anything). */
  void skipBom() throws IOException {
    if (ensure(3) && (buf[pos] & 0xff) == 0xEF && (buf[pos + 1] & 0xff) == 0xBB && (buf[pos + 2] & 0xff) == 0xBF)
      pos += 3;
  }

  /** The next byte (0-255), or -1 at the end. */
  int read() throws IOException {
    if (pos == limit && !fill()) return -1;
    return buf[pos++] & 0xff;
  }

  /** The next byte without consuming it, or -1 at the end. */
  int peek() throws IOException {
    if (pos == limit && !fill()) return -1;
    return buf[pos] & 0xff;
  }

  /**
   * Reads the next line ({@code \n}-terminated; a {@code \r} before the {@code \n} is dropped; the last line
   * may lack the terminator). Returns false at the end. The line is {@link #buffer()}[{@link #lineFrom()},
   * {@link #lineTo()}), valid until the next read.
   */
  boolean nextLine() throws IOException {
    int scan = pos;
    while (true) {
      int nl = indexOf((byte) '\n', scan, limit);
      if (nl >= 0) {
        setLine(pos, nl);
        pos = nl + 1;
        return true;
      }
      int scanned = limit - pos;
      if (!fill()) {
        if (pos == limit) return false;
        setLine(pos, limit);
        pos = limit;
        return true;
      }
      scan = pos + scanned;
    }
  }

  byte[] buffer() {
    return buf;
  }

  int lineFrom() {
    return lineFrom;
  }

  int lineTo() {
    return lineTo;
  }

  /** The file offset of the line's first byte. */
  long lineOffset() {
    return lineOffset;
  }

  @Override
  public void close() throws IOException {
    in.close();
  }

  private void setLine(int from, int nl) {
    lineOffset = base + from;
    lineFrom = from;
    lineTo = nl > from && buf[nl - 1] == '\r' ? nl - 1 : nl;
  }

  private int indexOf(byte b, int from, int to) {
    for (int i = from; i < to; i++) if (buf[i] == b) return i;
    return -1;
  }

  /** Whether n bytes are available from pos (reads more if needed). */
  private boolean ensure(int n) throws IOException {
    while (limit - pos < n) if (!fill()) return false;
    return true;
  }

  /**
   * Reads more bytes, keeping [pos, limit): compacts the buffer first, grows it when the kept bytes fill it.
   * Returns false at the end of the stream.
   */
  private boolean fill() throws IOException {
    if (eof) return false;
    if (pos > 0) {
      System.arraycopy(buf, pos, buf, 0, limit - pos);
      base += pos;
      limit -= pos;
      pos = 0;
    }
    if (limit == buf.length) buf = Arrays.copyOf(buf, buf.length * 2);
    int n = in.read(buf, limit, buf.length - limit);
    if (n < 0) {
      eof = true;
      return false;
    }
    limit += n;
    return true;
  }
}
