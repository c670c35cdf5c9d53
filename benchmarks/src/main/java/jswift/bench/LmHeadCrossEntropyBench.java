package jswift.bench;

import java.util.concurrent.TimeUnit;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Kernels;
import jswift.tensor.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.javacpp.PointerScope;
import org.openjdk.jmh.annotations.*;

/**
 * LM head + cross-entropy, forward and backward to the hidden states (the LoRA case: the head is frozen),
 * jswift's fused chunked kernel vs libtorch's linear + cross_entropy with autograd, which materialises the full
 * [tokens, vocab] logits and their gradient. Shape: tokens x dim x vocab (Qwen2.5-0.5B's head: 896 x 151936).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class LmHeadCrossEntropyBench {
  @Param({"512x896x151936", "2048x512x32000"})
  public String shape;

  private Tensor h, w, labels, dloss, loss, lse, dh;
  private org.bytedeco.pytorch.Tensor th, tw, tlabels;
  private final PeakMemory memory = new PeakMemory();

  /** Two GEMMs (logits, dhidden) of 2 N D V flops each; bytes: the weight read twice, hidden and dhidden. */
  static Work work(String shape) {
    long[] d = Work.dims(shape);
    return new Work(4.0 * d[0] * d[1] * d[2], 4.0 * (2.0 * d[2] * d[1] + 2.0 * d[0] * d[1]));
  }

  @Setup(Level.Trial)
  public void setup() {
    long[] d = Work.dims(shape);
    long n = d[0], dim = d[1], vocab = d[2];
    h = Tensor.fromFloats(BenchData.normal(n * dim, 1), DType.F32, Device.CPU, n, dim);
    float[] wv = BenchData.normal(vocab * dim, 2);
    for (int i = 0; i < wv.length; i++) wv[i] *= 0.02f;
    w = Tensor.fromFloats(wv, DType.F32, Device.CPU, vocab, dim);
    int[] lab = BenchData.ints(n, 3, (int) vocab);
    labels = Tensor.fromInts(lab, Device.CPU, n);
    float[] dl = new float[(int) n];
    java.util.Arrays.fill(dl, 1.0f / n);
    dloss = Tensor.fromFloats(dl, DType.F32, Device.CPU, n);
    loss = Tensor.zeros(DType.F32, Device.CPU, n);
    lse = Tensor.zeros(DType.F32, Device.CPU, n);
    dh = Tensor.zeros(DType.F32, Device.CPU, n, dim);
    th = TorchPeer.param(1, n, dim);
    tw = TorchPeer.randn(2, vocab, dim).mul(new org.bytedeco.pytorch.Scalar(0.02));
    long[] labl = new long[(int) n];
    for (int i = 0; i < n; i++) labl[i] = lab[i];
    tlabels = org.bytedeco.pytorch.Tensor.create(labl, n);
    memory.reset();
  }

  @Benchmark
  public void jswift() {
    Kernels.lmHeadCrossEntropyForwardBackward(h, w, labels, dloss, -100, Kernels.LM_HEAD_DEFAULT_CHUNK, loss, lse, null,
        dh, null);
  }

  /** Inside a PointerScope: libtorch tensors are freed when the call ends, as Python's refcounting would
   * free them (left to the GC they pile up and every iteration pages in fresh memory). */
  @Benchmark
  public void torch() {
    try (PointerScope scope = new PointerScope()) {
      org.bytedeco.pytorch.Tensor l = torch.cross_entropy(torch.linear(th, tw), tlabels);
      l.backward();
      TorchPeer.clearGrad(th);
    }
  }

  @TearDown(Level.Trial)
  public void tearDown(org.openjdk.jmh.infra.BenchmarkParams params) {
    memory.record(params.getBenchmark(), shape);
    for (Tensor t : new Tensor[] {h, w, labels, dloss, loss, lse, dh}) t.close();
  }
}
