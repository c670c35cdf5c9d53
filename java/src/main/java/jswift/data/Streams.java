package jswift.data;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.Random;

/**
 * The streaming ({@code --streaming true}) forms of reading, mixing and sampling: files read row by row, never
 * indexed; concatenation; the first N rows (starting over when the data runs out, which is how {@code #N}
 * repeats rows without random access); skipping; and a seeded shuffle through a buffer, as a Hugging Face
 * iterable dataset shuffles. Memory stays at one row per file plus the shuffle buffer.
 */
final class Streams {
  private Streams() {}

  /** Something that opens one pass over a file's raw bytes. */
  interface Opener {
    InputStream open() throws IOException;
  }

  /** One file read in order, each row converted; bad rows go to {@code bad}. */
  static RowStream file(Opener opener, DataFormat format, String name, AutoPreprocessor converter, BadRows bad) {
    return () -> new Base() {
      private RowCursor cursor;

      @Override
      Row advance() throws IOException {
        if (cursor == null) cursor = format.open(opener.open(), name);
        while (true) {
          RawRow raw;
          try {
            raw = cursor.next();
            if (raw == null) return null;
            return converter.convert(raw.fields(), raw.location());
          } catch (DatasetException e) {
            bad.handle(e);
          }
        }
      }

      @Override
      void release() throws IOException {
        if (cursor != null) cursor.close();
      }
    };
  }

  static RowStream concat(List<? extends RowStream> parts) {
    List<RowStream> copy = List.copyOf(parts);
    return () -> new Base() {
      private int part = -1;
      private CloseableIterator<Row> current;

      @Override
      Row advance() {
        while (true) {
          if (current != null && current.hasNext()) return current.next();
          if (current != null) current.close();
          current = null;
          if (++part >= copy.size()) return null;
          current = copy.get(part).iterator();
        }
      }

      @Override
      void release() {
        if (current != null) current.close();
      }
    };
  }

  /** The first {@code n} rows; when {@code cycle}, reading starts over at the end until there are n. */
  static RowStream take(RowStream source, long n, boolean cycle) {
    return () -> new Base() {
      private CloseableIterator<Row> it;
      private long taken;
      private long takenThisPass;

      @Override
      Row advance() {
        if (taken >= n) return null;
        if (it == null) it = source.iterator();
        if (!it.hasNext()) {
          it.close();
          // an empty pass means there is nothing to repeat
          if (!cycle || takenThisPass == 0) return null;
          it = source.iterator();
          takenThisPass = 0;
          if (!it.hasNext()) return null;
        }
        taken++;
        takenThisPass++;
        return it.next();
      }

      @Override
      void release() {
        if (it != null) it.close();
      }
    };
  }

  /** All rows after the first {@code n}. */
  static RowStream skip(RowStream source, long n) {
    return () -> new Base() {
      private CloseableIterator<Row> it;

      @Override
      Row advance() {
        if (it == null) {
          it = source.iterator();
          for (long i = 0; i < n && it.hasNext(); i++) it.next();
        }
        return it.hasNext() ? it.next() : null;
      }

      @Override
      void release() {
        if (it != null) it.close();
      }
    };
  }

  /**
   * A seeded shuffle through a buffer of {@code bufferSize} rows: each row handed out is a random one of the
   * buffer, replaced by the next row read. Each iteration (epoch) draws a new order from the same seed
   * sequence, so epochs differ but runs repeat.
   */
  static RowStream shuffle(RowStream source, int bufferSize, long seed) {
    if (bufferSize < 1) throw new IllegalArgumentException("shuffle_buffer_size must be at least 1");
    Random epochs = new Random(seed);
    return () -> {
      long epochSeed;
      synchronized (epochs) {
        epochSeed = epochs.nextLong();
      }
      Random random = new Random(epochSeed);
      return new Base() {
        private CloseableIterator<Row> it;
        private final List<Row> buffer = new ArrayList<>();

        @Override
        Row advance() {
          if (it == null) {
            it = source.iterator();
            while (buffer.size() < bufferSize && it.hasNext()) buffer.add(it.next());
          }
          if (buffer.isEmpty()) return null;
          int i = random.nextInt(buffer.size());
          Row row = buffer.get(i);
          if (it.hasNext()) {
            buffer.set(i, it.next());
          } else {
            buffer.set(i, buffer.get(buffer.size() - 1));
            buffer.remove(buffer.size() - 1);
          }
          return row;
        }

        @Override
        void release() {
          if (it != null) it.close();
        }
      };
    };
  }

  /** A look-ahead iterator that closes what it holds at the end or on {@link #close()}. */
  private abstract static class Base implements CloseableIterator<Row> {
    private Row next;
    private boolean done;

    /** The next row, or null at the end. */
    abstract Row advance() throws IOException;

    abstract void release() throws IOException;

    @Override
    public boolean hasNext() {
      if (next != null) return true;
      if (done) return false;
      try {
        next = advance();
      } catch (IOException e) {
        close();
        throw new UncheckedIOException(e);
      } catch (RuntimeException e) {
        close();
        throw e;
      }
      if (next == null) close();
      return next != null;
    }

    @Override
    public Row next() {
      if (!hasNext()) throw new NoSuchElementException();
      Row row = next;
      next = null;
      return row;
    }

    @Override
    public void close() {
      if (done) return;
      done = true;
      try {
        release();
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
  }
}
