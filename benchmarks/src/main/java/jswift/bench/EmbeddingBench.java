package jswift.bench;

import java.util.concurrent.TimeUnit;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Kernels;
import jswift.tensor.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.javacpp.PointerScope;
import org.openjdk.jmh.annotations.*;

/** Embedding gather + gradient scatter-add vs libtorch's embedding with autograd. Shape: tokens x vocab x dim. */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class EmbeddingBench {
  @Param({"4096x32000x896"})
  public String shape;

  private Tensor ids, table, out, dout, dtable;
  private org.bytedeco.pytorch.Tensor tids, ttable, tdout;

  /** Moves tokens x dim floats four times (gather read/write, scatter read/accumulate). */
  static Work work(String shape) {
    long[] d = Work.dims(shape);
    return new Work((double) d[0] * d[2], 4.0 * 4 * d[0] * d[2]);
  }

  @Setup(Level.Trial)
  public void setup() {
    long[] d = Work.dims(shape);
    long n = d[0], vocab = d[1], dim = d[2];
    int[] idv = BenchData.ints(n, 1, (int) vocab);
    ids = Tensor.fromInts(idv, Device.CPU, n);
    table = Tensor.fromFloats(BenchData.normal(vocab * dim, 2), DType.F32, Device.CPU, vocab, dim);
    dout = Tensor.fromFloats(BenchData.normal(n * dim, 3), DType.F32, Device.CPU, n, dim);
    out = Tensor.zeros(DType.F32, Device.CPU, n, dim);
    dtable = Tensor.zeros(DType.F32, Device.CPU, vocab, dim);
    long[] l = new long[(int) n];
    for (int i = 0; i < n; i++) l[i] = idv[i];
    tids = org.bytedeco.pytorch.Tensor.create(l, n);
    ttable = TorchPeer.param(2, vocab, dim);
    tdout = TorchPeer.randn(3, n, dim);
  }

  @Benchmark
  public void jswift() {
    Kernels.embeddingForward(ids, table, out);
    Kernels.embeddingBackward(ids, dout, dtable);
  }

  /** Inside a PointerScope: libtorch tensors are freed when the call ends, as Python's refcounting would
   * free them (left to the GC they pile up and every iteration pages in fresh memory). */
  @Benchmark
  public void torch() {
    try (PointerScope scope = new PointerScope()) {
      TorchPeer.backward(torch.embedding(ttable, tids), tdout);
      TorchPeer.clearGrad(ttable);
    }
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    for (Tensor t : new Tensor[] {ids, table, out, dout, dtable}) t.close();
  }
}
