package jswift.bench;

import java.util.concurrent.TimeUnit;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Kernels;
import jswift.tensor.Tensor;
import org.bytedeco.javacpp.PointerScope;
import org.openjdk.jmh.annotations.*;

/**
 * The decode step of a GPTQ linear (4-bit, group size 128), y [1, out] = x [1, in] W^T: jswift's fused GEMV as a
 * model runs it ({@code GptqWeight.gemv}: an act-order weight is held in group order) against a memcpy of the same packed bytes (the bandwidth ceiling of a GEMV reading the
 * weight once; "peer / jswift" of that row is the GEMV's share of copy bandwidth), a {@link ParallelCopy} of the
 * same bytes on every core, and libtorch's AutoGPTQ-style dequantize-then-matmul, in the same run. Shapes:
 * Qwen2-0.5B's MLP (4864x896) and a 7B attention projection (4096x4096); g_idx act-order (desc_act checkpoints)
 * or in group order. Each call reads the next of a {@link WorkingSet}'s copies of the weight, as a decode step
 * reads each layer's weight from memory, not cache.
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

  /** "act": an act-order (shuffled) g_idx; "static": inputs in group order. */
  @Param({"act", "static"})
  public String order;

  private GptqData[] data;
  private jswift.nn.GptqWeight[] weights;  // the same weights as a model holds them (act-order: in group order)
  private Tensor[] qweightCopy, qzerosCopy, scalesCopy, gIdxCopy;
  private Tensor x, y;
  private WorkingSet set;
  private ParallelCopy parallelCopy;
  private org.bytedeco.pytorch.Tensor tx;

  static Work work(String shape) {
    long[] d = Work.dims(shape);
    return new Work(2.0 * d[0] * d[1], GptqData.packedBytes(d[0], d[1], 4));
  }

  @Setup(Level.Trial)
  public void setup() {
    long[] d = Work.dims(shape);
    set = new WorkingSet(work(shape).bytes());
    parallelCopy = new ParallelCopy(set, work(shape).bytes());
    data = new GptqData[set.copies];
    qweightCopy = new Tensor[set.copies];
    qzerosCopy = new Tensor[set.copies];
    scalesCopy = new Tensor[set.copies];
    gIdxCopy = new Tensor[set.copies];
    weights = new jswift.nn.GptqWeight[set.copies];
    for (int c = 0; c < set.copies; c++) {
      data[c] = new GptqData(d[0], d[1], 4, order.equals("act"));
      GptqData w = data[c];
      weights[c] = new jswift.nn.GptqWeight("bench", d[0], d[1], 4, DType.F32,
          Tensor.fromInts(w.qweight.toIntArray(), Device.CPU, w.qweight.shape()),
          Tensor.fromInts(w.qzeros.toIntArray(), Device.CPU, w.qzeros.shape()),
          Tensor.fromFloats(w.scales.toFloatArray(), DType.F16, Device.CPU, w.scales.shape()),
          Tensor.fromInts(w.gIdx.toIntArray(), Device.CPU, w.gIdx.shape()));
      qweightCopy[c] = Tensor.zeros(DType.I32, Device.CPU, data[c].qweight.shape());
      qzerosCopy[c] = Tensor.zeros(DType.I32, Device.CPU, data[c].qzeros.shape());
      scalesCopy[c] = Tensor.zeros(DType.F16, Device.CPU, data[c].scales.shape());
      gIdxCopy[c] = Tensor.zeros(DType.I32, Device.CPU, data[c].gIdx.shape());
    }
    float[] xs = BenchData.normal(d[1], 2);
    x = Tensor.fromFloats(xs, DType.F32, Device.CPU, 1, d[1]);
    y = Tensor.zeros(DType.F32, Device.CPU, 1, d[0]);
    tx = org.bytedeco.pytorch.Tensor.create(xs, 1, d[1]).clone();
  }

  @Benchmark
  public void jswift() {
    weights[set.next()].gemv(x, null, y);
  }

  @Benchmark
  public void memcpy() {
    int c = set.next();
    qweightCopy[c].copyFrom(data[c].qweight);
    qzerosCopy[c].copyFrom(data[c].qzeros);
    scalesCopy[c].copyFrom(data[c].scales);
    gIdxCopy[c].copyFrom(data[c].gIdx);
  }
  @Benchmark
  public void parallelCopy() {
    parallelCopy.run(set.next());
  }


  @Benchmark
  public void torch() {
    try (PointerScope scope = new PointerScope()) {
      tx.matmul(data[0].torchDequantize());
    }
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    parallelCopy.close();
    for (GptqData w : data) w.close();
    for (jswift.nn.GptqWeight w : weights) w.close();
    for (Tensor[] ts : new Tensor[][] {qweightCopy, qzerosCopy, scalesCopy, gIdxCopy, {x, y}})
      for (Tensor t : ts) t.close();
  }
}
