package jswift.bench;

import java.util.concurrent.TimeUnit;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Kernels;
import jswift.tensor.Tensor;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.openblas.global.openblas_nolapack;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.javacpp.PointerScope;
import org.openjdk.jmh.annotations.*;

/**
 * Fused LoRA linear forward + backward (frozen W, rank 16, dx, dA, dB) vs libtorch (x W^T + s (x A^T) B^T with
 * autograd, as PEFT computes it) and vs the lower bound of OpenBLAS: the three big sgemm calls alone (x W^T
 * forward, dy W backward; the low-rank GEMMs are ~1% of the work). Shape: tokens x in x out.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class LoraBench {
  @Param({"1024x896x4864", "1024x4864x896"})
  public String shape;

  private static final int RANK = 16;
  private Tensor x, w, a, b, y, xa, dy, dx, da, db;
  private org.bytedeco.pytorch.Tensor tx, tw, ta, tb, tdy;
  private FloatPointer px, pw, py, pdy, pdx;
  private int n, in, out;

  /** Two dense GEMMs of 2 N in out flops (y, dx) plus the rank-16 ones. */
  static Work work(String shape) {
    long[] d = Work.dims(shape);
    return new Work(4.0 * d[0] * d[1] * d[2] + 2.0 * d[0] * RANK * (d[1] + d[2]) * 3,
        4.0 * (2 * d[0] * d[1] + 2 * d[0] * d[2] + d[1] * d[2]));
  }

  @Setup(Level.Trial)
  public void setup() {
    long[] d = Work.dims(shape);
    n = (int) d[0];
    in = (int) d[1];
    out = (int) d[2];
    float[] xv = BenchData.normal((long) n * in, 1), wv = BenchData.normal((long) out * in, 2);
    float[] dyv = BenchData.normal((long) n * out, 5);
    x = Tensor.fromFloats(xv, DType.F32, Device.CPU, n, in);
    w = Tensor.fromFloats(wv, DType.F32, Device.CPU, out, in);
    a = Tensor.fromFloats(BenchData.normal((long) RANK * in, 3), DType.F32, Device.CPU, RANK, in);
    b = Tensor.fromFloats(BenchData.normal((long) out * RANK, 4), DType.F32, Device.CPU, out, RANK);
    dy = Tensor.fromFloats(dyv, DType.F32, Device.CPU, n, out);
    y = Tensor.zeros(DType.F32, Device.CPU, n, out);
    xa = Tensor.zeros(DType.F32, Device.CPU, n, RANK);
    dx = Tensor.zeros(DType.F32, Device.CPU, n, in);
    da = Tensor.zeros(DType.F32, Device.CPU, RANK, in);
    db = Tensor.zeros(DType.F32, Device.CPU, out, RANK);
    tx = TorchPeer.param(1, n, in);
    tw = TorchPeer.randn(2, out, in);
    ta = TorchPeer.param(3, RANK, in);
    tb = TorchPeer.param(4, out, RANK);
    tdy = TorchPeer.randn(5, n, out);
    px = new FloatPointer(xv);
    pw = new FloatPointer(wv);
    pdy = new FloatPointer(dyv);
    py = new FloatPointer((long) n * out);
    pdx = new FloatPointer((long) n * in);
  }

  @Benchmark
  public void jswift() {
    Kernels.loraForward(x, w, null, a, b, 2f, 0f, 0, y, xa);
    Kernels.loraBackward(dy, x, w, a, b, xa, 2f, 0f, 0, dx, da, db);
  }

  /** Inside a PointerScope: libtorch tensors are freed when the call ends, as Python's refcounting would
   * free them (left to the GC they pile up and every iteration pages in fresh memory). */
  @Benchmark
  public void torch() {
    try (PointerScope scope = new PointerScope()) {
      org.bytedeco.pytorch.Tensor ty = torch.linear(tx, tw).add(torch.linear(torch.linear(tx, ta), tb).mul(new Scalar(2.0)));
      TorchPeer.backward(ty, tdy);
      TorchPeer.clearGrad(tx, ta, tb);
    }
  }

  /** The dense part alone: y = x W^T and dx = dy W through OpenBLAS. */
  @Benchmark
  public void openblas() {
    openblas_nolapack.cblas_sgemm(openblas_nolapack.CblasRowMajor, openblas_nolapack.CblasNoTrans,
        openblas_nolapack.CblasTrans, n, out, in, 1f, px, in, pw, in, 0f, py, out);
    openblas_nolapack.cblas_sgemm(openblas_nolapack.CblasRowMajor, openblas_nolapack.CblasNoTrans,
        openblas_nolapack.CblasNoTrans, n, in, out, 1f, pdy, out, pw, in, 0f, pdx, in);
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    for (Tensor t : new Tensor[] {x, w, a, b, y, xa, dy, dx, da, db}) t.close();
    for (FloatPointer p : new FloatPointer[] {px, pw, py, pdy, pdx}) p.close();
  }
}
