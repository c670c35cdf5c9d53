package jswift.bench;

import java.util.concurrent.TimeUnit;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Kernels;
import jswift.tensor.Tensor;
import org.bytedeco.javacpp.PointerScope;
import org.openjdk.jmh.annotations.*;

/**
 * The decode step of a GPTQ linear (4-bit, group size 128, act-order), y [1, out] = x [1, in] W^T: jswift's fused
 * {@code Kernels.gptqGemv} against a memcpy of the same packed bytes (the bandwidth ceiling of a GEMV reading the
 * weight once; "peer / jswift" of that row is the GEMV's share of copy bandwidth) and libtorch's AutoGPTQ-style
 * dequantize-then-matmul, in the same run. Shapes: Qwen2-0.5B's MLP (4864x896) and a 7B attention projection
 * (4096x4096).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class GptqGemvBench {
  @Param({"4864x896", "4096x4096"})
  public String shape;

  private GptqData data;
  private Tensor x, y, qweightCopy, qzerosCopy, scalesCopy, gIdxCopy;
  private org.bytedeco.pytorch.Tensor tx;

  static Work work(String shape) {
    long[] d = Work.dims(shape);
    return new Work(2.0 * d[0] * d[1], GptqData.packedBytes(d[0], d[1], 4));
  }

  @Setup(Level.Trial)
  public void setup() {
    long[] d = Work.dims(shape);
    data = new GptqData(d[0], d[1], 4);
    float[] xs = BenchData.normal(d[1], 2);
    x = Tensor.fromFloats(xs, DType.F32, Device.CPU, 1, d[1]);
    y = Tensor.zeros(DType.F32, Device.CPU, 1, d[0]);
    qweightCopy = Tensor.zeros(DType.I32, Device.CPU, data.qweight.shape());
    qzerosCopy = Tensor.zeros(DType.I32, Device.CPU, data.qzeros.shape());
    scalesCopy = Tensor.zeros(DType.F16, Device.CPU, data.scales.shape());
    gIdxCopy = Tensor.zeros(DType.I32, Device.CPU, data.gIdx.shape());
    tx = org.bytedeco.pytorch.Tensor.create(xs, 1, d[1]).clone();
  }

  @Benchmark
  public void jswift() {
    Kernels.gptqGemv(x, data.qweight, data.qzeros, data.scales, data.gIdx, 4, null, y);
  }

  @Benchmark
  public void memcpy() {
    qweightCopy.copyFrom(data.qweight);
    qzerosCopy.copyFrom(data.qzeros);
    scalesCopy.copyFrom(data.scales);
    gIdxCopy.copyFrom(data.gIdx);
  }

  @Benchmark
  public void torch() {
    try (PointerScope scope = new PointerScope()) {
      tx.matmul(data.torchDequantize());
    }
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    data.close();
    for (Tensor t : new Tensor[] {x, y, qweightCopy, qzerosCopy, scalesCopy, gIdxCopy}) t.close();
  }
}
