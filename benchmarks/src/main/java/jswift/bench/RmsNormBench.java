package jswift.bench;

import java.util.concurrent.TimeUnit;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Kernels;
import jswift.tensor.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.javacpp.PointerScope;
import org.openjdk.jmh.annotations.*;

/** RMSNorm forward + backward, jswift vs libtorch's rms_norm with autograd. Shape: rows x dim. */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class RmsNormBench {
  @Param({"4096x896", "2048x4096"})
  public String shape;

  private Tensor x, w, y, rstd, dy, dx, dw;
  private org.bytedeco.pytorch.Tensor tx, tw, tdy;
  private final PeakMemory memory = new PeakMemory();

  /** fwd: ~4 flops/element, bwd ~8; bytes: x, y read/written once fwd; dy, x read, dx written bwd. */
  static Work work(String shape) {
    long[] d = Work.dims(shape);
    double n = (double) d[0] * d[1];
    return new Work(12 * n, 5 * 4 * n);
  }

  @Setup(Level.Trial)
  public void setup() {
    long[] d = Work.dims(shape);
    x = Tensor.fromFloats(BenchData.normal(d[0] * d[1], 1), DType.F32, Device.CPU, d[0], d[1]);
    w = Tensor.fromFloats(BenchData.normal(d[1], 2), DType.F32, Device.CPU, d[1]);
    dy = Tensor.fromFloats(BenchData.normal(d[0] * d[1], 3), DType.F32, Device.CPU, d[0], d[1]);
    y = Tensor.allocate(DType.F32, Device.CPU, d[0], d[1]);
    dx = Tensor.allocate(DType.F32, Device.CPU, d[0], d[1]);
    rstd = Tensor.allocate(DType.F32, Device.CPU, d[0]);
    dw = Tensor.zeros(DType.F32, Device.CPU, d[1]);
    tx = TorchPeer.param(1, d[0], d[1]);
    tw = TorchPeer.param(2, d[1]);
    tdy = TorchPeer.randn(3, d[0], d[1]);
    memory.reset();
  }

  @Benchmark
  public void jswift() {
    Kernels.rmsNormForward(x, w, 1e-6f, y, rstd);
    Kernels.rmsNormBackward(dy, x, w, rstd, dx, dw);
  }

  /** Inside a PointerScope: libtorch tensors are freed when the call ends, as Python's refcounting would
   * free them (left to the GC they pile up and every iteration pages in fresh memory). */
  @Benchmark
  public void torch() {
    try (PointerScope scope = new PointerScope()) {
      org.bytedeco.pytorch.Tensor ty = torch.rms_norm(tx, new long[] {tx.size(1)},
          new org.bytedeco.pytorch.TensorOptional(tw), new org.bytedeco.pytorch.DoubleOptional(1e-6));
      TorchPeer.backward(ty, tdy);
      TorchPeer.clearGrad(tx, tw);
    }
  }

  @TearDown(Level.Trial)
  public void tearDown(org.openjdk.jmh.infra.BenchmarkParams params) {
    memory.record(params.getBenchmark(), shape);
    for (Tensor t : new Tensor[] {x, w, y, rstd, dy, dx, dw}) t.close();
  }
}
