package jswift.bench;

import java.util.concurrent.TimeUnit;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Kernels;
import jswift.tensor.Tensor;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.global.torch;
import org.openjdk.jmh.annotations.*;

/**
 * The decode step of an NF4 linear, y [1, out] = x [1, in] W^T with W NF4 [out, in] (blocksize 64): jswift's
 * fused GEMV against two peers measured in the same run, a plain memcpy of the same weight bytes (packed codes
 * and absmax: the bandwidth ceiling a GEMV that reads the weight once can approach) and libtorch's
 * dequantize-then-matmul (bitsandbytes' pure-PyTorch path). The report's "peer / jswift" column of the memcpy
 * row is the GEMV's fraction of copy bandwidth. Shapes: Qwen2-0.5B's MLP (4864x896) and its LM head
 * (151936x896). Each call reads the next of a {@link WorkingSet}'s copies of the weight, as a decode step reads
 * each layer's weight from memory, not from cache; a {@link ParallelCopy} of
 * the same bytes on every core is the third peer.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class Nf4GemvBench {
  @Param({"4864x896", "151936x896"})
  public String shape;

  private Tensor[] packed, absmax, packedCopy, absmaxCopy;
  private Tensor x, y;
  private WorkingSet set;
  private ParallelCopy parallelCopy;
  private org.bytedeco.pytorch.Tensor tpacked, tabsmax, tcode, tx;
  private long out, in, n;

  /** The weight read once: n/2 packed bytes and n/64 fp32 absmax values (x and y are negligible). */
  static Work work(String shape) {
    long[] d = Work.dims(shape);
    double n = (double) d[0] * d[1];
    return new Work(2 * n, n / 2 + n / 16);
  }

  @Setup(Level.Trial)
  public void setup() {
    long[] d = Work.dims(shape);
    out = d[0];
    in = d[1];
    n = out * in;
    set = new WorkingSet(work(shape).bytes());
    parallelCopy = new ParallelCopy(set, work(shape).bytes());
    packed = new Tensor[set.copies];
    absmax = new Tensor[set.copies];
    packedCopy = new Tensor[set.copies];
    absmaxCopy = new Tensor[set.copies];
    try (Tensor w = Tensor.fromFloats(BenchData.normal(n, 1), DType.F32, Device.CPU, n)) {
      for (int c = 0; c < set.copies; c++) {
        packed[c] = Tensor.zeros(DType.U8, Device.CPU, n / 2);
        absmax[c] = Tensor.zeros(DType.F32, Device.CPU, n / 64);
        Kernels.nf4Quantize(w, 64, packed[c], absmax[c]);
        packedCopy[c] = Tensor.zeros(DType.U8, Device.CPU, n / 2);
        absmaxCopy[c] = Tensor.zeros(DType.F32, Device.CPU, n / 64);
      }
    }
    float[] xs = BenchData.normal(in, 2);
    x = Tensor.fromFloats(xs, DType.F32, Device.CPU, 1, in);
    y = Tensor.zeros(DType.F32, Device.CPU, 1, out);
    tpacked = org.bytedeco.pytorch.Tensor.create(packed[0].toByteArray(), false, n / 2).to(torch.ScalarType.Long);
    tabsmax = org.bytedeco.pytorch.Tensor.create(absmax[0].toFloatArray(), n / 64);
    tcode = org.bytedeco.pytorch.Tensor.create(Kernels.nf4Codebook(), 16);
    tx = org.bytedeco.pytorch.Tensor.create(xs, 1, in);
  }

  @Benchmark
  public void jswift() {
    int c = set.next();
    Kernels.nf4Gemv(x, packed[c], absmax[c], 64, null, y);
  }

  @Benchmark
  public void memcpy() {
    int c = set.next();
    packedCopy[c].copyFrom(packed[c]);
    absmaxCopy[c].copyFrom(absmax[c]);
  }
  @Benchmark
  public void parallelCopy() {
    parallelCopy.run(set.next());
  }


  /** Unpack, gather the codebook, scale per block, then matmul; freed per call as Python's refcounting would. */
  @Benchmark
  public void torch() {
    try (PointerScope scope = new PointerScope()) {
      org.bytedeco.pytorch.Tensor hi = tpacked.div(new Scalar(16)).floor();
      org.bytedeco.pytorch.Tensor lo = tpacked.sub(hi.mul(new Scalar(16)));
      org.bytedeco.pytorch.Tensor idx = torch.stack(new org.bytedeco.pytorch.TensorArrayRef(
          new org.bytedeco.pytorch.TensorVector(hi, lo)), 1).reshape(n).to(torch.ScalarType.Long);
      org.bytedeco.pytorch.Tensor w = tcode.index_select(0, idx).reshape(n / 64, 64).mul(tabsmax.reshape(n / 64, 1));
      tx.matmul(w.reshape(out, in).t());
    }
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    parallelCopy.close();
    for (Tensor[] ts : new Tensor[][] {packed, absmax, packedCopy, absmaxCopy, {x, y}})
      for (Tensor t : ts) t.close();
  }
}
