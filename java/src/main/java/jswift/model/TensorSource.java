package jswift.model;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.WritableByteChannel;
import java.util.Arrays;
import jswift.tensor.DType;
import jswift.tensor.Tensor;

/**
 * One tensor to be written into a safetensors file: its name, dtype and shape up front (the header, which comes
 * first, needs them all) and its bytes only when the writer reaches it. That split is what lets a checkpoint be
 * written tensor by tensor: a device tensor is copied to the host in bounded chunks, a stored tensor is copied
 * file to file, and a computed tensor (a merged weight) exists only while it is being written.
 */
public final class TensorSource {
  /** Host bytes in flight per copy from a device tensor: bounds the heap a write needs, whatever the model. */
  static final int CHUNK_BYTES = 16 << 20;

  /** Writes a tensor's bytes: exactly dtype x shape of them, little-endian, row-major. */
  @FunctionalInterface
  public interface Body {
    void writeTo(WritableByteChannel out) throws IOException;
  }

  /** Makes a tensor when its turn comes; the writer closes it afterwards. */
  @FunctionalInterface
  public interface Producer {
    Tensor produce() throws IOException;
  }

  private final String name;
  private final SafetensorsDtype dtype;
  private final long[] shape;
  private final long byteSize;
  private final Body body;

  private TensorSource(String name, SafetensorsDtype dtype, long[] shape, Body body) {
    if (name == null || name.isEmpty()) throw new IllegalArgumentException("a tensor needs a name");
    long n = 1;
    for (long d : shape) {
      if (d < 0)
        throw new IllegalArgumentException("tensor '" + name + "': negative dimension in " + Arrays.toString(shape));
      n = Math.multiplyExact(n, d);
    }
    this.name = name;
    this.dtype = dtype;
    this.shape = shape.clone();
    this.byteSize = Math.multiplyExact(n, dtype.byteSize());
    this.body = body;
  }

  /** A tensor whose bytes some other code writes (e.g. a packed quantized weight). */
  public static TensorSource custom(String name, SafetensorsDtype dtype, long[] shape, Body body) {
    return new TensorSource(name, dtype, shape, body);
  }

  /** A live tensor on any device; it stays owned by the caller and must stay alive until it is written. */
  public static TensorSource of(String name, Tensor tensor) {
    return new TensorSource(name, SafetensorsDtype.of(tensor.dtype()), tensor.shape(),
        out -> copyToChannel(name, tensor, out));
  }

  /** Raw little-endian bytes of any safetensors dtype. */
  public static TensorSource of(String name, SafetensorsDtype dtype, long[] shape, byte[] data) {
    TensorSource s = new TensorSource(name, dtype, shape, out -> writeFully(out, ByteBuffer.wrap(data)));
    if (s.byteSize != data.length)
      throw new IllegalArgumentException("tensor '" + name + "': " + data.length + " bytes, but " + dtype
          + Arrays.toString(shape) + " needs " + s.byteSize);
    return s;
  }

  /** A tensor of a stored file, copied byte for byte (same dtype, no pass through a device). */
  public static TensorSource stored(SafetensorsFile file, String name) {
    SafetensorsFile.Entry e = file.entry(name);
    return new TensorSource(name, SafetensorsDtype.parse(e.dtype()), e.shape(), out -> file.transferTo(name, out));
  }

  /**
   * A tensor computed when it is written and freed right after. The producer must return a tensor of the
   * declared dtype and shape (checked: the header was already written with them).
   */
  public static TensorSource computed(String name, DType dtype, long[] shape, Producer producer) {
    long[] declared = shape.clone();
    return new TensorSource(name, SafetensorsDtype.of(dtype), declared, out -> {
      try (Tensor t = producer.produce()) {
        if (t.dtype() != dtype || !Arrays.equals(t.shape(), declared))
          throw new IOException("tensor '" + name + "' was computed as " + t + " but declared as "
              + dtype.torchName() + Arrays.toString(declared));
        copyToChannel(name, t, out);
      }
    });
  }

  public String name() {
    return name;
  }

  public SafetensorsDtype dtype() {
    return dtype;
  }

  public long[] shape() {
    return shape.clone();
  }

  public long byteSize() {
    return byteSize;
  }

  /** Writes the bytes; a body that writes a different count than dtype x shape is the caller's bug. */
  public void writeTo(WritableByteChannel out) throws IOException {
    body.writeTo(out);
  }

  private static void copyToChannel(String name, Tensor tensor, WritableByteChannel out) throws IOException {
    if (!tensor.isAlive()) throw new IllegalStateException("tensor '" + name + "' was freed before it was written");
    long n = tensor.numel();
    if (n == 0) return;
    Tensor flat = tensor.view(n);
    long chunk = Math.max(1, CHUNK_BYTES / tensor.dtype().byteSize());
    for (long start = 0; start < n; start += chunk) {
      long len = Math.min(chunk, n - start);
      writeFully(out, ByteBuffer.wrap(flat.narrow(start, len).toByteArray()));
    }
  }

  private static void writeFully(WritableByteChannel out, ByteBuffer b) throws IOException {
    while (b.hasRemaining()) out.write(b);
  }

  @Override
  public String toString() {
    return name + " " + dtype + Arrays.toString(shape);
  }
}
