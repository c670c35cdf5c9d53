package jswift.bench;

import java.util.concurrent.TimeUnit;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Kernels;
import jswift.tensor.Tensor;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.javacpp.PointerScope;
import org.openjdk.jmh.annotations.*;

/**
 * NF4 dequantization (bitsandbytes layout, blocksize 64) of a [rows, cols] weight to fp32: jswift vs the same
 * math written with libtorch ops (unpack nibbles, gather the codebook, scale per block), which is how
 * bitsandbytes' pure-PyTorch backend does it on a CPU. Shape: rows x cols.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class Nf4Bench {
  @Param({"4864x896"})
  public String shape;

  private Tensor packed, absmax, out;
  private org.bytedeco.pytorch.Tensor tpacked, tabsmax, tcode;
  private long n;

  /** Reads n/2 packed bytes and n/64 absmax floats, writes n fp32 values. */
  static Work work(String shape) {
    long[] d = Work.dims(shape);
    double n = (double) d[0] * d[1];
    return new Work(2 * n, n / 2 + n / 16 + 4 * n);
  }

  @Setup(Level.Trial)
  public void setup() {
    long[] d = Work.dims(shape);
    n = d[0] * d[1];
    try (Tensor w = Tensor.fromFloats(BenchData.normal(n, 1), DType.F32, Device.CPU, n)) {
      packed = Tensor.zeros(DType.U8, Device.CPU, n / 2);
      absmax = Tensor.zeros(DType.F32, Device.CPU, n / 64);
      Kernels.nf4Quantize(w, 64, packed, absmax);
    }
    out = Tensor.zeros(DType.F32, Device.CPU, n);
    byte[] pb = packed.toByteArray();
    tpacked = org.bytedeco.pytorch.Tensor.create(pb, false, n / 2).to(torch.ScalarType.Long);
    tabsmax = org.bytedeco.pytorch.Tensor.create(absmax.toFloatArray(), n / 64);
    tcode = org.bytedeco.pytorch.Tensor.create(Kernels.nf4Codebook(), 16);
  }

  @Benchmark
  public void jswift() {
    Kernels.nf4Dequantize(packed, absmax, 64, out);
  }

  /** Inside a PointerScope: libtorch tensors are freed when the call ends, as Python's refcounting would
   * free them (left to the GC they pile up and every iteration pages in fresh memory). */
  @Benchmark
  public void torch() {
    try (PointerScope scope = new PointerScope()) {
      org.bytedeco.pytorch.Tensor hi = tpacked.div(new Scalar(16)).floor();
      org.bytedeco.pytorch.Tensor lo = tpacked.sub(hi.mul(new Scalar(16)));
      org.bytedeco.pytorch.Tensor idx = torch.stack(new org.bytedeco.pytorch.TensorArrayRef(
          new org.bytedeco.pytorch.TensorVector(hi, lo)), 1).reshape(n).to(torch.ScalarType.Long);
      tcode.index_select(0, idx).reshape(n / 64, 64).mul(tabsmax.reshape(n / 64, 1));
    }
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    for (Tensor t : new Tensor[] {packed, absmax, out}) t.close();
  }
}
