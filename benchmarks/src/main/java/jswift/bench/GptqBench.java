package jswift.bench;

import java.util.concurrent.TimeUnit;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Kernels;
import jswift.tensor.Tensor;
import org.bytedeco.javacpp.PointerScope;
import org.openjdk.jmh.annotations.*;

/**
 * GPTQ dequantization (4-bit, group size 128, act-order g_idx) of a [out, in] weight to fp32: jswift's
 * {@code Kernels.gptqDequantize} against AutoGPTQ's pure-PyTorch unpacking in libtorch ({@link GptqData}).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class GptqBench {
  @Param({"4864x896"})
  public String shape;

  private GptqData data;
  private Tensor w;

  /** Reads the packed weight once, writes n fp32 values. */
  static Work work(String shape) {
    long[] d = Work.dims(shape);
    double n = (double) d[0] * d[1];
    return new Work(2 * n, GptqData.packedBytes(d[0], d[1], 4) + 4 * n);
  }

  @Setup(Level.Trial)
  public void setup() {
    long[] d = Work.dims(shape);
    data = new GptqData(d[0], d[1], 4);
    w = Tensor.zeros(DType.F32, Device.CPU, d[0], d[1]);
  }

  @Benchmark
  public void jswift() {
    Kernels.gptqDequantize(data.qweight, data.qzeros, data.scales, data.gIdx, 4, w);
  }

  /** Freed per call inside a PointerScope, as Python's refcounting would. */
  @Benchmark
  public void torch() {
    try (PointerScope scope = new PointerScope()) {
      data.torchDequantize();
    }
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    data.close();
    w.close();
  }
}
