package jswift.bench;

import java.util.concurrent.TimeUnit;
import jswift.quant.AwqLayout;
import jswift.quant.AwqQuantizer;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Kernels;
import jswift.tensor.Tensor;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.global.torch;
import org.openjdk.jmh.annotations.*;

/**
 * The decode step of an AWQ linear, y [1, out] = x [1, in] W^T with W in AutoAWQ's GEMM layout (4 bits, group
 * 128): jswift's fused GEMV against two peers measured in the same run, a plain memcpy of the same packed bytes
 * (qweight, qzeros, scales: the bandwidth ceiling of a GEMV that reads the weight once) and libtorch doing what
 * AutoAWQ's torch fallback does ({@code dequantize_gemm}: shift out the nibbles, undo the interleave, subtract
 * the zeros, scale, then matmul). Shapes: Qwen2-0.5B's MLP (4864x896) and a 7B attention projection (4096x4096).
 * Each call reads the next of a {@link WorkingSet}'s copies of the weight, as a decode step reads each layer's
 * weight from memory, not cache; a {@link ParallelCopy} of the
 * same bytes on every core is the third peer.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class AwqGemvBench {
  private static final int GROUP = 128;

  @Param({"4864x896", "4096x4096"})
  public String shape;

  private Tensor[] qweight, qzeros, scales, qweightCopy, qzerosCopy, scalesCopy;
  private Tensor x, y;
  private WorkingSet set;
  private ParallelCopy parallelCopy;
  private org.bytedeco.pytorch.Tensor tq, tz, ts, tx, shifts, order;
  private long out, in;

  /** The weight read once: in * out / 2 bytes of codes, and per group out / 2 bytes of zeros and 2 * out of scales. */
  static Work work(String shape) {
    long[] d = Work.dims(shape);
    double n = (double) d[0] * d[1], groups = d[1] / (double) GROUP;
    return new Work(2 * n, n / 2 + groups * d[0] * 2.5);
  }

  @Setup(Level.Trial)
  public void setup() {
    long[] d = Work.dims(shape);
    out = d[0];
    in = d[1];
    long groups = in / GROUP;
    AwqQuantizer.Result r = AwqQuantizer.quantize(BenchData.normal(out * in, 1), out, in, GROUP);
    int[] qw = AwqLayout.packWeight(r.codes(), in, out), qz = AwqLayout.packZeros(r.zeros(), groups, out);
    set = new WorkingSet(work(shape).bytes());
    parallelCopy = new ParallelCopy(set, work(shape).bytes());
    qweight = new Tensor[set.copies];
    qzeros = new Tensor[set.copies];
    scales = new Tensor[set.copies];
    qweightCopy = new Tensor[set.copies];
    qzerosCopy = new Tensor[set.copies];
    scalesCopy = new Tensor[set.copies];
    for (int c = 0; c < set.copies; c++) {
      qweight[c] = Tensor.fromInts(qw, Device.CPU, in, out / 8);
      qzeros[c] = Tensor.fromInts(qz, Device.CPU, groups, out / 8);
      scales[c] = Tensor.fromFloats(r.scales(), DType.F16, Device.CPU, groups, out);
      qweightCopy[c] = Tensor.zeros(DType.I32, Device.CPU, in, out / 8);
      qzerosCopy[c] = Tensor.zeros(DType.I32, Device.CPU, groups, out / 8);
      scalesCopy[c] = Tensor.zeros(DType.F16, Device.CPU, groups, out);
    }
    float[] xs = BenchData.normal(in, 2);
    x = Tensor.fromFloats(xs, DType.F32, Device.CPU, 1, in);
    y = Tensor.zeros(DType.F32, Device.CPU, 1, out);
    tq = org.bytedeco.pytorch.Tensor.create(qw, in, out / 8, 1);
    tz = org.bytedeco.pytorch.Tensor.create(qz, groups, out / 8, 1);
    ts = org.bytedeco.pytorch.Tensor.create(r.scales(), groups, 1, out).to(torch.ScalarType.Half);
    tx = org.bytedeco.pytorch.Tensor.create(xs, 1, in);
    shifts = org.bytedeco.pytorch.Tensor.create(new int[] {0, 4, 8, 12, 16, 20, 24, 28}, 1, 1, 8);
    long[] perm = new long[(int) out];
    int[] reverse = {0, 4, 1, 5, 2, 6, 3, 7};
    for (int j = 0; j < out / 8; j++)
      for (int m = 0; m < 8; m++) perm[j * 8 + m] = j * 8 + reverse[m];
    order = org.bytedeco.pytorch.Tensor.create(perm, out);
  }

  @Benchmark
  public void jswift() {
    int c = set.next();
    Kernels.awqGemv(x, qweight[c], qzeros[c], scales[c], GROUP, null, y);
  }

  @Benchmark
  public void memcpy() {
    int c = set.next();
    qweightCopy[c].copyFrom(qweight[c]);
    qzerosCopy[c].copyFrom(qzeros[c]);
    scalesCopy[c].copyFrom(scales[c]);
  }
  @Benchmark
  public void parallelCopy() {
    parallelCopy.run(set.next());
  }


  /** AutoAWQ's dequantize_gemm in libtorch, then the matmul; freed per call as Python's refcounting would. */
  @Benchmark
  public void torch() {
    try (PointerScope scope = new PointerScope()) {
      long groups = in / GROUP;
      org.bytedeco.pytorch.Tensor q = tq.bitwise_right_shift(shifts).bitwise_and(new Scalar(15)).reshape(in, out)
          .index_select(1, order);
      org.bytedeco.pytorch.Tensor z = tz.bitwise_right_shift(shifts).bitwise_and(new Scalar(15)).reshape(groups, out)
          .index_select(1, order).reshape(groups, 1, out);
      org.bytedeco.pytorch.Tensor w = q.reshape(groups, GROUP, out).sub(z).to(torch.ScalarType.Half).mul(ts)
          .reshape(in, out).to(torch.ScalarType.Float);
      tx.matmul(w);
    }
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    parallelCopy.close();
    for (Tensor[] ts : new Tensor[][] {qweight, qzeros, scales, qweightCopy, qzerosCopy, scalesCopy, {x, y}})
      for (Tensor t : ts) t.close();
  }
}
