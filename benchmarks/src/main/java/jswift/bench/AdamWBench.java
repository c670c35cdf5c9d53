package jswift.bench;

import java.util.concurrent.TimeUnit;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Kernels;
import jswift.tensor.Tensor;
import org.bytedeco.pytorch.AdamW;
import org.bytedeco.pytorch.AdamWOptions;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.javacpp.PointerScope;
import org.openjdk.jmh.annotations.*;

/** One AdamW step over n fp32 parameters: jswift's fused kernel vs libtorch's torch::optim::AdamW. Shape: n. */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class AdamWBench {
  @Param({"10000000"})
  public String shape;

  private Tensor p, g, m, v;
  private long step;
  private org.bytedeco.pytorch.Tensor tp;
  private AdamW opt;

  /** Reads p, g, m, v and writes p, m, v: 28 bytes per parameter. */
  static Work work(String shape) {
    double n = Double.parseDouble(shape);
    return new Work(15 * n, 28 * n);
  }

  @Setup(Level.Trial)
  public void setup() {
    long n = Long.parseLong(shape);
    p = Tensor.fromFloats(BenchData.normal(n, 1), DType.F32, Device.CPU, n);
    g = Tensor.fromFloats(BenchData.normal(n, 2), DType.F32, Device.CPU, n);
    m = Tensor.zeros(DType.F32, Device.CPU, n);
    v = Tensor.zeros(DType.F32, Device.CPU, n);
    tp = TorchPeer.param(1, n);
    tp.mutable_grad().put(TorchPeer.randn(2, n));
    AdamWOptions o = new AdamWOptions(1e-4);
    o.weight_decay().put(0.01);
    opt = new AdamW(new TensorVector(tp), o);
  }

  @Benchmark
  public void jswift() {
    Kernels.adamwStep(p, g, m, v, 1e-4f, 0.9f, 0.999f, 1e-8f, 0.01f, ++step, null, null);
  }

  /** Inside a PointerScope: libtorch tensors are freed when the call ends, as Python's refcounting would
   * free them (left to the GC they pile up and every iteration pages in fresh memory). */
  @Benchmark
  public void torch() {
    try (PointerScope scope = new PointerScope()) {
      opt.step();
    }
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    for (Tensor t : new Tensor[] {p, g, m, v}) t.close();
  }
}
