package jswift.bench;

import java.util.concurrent.TimeUnit;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Kernels;
import jswift.tensor.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.javacpp.PointerScope;
import org.openjdk.jmh.annotations.*;

/**
 * RoPE forward + backward on q ([tokens, heads, head_dim]) vs libtorch computing it as transformers does
 * (x * cos + rotate_half(x) * sin with precomputed cos/sin, autograd). Shape: tokens x heads x head_dim.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class RopeBench {
  @Param({"2048x14x64"})
  public String shape;

  private Tensor x, y, dy, dx, pos, invFreq;
  private org.bytedeco.pytorch.Tensor tx, tcos, tsin, tdy;
  private long half;

  static Work work(String shape) {
    long[] d = Work.dims(shape);
    double n = (double) d[0] * d[1] * d[2];
    return new Work(6 * n, 4 * 4 * n);
  }

  @Setup(Level.Trial)
  public void setup() {
    long[] d = Work.dims(shape);
    long t = d[0], h = d[1], hd = d[2];
    half = hd / 2;
    x = Tensor.fromFloats(BenchData.normal(t * h * hd, 1), DType.F32, Device.CPU, t, h, hd);
    dy = Tensor.fromFloats(BenchData.normal(t * h * hd, 2), DType.F32, Device.CPU, t, h, hd);
    y = Tensor.zeros(DType.F32, Device.CPU, t, h, hd);
    dx = Tensor.zeros(DType.F32, Device.CPU, t, h, hd);
    int[] p = new int[(int) t];
    for (int i = 0; i < p.length; i++) p[i] = i;
    pos = Tensor.fromInts(p, Device.CPU, t);
    float[] inv = Kernels.ropeInvFreq((int) hd, 10000f);
    invFreq = Tensor.fromFloats(inv, DType.F32, Device.CPU, half);
    // torch: cos/sin [t, 1, hd] computed once, as transformers' rotary embedding module does per forward
    float[] cos = new float[(int) (t * hd)], sin = new float[(int) (t * hd)];
    for (int i = 0; i < t; i++)
      for (int j = 0; j < hd; j++) {
        double a = i * (double) inv[(int) (j % half)];
        cos[(int) (i * hd + j)] = (float) Math.cos(a);
        sin[(int) (i * hd + j)] = (float) Math.sin(a);
      }
    tcos = org.bytedeco.pytorch.Tensor.create(cos, t, 1, hd);
    tsin = org.bytedeco.pytorch.Tensor.create(sin, t, 1, hd);
    tx = TorchPeer.param(1, t, h, hd);
    tdy = TorchPeer.randn(2, t, h, hd);
  }

  @Benchmark
  public void jswift() {
    Kernels.ropeForward(x, pos, invFreq, 1f, y);
    Kernels.ropeBackward(dy, pos, invFreq, 1f, dx);
  }

  /** Inside a PointerScope: libtorch tensors are freed when the call ends, as Python's refcounting would
   * free them (left to the GC they pile up and every iteration pages in fresh memory). */
  @Benchmark
  public void torch() {
    try (PointerScope scope = new PointerScope()) {
      org.bytedeco.pytorch.Tensor x1 = tx.narrow(2, 0, half), x2 = tx.narrow(2, half, half);
      org.bytedeco.pytorch.Tensor rot = torch.cat(new org.bytedeco.pytorch.TensorArrayRef(
          new org.bytedeco.pytorch.TensorVector(x2.neg(), x1)), 2);
      TorchPeer.backward(tx.mul(tcos).add(rot.mul(tsin)), tdy);
      TorchPeer.clearGrad(tx);
    }
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    for (Tensor t : new Tensor[] {x, y, dy, dx, pos, invFreq}) t.close();
  }
}
