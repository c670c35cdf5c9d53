package jswift.tensor;

import java.util.ArrayList;
import java.util.List;

/**
 * Scoped allocation: every tensor allocated through an arena is freed when the arena closes. A training step
 * allocates its activations in one arena and releases them together; weights and optimizer state are
 * allocated with {@link Tensor#allocate} and live until closed explicitly. On CUDA the freed blocks return to
 * the engine's caching allocator, so the next step reuses them without cudaMalloc. While a {@link BlockRecycler}
 * is open on the thread, closed arenas hand their blocks to it and new ones take from it.
 */
public final class Arena implements AutoCloseable {
  private final List<Storage> storages = new ArrayList<>();
  private boolean closed;

  /** Uninitialized memory, freed when the arena closes (closing the tensor itself does nothing). */
  public Tensor allocate(DType dtype, Device device, long... shape) {
    if (closed) throw new IllegalStateException("arena is closed");
    long bytes = Tensor.bytesFor(dtype, shape);
    BlockRecycler recycler = BlockRecycler.current();
    Storage s = recycler != null ? recycler.take(device, bytes) : null;
    if (s == null) s = Storage.allocate(device, bytes);
    storages.add(s);
    return Tensor.over(s, dtype, shape);
  }

  public Tensor zeros(DType dtype, Device device, long... shape) {
    Tensor t = allocate(dtype, device, shape);
    t.zero();
    return t;
  }

  @Override
  public void close() {
    if (closed) return;
    closed = true;
    RuntimeException first = null;
    BlockRecycler recycler = BlockRecycler.current();
    for (Storage s : storages) {
      try {
        if (recycler != null && !s.isFreed()) recycler.give(s);
        else s.free();
      } catch (RuntimeException e) {
        if (first == null) first = e;
      }
    }
    storages.clear();
    if (first != null) throw first;
  }
}
