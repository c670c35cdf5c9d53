package jswift.bench;

import java.util.concurrent.TimeUnit;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Kernels;
import jswift.tensor.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.javacpp.PointerScope;
import org.openjdk.jmh.annotations.*;

/** SwiGLU forward + backward (silu(gate) * up) vs libtorch with autograd. Shape: tokens x intermediate. */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class SwigluBench {
  @Param({"1024x4864"})
  public String shape;

  private Tensor g, u, y, dy, dg, du;
  private org.bytedeco.pytorch.Tensor tg, tu, tdy;

  static Work work(String shape) {
    long[] d = Work.dims(shape);
    double n = (double) d[0] * d[1];
    return new Work(20 * n, 4 * 8 * n);
  }

  @Setup(Level.Trial)
  public void setup() {
    long[] d = Work.dims(shape);
    g = Tensor.fromFloats(BenchData.normal(d[0] * d[1], 1), DType.F32, Device.CPU, d[0], d[1]);
    u = Tensor.fromFloats(BenchData.normal(d[0] * d[1], 2), DType.F32, Device.CPU, d[0], d[1]);
    dy = Tensor.fromFloats(BenchData.normal(d[0] * d[1], 3), DType.F32, Device.CPU, d[0], d[1]);
    y = Tensor.zeros(DType.F32, Device.CPU, d[0], d[1]);
    dg = Tensor.zeros(DType.F32, Device.CPU, d[0], d[1]);
    du = Tensor.zeros(DType.F32, Device.CPU, d[0], d[1]);
    tg = TorchPeer.param(1, d[0], d[1]);
    tu = TorchPeer.param(2, d[0], d[1]);
    tdy = TorchPeer.randn(3, d[0], d[1]);
  }

  @Benchmark
  public void jswift() {
    Kernels.swigluForward(g, u, y);
    Kernels.swigluBackward(dy, g, u, dg, du);
  }

  /** Inside a PointerScope: libtorch tensors are freed when the call ends, as Python's refcounting would
   * free them (left to the GC they pile up and every iteration pages in fresh memory). */
  @Benchmark
  public void torch() {
    try (PointerScope scope = new PointerScope()) {
      TorchPeer.backward(torch.silu(tg).mul(tu), tdy);
      TorchPeer.clearGrad(tg, tu);
    }
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    for (Tensor t : new Tensor[] {g, u, y, dy, dg, du}) t.close();
  }
}
