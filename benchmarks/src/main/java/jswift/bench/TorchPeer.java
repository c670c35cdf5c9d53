package jswift.bench;

import org.bytedeco.javacpp.Loader;
import org.bytedeco.pytorch.BoolOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorArrayRefOptional;
import org.bytedeco.pytorch.global.torch;

/**
 * The peer every benchmark is measured against: CPU libtorch (bytedeco), the library a PyTorch user's training
 * loop runs on. Same thread count as jswift's kernels (all cores).
 */
final class TorchPeer {
  static {
    try {
      Loader.cacheResources("/org/bytedeco/pytorch/" + Loader.getPlatform() + "/");
    } catch (java.io.IOException e) {
      throw new IllegalStateException(e);
    }
    Loader.load(torch.class);
    torch.set_num_threads(Runtime.getRuntime().availableProcessors());
    // bytedeco's OpenBLAS starts single-threaded when called straight from Java (measured: 36 ms vs 11 ms for a
    // 2048x896x896 sgemm on 2 cores), while jswift's calls get every core: give the peers (torch's BLAS calls,
    // direct cblas_sgemm) the same threads, or the comparison would flatter jswift.
    jswift.tensor.Kernels.setBlasThreads(Runtime.getRuntime().availableProcessors());
  }

  private TorchPeer() {}

  static Tensor randn(long seed, long... shape) {
    torch.manual_seed(seed);
    return torch.randn(shape);
  }

  static Tensor param(long seed, long... shape) {
    Tensor t = randn(seed, shape);
    t.requires_grad_(true);
    return t;
  }

  /**
   * Makes OpenBLAS single-threaded in this (forked) JVM when the torch peer of a benchmark runs. libtorch's
   * CPU attention calls BLAS from inside its own parallel region; a multi-threaded OpenBLAS there
   * oversubscribes the cores and runs 10-50x slower, which would flatter jswift. Only for such peers: torch's
   * plain GEMMs call BLAS from one thread and need its threads.
   */
  static void singleThreadedBlasFor(org.openjdk.jmh.infra.BenchmarkParams params) {
    if (params.getBenchmark().endsWith(".torch")) jswift.tensor.Kernels.setBlasThreads(1);
  }

  /** Backpropagates an upstream gradient through y's graph. */
  static void backward(Tensor y, Tensor dy) {
    y.backward(dy, new BoolOptional(), false, new TensorArrayRefOptional());
  }

  /** Drops accumulated .grad so each iteration measures a fresh backward (as zero_grad(set_to_none=True)). */
  static void clearGrad(Tensor... params) {
    for (Tensor p : params) p.mutable_grad().reset();
  }
}
