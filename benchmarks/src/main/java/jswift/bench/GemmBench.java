package jswift.bench;

import java.util.concurrent.TimeUnit;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Kernels;
import jswift.tensor.Tensor;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.openblas.global.openblas_nolapack;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.javacpp.PointerScope;
import org.openjdk.jmh.annotations.*;

/**
 * GEMM C = A B^T (the linear-layer shape: tokens x in times [out, in]^T), fp32: jswift's matmul vs OpenBLAS
 * sgemm called directly (the target: within 10%) vs libtorch's mm. Shape: m x n x k. The 1-8 row shapes are a
 * decode step of that many sequences, which jswift runs on cpu/gemv_rows.cpp (the weight read once for all rows;
 * sgemm packs it first).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class GemmBench {
  @Param({"2048x896x896", "1024x4864x896", "1x4864x896", "4x4864x896", "8x4864x896", "4x896x4864"})
  public String shape;

  private Tensor a, b, c;
  private FloatPointer pa, pb, pc;
  private org.bytedeco.pytorch.Tensor ta, tbT;
  private int m, n, k;

  static Work work(String shape) {
    long[] d = Work.dims(shape);
    return new Work(2.0 * d[0] * d[1] * d[2], 4.0 * (d[0] * d[2] + d[1] * d[2] + d[0] * d[1]));
  }

  @Setup(Level.Trial)
  public void setup() {
    long[] d = Work.dims(shape);
    m = (int) d[0];
    n = (int) d[1];
    k = (int) d[2];
    float[] av = BenchData.normal((long) m * k, 1), bv = BenchData.normal((long) n * k, 2);
    a = Tensor.fromFloats(av, DType.F32, Device.CPU, m, k);
    b = Tensor.fromFloats(bv, DType.F32, Device.CPU, n, k);
    c = Tensor.allocate(DType.F32, Device.CPU, m, n);
    pa = new FloatPointer(av);
    pb = new FloatPointer(bv);
    pc = new FloatPointer((long) m * n);
    ta = TorchPeer.randn(1, m, k);
    tbT = TorchPeer.randn(2, n, k).t();
  }

  @Benchmark
  public void jswift() {
    Kernels.matmul(a, false, b, true, c, 1f, 0f);
  }

  @Benchmark
  public void openblas() {
    openblas_nolapack.cblas_sgemm(openblas_nolapack.CblasRowMajor, openblas_nolapack.CblasNoTrans,
        openblas_nolapack.CblasTrans, m, n, k, 1f, pa, k, pb, k, 0f, pc, n);
  }

  /** Inside a PointerScope: libtorch tensors are freed when the call ends, as Python's refcounting would
   * free them (left to the GC they pile up and every iteration pages in fresh memory). */
  @Benchmark
  public void torch() {
    try (PointerScope scope = new PointerScope()) {
      torch.mm(ta, tbT);
    }
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    a.close();
    b.close();
    c.close();
    pa.close();
    pb.close();
    pc.close();
  }
}
