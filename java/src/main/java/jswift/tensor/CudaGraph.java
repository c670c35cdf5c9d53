package jswift.tensor;

import jswift.bindings.CoreNative;
import jswift.bindings.GraphNative;

/**
 * A CUDA graph of a device's jswift stream: {@link #capture} records the ops a block queues on that device (nothing
 * runs), {@link #launch} replays them with one call, as if the same calls were made again with the same tensors
 * and scalars. That saves the per-op launch cost of a step whose shapes repeat. The engine's rules apply (jswift.h,
 * {@code jsw_graph_begin}): run the block eagerly once first so the allocator's cache holds every block it needs;
 * do not synchronize, read a tensor, or copy from the host inside it (those are refused); keep the tensors it uses
 * and the ones it allocates and keeps alive while the graph may be replayed; put a value that changes per step in
 * device memory (e.g. {@link Kernels#adamwStepDev}'s scalars) and write it before each launch. The CPU and a build
 * without CUDA refuse with {@link JswiftNativeException} (status 5, unsupported): callers fall back to eager ops.
 */
public final class CudaGraph implements AutoCloseable {
  /** JSW_ERR_UNSUPPORTED: what a capture the engine cannot make (or a CPU device) fails with. */
  public static final int UNSUPPORTED = 5;

  private final Device device;
  private long handle;

  private CudaGraph(Device device, long handle) {
    this.device = device;
    this.handle = handle;
  }

  /**
   * Captures what {@code ops} queues on {@code device}. If {@code ops} throws, the capture is discarded and that
   * exception is thrown (with the engine's own report of the broken capture, if any, suppressed inside it).
   */
  public static CudaGraph capture(Device device, Runnable ops) {
    NativeStatus.check(GraphNative.jsw_graph_begin(device.index()));
    long[] out = new long[1];
    try {
      ops.run();
    } catch (RuntimeException | Error e) {
      int status = GraphNative.jsw_graph_end(device.index(), out);
      if (status == NativeStatus.OK) {
        GraphNative.jsw_graph_destroy(out[0]);
      } else {
        e.addSuppressed(new JswiftNativeException(status, CoreNative.jsw_last_error()));
      }
      throw e;
    }
    NativeStatus.check(GraphNative.jsw_graph_end(device.index(), out));
    return new CudaGraph(device, out[0]);
  }

  public Device device() {
    return device;
  }

  /** Queues one replay on the device's stream (asynchronous, like any op). */
  public void launch() {
    if (handle == 0) throw new IllegalStateException("launch: the CUDA graph of " + device + " was closed");
    NativeStatus.check(GraphNative.jsw_graph_launch(handle));
  }

  /** Waits for queued replays and frees the graph (its temporaries go back to the allocator's cache). */
  @Override
  public void close() {
    if (handle == 0) return;
    long h = handle;
    handle = 0;
    NativeStatus.check(GraphNative.jsw_graph_destroy(h));
  }
}
