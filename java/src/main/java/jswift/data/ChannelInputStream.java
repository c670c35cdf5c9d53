package jswift.data;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;

/**
 * An input stream that reads a file from a given offset with positional reads. Positional reads do not move
 * the channel's own position, so any number of threads can read rows of one open file at once.
 */
final class ChannelInputStream extends InputStream {
  private final FileChannel channel;
  private long position;

  ChannelInputStream(FileChannel channel, long position) {
    this.channel = channel;
    this.position = position;
  }

  @Override
  public int read() throws IOException {
    byte[] one = new byte[1];
    int n = read(one, 0, 1);
    return n < 0 ? -1 : one[0] & 0xff;
  }

  @Override
  public int read(byte[] b, int off, int len) throws IOException {
    if (len == 0) return 0;
    int n = channel.read(ByteBuffer.wrap(b, off, len), position);
    if (n > 0) position += n;
    return n;
  }

  /** The channel stays open: it belongs to the dataset, not to one read. */
  @Override
  public void close() {}
}
