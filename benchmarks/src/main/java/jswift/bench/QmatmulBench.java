package jswift.bench;

import java.util.concurrent.TimeUnit;
import jswift.tensor.Arena;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Kernels;
import jswift.tensor.Tensor;
import org.openjdk.jmh.annotations.*;

/**
 * A frozen quantized linear's training-shaped products, forward y = x W^T and backward dx = dy W, for
 * x [tokens, in] against W [out, in] in NF4 (blocks of 64) or 4-bit GPTQ: jswift's dequant-to-tile GEMM
 * ({@code Kernels.nf4Matmul} / {@code gptqMatmul}, a 4 MiB fp32 tile at a time) against the path it replaces,
 * jswift dequantizing the whole weight into a temporary and running sgemm on it ({@code dequantSgemm}). The
 * "peak extra MB" column is each side's resident high-water mark above its inputs (the dense temporary is
 * 4 * out * in bytes). Shape: format:tokens x out x in.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class QmatmulBench {
  @Param({"nf4:512x4864x896", "gptq4:512x4864x896"})
  public String shape;

  private long tokens, out, in;
  private boolean gptq;
  private Tensor packed, absmax, x, y, dy, dx;
  private GptqData data;
  private final PeakMemory memory = new PeakMemory();

  /** Two GEMMs of 2 * tokens * out * in flops; bytes: the packed weight twice plus the activations. */
  static Work work(String shape) {
    long[] d = Work.dims(shape.substring(shape.indexOf(':') + 1));
    double n = (double) d[1] * d[2];
    double weight = shape.startsWith("gptq") ? GptqData.packedBytes(d[1], d[2], 4) : n / 2 + n / 16;
    return new Work(4.0 * d[0] * n, 2 * weight + 8.0 * d[0] * (d[1] + d[2]));
  }

  @Setup(Level.Trial)
  public void setup() {
    gptq = shape.startsWith("gptq");
    long[] d = Work.dims(shape.substring(shape.indexOf(':') + 1));
    tokens = d[0];
    out = d[1];
    in = d[2];
    if (gptq) {
      data = new GptqData(out, in, 4);
    } else {
      try (Tensor w = Tensor.fromFloats(BenchData.normal(out * in, 1), DType.F32, Device.CPU, out * in)) {
        packed = Tensor.zeros(DType.U8, Device.CPU, out * in / 2);
        absmax = Tensor.zeros(DType.F32, Device.CPU, out * in / 64);
        Kernels.nf4Quantize(w, 64, packed, absmax);
      }
    }
    x = Tensor.fromFloats(BenchData.normal(tokens * in, 2), DType.F32, Device.CPU, tokens, in);
    dy = Tensor.fromFloats(BenchData.normal(tokens * out, 3), DType.F32, Device.CPU, tokens, out);
    y = Tensor.zeros(DType.F32, Device.CPU, tokens, out);
    dx = Tensor.zeros(DType.F32, Device.CPU, tokens, in);
    memory.reset();
  }

  @Benchmark
  public void jswift() {
    if (gptq) {
      Kernels.gptqMatmul(x, data.qweight, data.qzeros, data.scales, data.gIdx, 4, false, 0f, y);
      Kernels.gptqMatmul(dy, data.qweight, data.qzeros, data.scales, data.gIdx, 4, true, 0f, dx);
    } else {
      Kernels.nf4Matmul(x, packed, absmax, 64, false, 0f, y);
      Kernels.nf4Matmul(dy, packed, absmax, 64, true, 0f, dx);
    }
  }

  /** What the layer did before: the whole dense weight per op (freed after it), then sgemm. */
  @Benchmark
  public void dequantSgemm() {
    for (int op = 0; op < 2; op++) {
      try (Arena tmp = new Arena()) {
        Tensor w = tmp.allocate(DType.F32, Device.CPU, out, in);
        if (gptq) {
          Kernels.gptqDequantize(data.qweight, data.qzeros, data.scales, data.gIdx, 4, w);
        } else {
          Kernels.nf4Dequantize(packed, absmax, 64, w);
        }
        if (op == 0) Kernels.matmul(x, false, w, true, y, 1f, 0f);
        else Kernels.matmul(dy, false, w, false, dx, 1f, 0f);
      }
    }
  }

  @TearDown(Level.Trial)
  public void tearDown(org.openjdk.jmh.infra.BenchmarkParams params) {
    memory.record(params.getBenchmark(), shape);
    if (data != null) data.close();
    for (Tensor t : new Tensor[] {packed, absmax, x, y, dy, dx}) if (t != null) t.close();
  }
}
