package jswift.tensor;

import jswift.bindings.CoreNative;

/**
 * One block of native memory (host or device) obtained from the engine's allocator. Tensors and views point
 * into a storage; freeing it makes every tensor over it unusable (they then throw instead of touching freed
 * memory).
 */
final class Storage {
  private final Device device;
  private final long bytes;
  private long address;
  private boolean freed;

  private Storage(Device device, long address, long bytes) {
    this.device = device;
    this.address = address;
    this.bytes = bytes;
  }

  static Storage allocate(Device device, long bytes) {
    if (bytes < 0) throw new IllegalArgumentException("negative allocation size " + bytes);
    long[] out = new long[1];
    NativeStatus.check(CoreNative.jsw_malloc(device.index(), bytes, out));
    return new Storage(device, out[0], bytes);
  }

  Device device() {
    return device;
  }

  long bytes() {
    return bytes;
  }

  boolean isFreed() {
    return freed;
  }

  long address() {
    if (freed) throw new IllegalStateException("tensor memory was already freed (closed tensor or arena)");
    return address;
  }

  /**
   * The same block under a new storage, this one becoming freed (its tensors throw), without a native free: how
   * {@link BlockRecycler} hands a block to its next user.
   */
  Storage reissue() {
    long a = address();
    freed = true;
    address = 0;
    return new Storage(device, a, bytes);
  }

  void free() {
    if (freed) return;
    freed = true;
    NativeStatus.check(CoreNative.jsw_free(device.index(), address));
    address = 0;
  }
}
