package jswift.tensor;

import java.util.Arrays;
import jswift.bindings.CoreNative;

/**
 * An n-dimensional, contiguous, row-major array in native memory (host or CUDA device). A tensor is a view
 * (byte offset, shape, dtype) over a {@link Storage}; {@link #view} and {@link #narrow} make more views of the
 * same memory. Memory is freed explicitly: {@link #close()} on a tensor that owns its storage, or the
 * {@link Arena} it came from. Using a tensor after that throws {@link IllegalStateException}; nothing here
 * ever touches freed memory.
 */
public final class Tensor implements AutoCloseable {
  private final Storage storage;
  private final long offset;
  private final long[] shape;
  private final long numel;  // the product of shape, asked for on every kernel call
  private final DType dtype;
  private final boolean ownsStorage;

  private Tensor(Storage storage, long offset, long[] shape, DType dtype, boolean ownsStorage) {
    this.storage = storage;
    this.offset = offset;
    this.shape = shape;
    this.numel = numel(shape);
    this.dtype = dtype;
    this.ownsStorage = ownsStorage;
  }

  // ---- creation ----

  /** Uninitialized memory; the caller owns it (close it, or adopt it into an {@link Arena}). */
  public static Tensor allocate(DType dtype, Device device, long... shape) {
    long[] s = checkShape(shape);
    Storage storage = Storage.allocate(device, numel(s) * dtype.byteSize());
    return new Tensor(storage, 0, s, dtype, true);
  }

  public static Tensor zeros(DType dtype, Device device, long... shape) {
    Tensor t = allocate(dtype, device, shape);
    t.zero();
    return t;
  }

  /** Copies fp32 values into a new tensor of a floating-point dtype (rounded to nearest even). */
  public static Tensor fromFloats(float[] data, DType dtype, Device device, long... shape) {
    Tensor t = allocate(dtype, device, shape);
    try {
      t.copyFrom(data);
    } catch (RuntimeException e) {
      t.close();
      throw e;
    }
    return t;
  }

  public static Tensor fromInts(int[] data, Device device, long... shape) {
    Tensor t = allocate(DType.I32, device, shape);
    try {
      t.copyFrom(data);
    } catch (RuntimeException e) {
      t.close();
      throw e;
    }
    return t;
  }

  /** A tensor over a storage that someone else (an {@link Arena}) frees. */
  static Tensor over(Storage storage, DType dtype, long[] shape) {
    return new Tensor(storage, 0, checkShape(shape), dtype, false);
  }

  static long bytesFor(DType dtype, long[] shape) {
    return Math.multiplyExact(numel(checkShape(shape)), dtype.byteSize());
  }

  // ---- metadata ----

  public DType dtype() {
    return dtype;
  }

  public Device device() {
    return storage.device();
  }

  public long[] shape() {
    return shape.clone();
  }

  public int rank() {
    return shape.length;
  }

  /** Size of dimension i; negative i counts from the end. */
  public long size(int i) {
    return shape[i < 0 ? shape.length + i : i];
  }

  public long numel() {
    return numel;
  }

  public long byteSize() {
    return numel() * dtype.byteSize();
  }

  public boolean isAlive() {
    return !storage.isFreed();
  }

  /** The native address of the first element; throws if the memory was freed. */
  public long address() {
    return storage.address() + offset;
  }

  Storage storage() {
    return storage;
  }

  // ---- views ----

  /** The same memory with another shape of the same element count; one dimension may be -1 (inferred). */
  public Tensor view(long... newShape) {
    long[] s = newShape.clone();
    int infer = -1;
    long known = 1;
    for (int i = 0; i < s.length; i++) {
      if (s[i] == -1) {
        if (infer >= 0) throw new IllegalArgumentException("view: only one dimension may be -1");
        infer = i;
      } else {
        known *= s[i];
      }
    }
    if (infer >= 0) {
      if (known == 0 || numel() % known != 0)
        throw new IllegalArgumentException("view: cannot infer -1 in " + Arrays.toString(newShape) + " for " + this);
      s[infer] = numel() / known;
    }
    checkShape(s);
    if (numel(s) != numel())
      throw new IllegalArgumentException(
          "view: shape " + Arrays.toString(newShape) + " has " + numel(s) + " elements, tensor " + this + " has " + numel());
    storage.address(); // fail now on a freed tensor
    return new Tensor(storage, offset, s, dtype, false);
  }

  /** Rows [start, start + length) along dimension 0. */
  public Tensor narrow(long start, long length) {
    if (shape.length == 0) throw new IllegalArgumentException("narrow: scalar tensor");
    if (start < 0 || length < 0 || start + length > shape[0])
      throw new IllegalArgumentException(
          "narrow: rows [" + start + ", " + (start + length) + ") outside [0, " + shape[0] + ") of " + this);
    long[] s = shape.clone();
    s[0] = length;
    long rowBytes = numel() / Math.max(shape[0], 1) * dtype.byteSize();
    storage.address();
    return new Tensor(storage, offset + start * rowBytes, s, dtype, false);
  }

  // ---- data movement ----

  public void zero() {
    NativeStatus.check(CoreNative.jsw_memset(device().index(), address(), 0, byteSize()));
  }

  public void copyFrom(float[] data) {
    requireFloat("copyFrom(float[])");
    requireLength(data.length);
    if (dtype == DType.F32) {
      NativeStatus.check(CoreNative.jsw_memcpy(address(), device().index(), data, -1, byteSize()));
      return;
    }
    try (Tensor staged = allocate(DType.F32, Device.CPU, shape)) {
      NativeStatus.check(CoreNative.jsw_memcpy(staged.address(), -1, data, -1, staged.byteSize()));
      if (device().isCpu()) {
        NativeStatus.check(CoreNative.jsw_cast(-1, DType.F32.code(), staged.address(), dtype.code(), address(), numel()));
      } else {
        try (Tensor onDevice = staged.to(device())) {
          NativeStatus.check(CoreNative.jsw_cast(device().index(), DType.F32.code(), onDevice.address(), dtype.code(),
              address(), numel()));
        }
      }
    }
  }

  public void copyFrom(int[] data) {
    if (dtype != DType.I32) throw new IllegalArgumentException("copyFrom(int[]) needs an i32 tensor, this is " + this);
    requireLength(data.length);
    NativeStatus.check(CoreNative.jsw_memcpy(address(), device().index(), data, -1, byteSize()));
  }

  public void copyFrom(long[] data) {
    if (dtype != DType.I64) throw new IllegalArgumentException("copyFrom(long[]) needs an i64 tensor, this is " + this);
    requireLength(data.length);
    NativeStatus.check(CoreNative.jsw_memcpy(address(), device().index(), data, -1, byteSize()));
  }

  /** Raw bytes (any dtype), e.g. packed 4-bit weights. */
  public void copyFrom(byte[] data) {
    if (data.length != byteSize())
      throw new IllegalArgumentException("copyFrom(byte[]): " + data.length + " bytes for " + this + " (" + byteSize() + " bytes)");
    NativeStatus.check(CoreNative.jsw_memcpy(address(), device().index(), data, -1, byteSize()));
  }

  /**
   * Raw little-endian bytes of this tensor's dtype from a direct buffer (e.g. a memory-mapped safetensors
   * region), copied straight to the tensor's device without passing through the Java heap.
   */
  public void copyFrom(java.nio.ByteBuffer src) {
    if (!src.isDirect()) throw new IllegalArgumentException("copyFrom(ByteBuffer) needs a direct buffer");
    java.nio.ByteBuffer b = src.slice();
    if (b.remaining() != byteSize())
      throw new IllegalArgumentException("copyFrom(ByteBuffer): " + b.remaining() + " bytes for " + this + " (" + byteSize() + " bytes)");
    NativeStatus.check(CoreNative.jsw_memcpy(address(), device().index(), b, -1, byteSize()));
  }

  /**
   * Raw bytes from a direct buffer into this tensor's storage starting {@code byteOffset} bytes in: one chunk of a
   * tensor read piece by piece (a checkpoint streamed through a small buffer instead of mapped whole).
   */
  public void copyFrom(java.nio.ByteBuffer src, long byteOffset) {
    if (!src.isDirect()) throw new IllegalArgumentException("copyFrom(ByteBuffer, offset) needs a direct buffer");
    java.nio.ByteBuffer b = src.slice();
    long n = b.remaining();
    if (byteOffset < 0 || byteOffset + n > byteSize())
      throw new IllegalArgumentException("copyFrom(ByteBuffer, " + byteOffset + "): " + n + " bytes do not fit "
          + this + " (" + byteSize() + " bytes)");
    NativeStatus.check(CoreNative.jsw_memcpy(address() + byteOffset, device().index(), b, -1, n));
  }

  /** Copies another tensor's contents (same dtype and element count, any devices). */
  public void copyFrom(Tensor src) {
    if (src.dtype != dtype || src.numel() != numel())
      throw new IllegalArgumentException("copyFrom: " + src + " does not match " + this);
    NativeStatus.check(CoreNative.jsw_memcpy(address(), device().index(), src.address(), src.device().index(), byteSize()));
  }

  /** The values as fp32 (converted from bf16/f16), copied to the host. */
  public float[] toFloatArray() {
    requireFloat("toFloatArray");
    float[] out = new float[Math.toIntExact(numel())];
    if (dtype == DType.F32) {
      NativeStatus.check(CoreNative.jsw_memcpy(out, -1, address(), device().index(), byteSize()));
      return out;
    }
    try (Tensor f32 = to(DType.F32); Tensor host = f32.to(Device.CPU)) {
      NativeStatus.check(CoreNative.jsw_memcpy(out, -1, host.address(), -1, host.byteSize()));
    }
    return out;
  }

  public int[] toIntArray() {
    if (dtype != DType.I32) throw new IllegalArgumentException("toIntArray needs an i32 tensor, this is " + this);
    int[] out = new int[Math.toIntExact(numel())];
    NativeStatus.check(CoreNative.jsw_memcpy(out, -1, address(), device().index(), byteSize()));
    return out;
  }

  public byte[] toByteArray() {
    byte[] out = new byte[Math.toIntExact(byteSize())];
    NativeStatus.check(CoreNative.jsw_memcpy(out, -1, address(), device().index(), byteSize()));
    return out;
  }

  /** A new tensor with the same values on another device (the caller owns it). */
  public Tensor to(Device target) {
    Tensor t = allocate(dtype, target, shape);
    try {
      t.copyFrom(this);
    } catch (RuntimeException e) {
      t.close();
      throw e;
    }
    return t;
  }

  /** A new tensor with the values cast to another floating-point dtype, on the same device. */
  public Tensor to(DType target) {
    requireFloat("to(DType)");
    if (!target.isFloatingPoint()) throw new IllegalArgumentException("to(DType): " + target + " is not a float type");
    Tensor t = allocate(target, device(), shape);
    try {
      NativeStatus.check(CoreNative.jsw_cast(device().index(), dtype.code(), address(), target.code(), t.address(), numel()));
    } catch (RuntimeException e) {
      t.close();
      throw e;
    }
    return t;
  }

  /** Frees the memory if this tensor owns it; views and arena tensors are left to their owner. */
  @Override
  public void close() {
    if (ownsStorage) storage.free();
  }

  @Override
  public String toString() {
    return "Tensor" + Arrays.toString(shape) + " " + dtype.name().toLowerCase() + " on " + device()
        + (isAlive() ? "" : " (freed)");
  }

  // ---- helpers ----

  private void requireFloat(String what) {
    if (!dtype.isFloatingPoint()) throw new IllegalArgumentException(what + " needs a floating-point tensor, this is " + this);
  }

  private void requireLength(int length) {
    if (length != numel())
      throw new IllegalArgumentException("array of " + length + " values does not fit " + this + " (" + numel() + " elements)");
  }

  private static long[] checkShape(long[] shape) {
    for (long d : shape)
      if (d < 0) throw new IllegalArgumentException("negative dimension in shape " + Arrays.toString(shape));
    numel(shape);
    return shape.clone();
  }

  static long numel(long[] shape) {
    long n = 1;
    for (long d : shape) n = Math.multiplyExact(n, d);
    return n;
  }
}
