package jswift.bench;

import java.util.concurrent.TimeUnit;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Kernels;
import jswift.tensor.Tensor;
import org.bytedeco.pytorch.DoubleOptional;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.javacpp.PointerScope;
import org.openjdk.jmh.annotations.*;

/**
 * Causal flash attention forward + backward, jswift vs libtorch's scaled_dot_product_attention (CPU flash
 * kernel) with autograd, in torch's preferred [batch, heads, seq, head_dim] layout. Shape:
 * batch x seq x heads x kv_heads x head_dim (Qwen2.5-0.5B: 14 heads, 2 KV heads, 64; Llama-like: 32/8/128).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class AttentionBench {
  @Param({"1x1024x14x2x64", "1x512x32x8x128"})
  public String shape;

  private long batch, seq, heads, kv, hd;
  private float scale;
  private Tensor q, k, v, out, lse, dout, dq, dk, dv;
  private org.bytedeco.pytorch.Tensor tq, tk, tv, tdo;
  private final PeakMemory memory = new PeakMemory();

  /** Causal: half of 4 T^2 d per head forward; backward 2.5x forward (the FlashAttention-2 accounting). */
  static Work work(String shape) {
    long[] d = Work.dims(shape);
    double fwd = 4.0 * d[0] * d[2] * d[1] * d[1] * d[4] / 2;
    return new Work(3.5 * fwd, 4.0 * d[0] * d[1] * (4 * d[2] + 4 * d[3]) * d[4]);
  }

  @Setup(Level.Trial)
  public void setup(org.openjdk.jmh.infra.BenchmarkParams params) {
    TorchPeer.singleThreadedBlasFor(params);
    long[] d = Work.dims(shape);
    batch = d[0];
    seq = d[1];
    heads = d[2];
    kv = d[3];
    hd = d[4];
    scale = (float) (1.0 / Math.sqrt(hd));
    long tokens = batch * seq;
    q = Tensor.fromFloats(BenchData.normal(tokens * heads * hd, 1), DType.F32, Device.CPU, tokens, heads, hd);
    k = Tensor.fromFloats(BenchData.normal(tokens * kv * hd, 2), DType.F32, Device.CPU, tokens, kv, hd);
    v = Tensor.fromFloats(BenchData.normal(tokens * kv * hd, 3), DType.F32, Device.CPU, tokens, kv, hd);
    dout = Tensor.fromFloats(BenchData.normal(tokens * heads * hd, 4), DType.F32, Device.CPU, tokens, heads, hd);
    out = Tensor.zeros(DType.F32, Device.CPU, tokens, heads, hd);
    dq = Tensor.zeros(DType.F32, Device.CPU, tokens, heads, hd);
    dk = Tensor.zeros(DType.F32, Device.CPU, tokens, kv, hd);
    dv = Tensor.zeros(DType.F32, Device.CPU, tokens, kv, hd);
    lse = Tensor.zeros(DType.F32, Device.CPU, tokens, heads);
    tq = TorchPeer.param(1, batch, heads, seq, hd);
    tk = TorchPeer.param(2, batch, kv, seq, hd);
    tv = TorchPeer.param(3, batch, kv, seq, hd);
    tdo = TorchPeer.randn(4, batch, heads, seq, hd);
    memory.reset();
  }

  @Benchmark
  public void jswift() {
    Kernels.attentionForward(q, k, v, seq, null, null, true, 0, scale, out, lse);
    Kernels.attentionBackward(q, k, v, out, dout, lse, seq, null, null, true, 0, scale, dq, dk, dv);
  }

  /** Inside a PointerScope: libtorch tensors are freed when the call ends, as Python's refcounting would
   * free them (left to the GC they pile up and every iteration pages in fresh memory). */
  @Benchmark
  public void torch() {
    try (PointerScope scope = new PointerScope()) {
      org.bytedeco.pytorch.Tensor o = torch.scaled_dot_product_attention(tq, tk, tv, new TensorOptional(), 0.0, true,
          new DoubleOptional(scale), heads != kv);
      TorchPeer.backward(o, tdo);
      TorchPeer.clearGrad(tq, tk, tv);
    }
  }

  @TearDown(Level.Trial)
  public void tearDown(org.openjdk.jmh.infra.BenchmarkParams params) {
    memory.record(params.getBenchmark(), shape);
    for (Tensor t : new Tensor[] {q, k, v, out, lse, dout, dq, dk, dv}) t.close();
  }
}
