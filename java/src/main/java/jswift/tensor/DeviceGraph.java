package jswift.tensor;

import jswift.bindings.CoreNative;
import jswift.bindings.GraphNative;

/**
 * A graph of a device's work: {@link #capture} records the ops a block queues on that device (nothing runs),
 * {@link #launch} replays them with one call, as if the same calls were made again with the same tensors and
 * scalars. On CUDA it is a CUDA graph of the device's stream, which saves the per-op launch cost of a step whose
 * shapes repeat. On the CPU it is a recording of the engine's calls, replayed in order: no faster, but under the
 * same rules, so code written for CUDA graphs is tested without a GPU. The rules (jswift.h, {@code
 * jsw_graph_begin}): on CUDA, run the block eagerly once first so the allocator's cache holds every block it
 * needs; do not synchronize, read a tensor, or copy from the host inside it (those are refused); keep the tensors
 * it uses and the ones it allocates and keeps alive while the graph may be replayed; put a value that changes per
 * step in device memory (e.g. {@link Kernels#adamwStepDev}'s scalars, {@link Kernels#setDropoutStep}) and write
 * it before each launch.
 */
public final class DeviceGraph implements AutoCloseable {
  /** JSW_ERR_UNSUPPORTED: what a capture the engine cannot make fails with. */
  public static final int UNSUPPORTED = 5;

  private final Device device;
  private long handle;

  private DeviceGraph(Device device, long handle) {
    this.device = device;
    this.handle = handle;
  }

  /**
   * Captures what {@code ops} queues on {@code device}. If {@code ops} throws, the capture is discarded and that
   * exception is thrown (with the engine's own report of the broken capture, if any, suppressed inside it).
   */
  public static DeviceGraph capture(Device device, Runnable ops) {
    NativeStatus.check(GraphNative.jsw_graph_begin(device.index()));
    long[] out = new long[1];
    Device outer = CAPTURING.get();
    CAPTURING.set(device);
    try {
      // No recycling inside a capture: the blocks the captured ops use must be the engine's (which keeps those
      // freed during the capture for the graph), not held by Java and handed to eager code while it may replay.
      withoutRecycling(ops);
    } catch (RuntimeException | Error e) {
      int status = GraphNative.jsw_graph_end(device.index(), out);
      if (status == NativeStatus.OK) {
        GraphNative.jsw_graph_destroy(out[0]);
      } else {
        e.addSuppressed(new JswiftNativeException(status, CoreNative.jsw_last_error()));
      }
      throw e;
    } finally {
      CAPTURING.set(outer);
    }
    NativeStatus.check(GraphNative.jsw_graph_end(device.index(), out));
    return new DeviceGraph(device, out[0]);
  }

  /**
   * Runs {@code ops} now (eagerly), allocating as a capture of them will: without Java-side block recycling
   * ({@link BlockRecycler}), so the blocks they free go back to the engine's cache, where a capture of the same ops
   * finds them (on CUDA a capture may only take cached blocks). The warm-up before a {@link #capture}.
   */
  public static void warmUp(Runnable ops) {
    withoutRecycling(ops);
  }

  /** Runs ops with no {@link BlockRecycler} current on this thread (the one before comes back). */
  private static void withoutRecycling(Runnable ops) {
    BlockRecycler recycler = BlockRecycler.swap(null);
    try {
      ops.run();
    } finally {
      BlockRecycler.swap(recycler);
    }
  }

  private static final ThreadLocal<Device> CAPTURING = new ThreadLocal<>();

  /** True while this thread runs the block of a {@link #capture} of {@code device} (its ops are recorded). */
  public static boolean capturing(Device device) {
    return device.equals(CAPTURING.get());
  }

  public Device device() {
    return device;
  }

  /** Queues one replay on the device's stream (asynchronous, like any op). */
  public void launch() {
    if (handle == 0) throw new IllegalStateException("launch: the graph of " + device + " was closed");
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
