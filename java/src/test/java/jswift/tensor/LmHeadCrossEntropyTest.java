package jswift.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jswift.bindings.CoreNative;
import jswift.bindings.LossNative;
import jswift.testing.Assert;
import jswift.testing.Rand;
import jswift.testing.Torch;
import org.bytedeco.pytorch.CrossEntropyLossOptions;
import org.bytedeco.pytorch.LongOptional;
import org.bytedeco.pytorch.kNone;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The fused LM head + cross-entropy against libtorch autograd in fp64: logits = h W^T, torch cross_entropy with
 * ignore_index = -100 and reduction none, weighted per token by dloss (negative weights give the gradient of a
 * log-prob), logsumexp and argmax of the logits; gradients of sum(dloss * loss) for hidden and weight.
 *
 * <p>Tolerances (fp32 kernels): logits are fp32 GEMMs over dim <= 96 terms and the softmax sums are fp32 in
 * fp64-combined blocks, so loss and lse are good to ~1e-6 relative; 1e-5 absolute / relative leaves room for
 * the summation order. Gradients sum over vocab (dhidden) or tokens (dweight) in fp32: 1e-5 absolute, 1e-4
 * relative. bf16 storage: inputs are rounded once and the math stays fp32, so loss keeps its fp32 tolerance and
 * only dhidden's final rounding to bf16 (relative 2^-9) shows: 1e-2.
 */
class LmHeadCrossEntropyTest {
  private static final int IGNORE = -100;

  /** Random inputs for one problem: ~1 in 5 labels ignored (never the first), dloss of both signs. */
  private record Problem(int tokens, int dim, int vocab, float[] h, float[] w, int[] labels, float[] dloss,
      float[] dw0) {
    static Problem random(int tokens, int dim, int vocab, long seed) {
      float[] u = Rand.uniform(tokens, seed + 4, 0f, 1f);
      int[] labels = new int[tokens];
      for (int t = 0; t < tokens; t++)
        labels[t] = t > 0 && u[t] < 0.2f ? IGNORE : (int) (u[t] * vocab) % vocab;
      return new Problem(tokens, dim, vocab, Rand.normal((long) tokens * dim, seed),
          Rand.normal((long) vocab * dim, seed + 1, 0.3f), labels, Rand.uniform(tokens, seed + 2, -1f, 1f),
          Rand.uniform((long) vocab * dim, seed + 3, -1f, 1f));
    }
  }

  /** What torch computes for a problem. */
  private record Expected(float[] loss, float[] lse, long[] argmax, float[] dhidden, float[] dweight) {}

  private static Expected torchReference(Problem p, float[] h, float[] w) {
    org.bytedeco.pytorch.Tensor th = Torch.param(h, p.tokens, p.dim);
    org.bytedeco.pytorch.Tensor tw = Torch.param(w, p.vocab, p.dim);
    org.bytedeco.pytorch.Tensor logits = torch.linear(th, tw);
    long[] labels = new long[p.tokens];
    for (int t = 0; t < p.tokens; t++) labels[t] = p.labels[t];
    CrossEntropyLossOptions options = new CrossEntropyLossOptions();
    options.ignore_index().put(IGNORE);
    options.reduction().put(new kNone());
    org.bytedeco.pytorch.Tensor loss = torch.cross_entropy(logits, Torch.longs(labels, p.tokens), options);
    org.bytedeco.pytorch.Tensor lse = torch.logsumexp(logits, new long[] {1}, false);
    org.bytedeco.pytorch.Tensor argmax = torch.argmax(logits, new LongOptional(1), false);
    Torch.dot(loss, Torch.tensor(p.dloss, p.tokens)).backward();
    float[] dw = Torch.floats(tw.grad());
    for (int i = 0; i < dw.length; i++) dw[i] += p.dw0[i]; // jswift accumulates onto dweight
    long[] am = new long[p.tokens];
    org.bytedeco.pytorch.Tensor amc = argmax.contiguous();
    for (int t = 0; t < p.tokens; t++) am[t] = amc.select(0, t).item_long();
    return new Expected(Torch.floats(loss), Torch.floats(lse), am, Torch.floats(th.grad()), dw);
  }

  /** jswift's outputs; argmax only from the separate forward. */
  private record Got(float[] loss, float[] lse, int[] argmax, float[] dhidden, float[] dweight) {}

  private static Got runSeparate(Problem p, DType dtype, long chunk) {
    try (Arena a = new Arena()) {
      Tensor[] in = inputs(a, p, dtype);
      Tensor loss = poisoned(a, p.tokens), lse = poisoned(a, p.tokens);
      Tensor argmax = a.allocate(DType.I32, Device.CPU, p.tokens);
      argmax.copyFrom(new int[p.tokens]);
      Tensor dh = a.allocate(dtype, Device.CPU, p.tokens, p.dim);
      Kernels.lmHeadCrossEntropyForward(in[0], in[1], in[2], IGNORE, chunk, loss, lse, argmax);
      Kernels.lmHeadCrossEntropyBackward(in[0], in[1], in[2], lse, in[3], IGNORE, chunk, dh, in[4]);
      return new Got(loss.toFloatArray(), lse.toFloatArray(), argmax.toIntArray(), dh.toFloatArray(),
          in[4].toFloatArray());
    }
  }

  private static Got runFused(Problem p, DType dtype, long chunk) {
    try (Arena a = new Arena()) {
      Tensor[] in = inputs(a, p, dtype);
      Tensor loss = poisoned(a, p.tokens), lse = poisoned(a, p.tokens);
      Tensor argmax = a.allocate(DType.I32, Device.CPU, p.tokens);
      argmax.copyFrom(new int[p.tokens]);
      Tensor dh = a.allocate(dtype, Device.CPU, p.tokens, p.dim);
      Kernels.lmHeadCrossEntropyForwardBackward(in[0], in[1], in[2], in[3], IGNORE, chunk, loss, lse, argmax, dh,
          in[4]);
      return new Got(loss.toFloatArray(), lse.toFloatArray(), argmax.toIntArray(), dh.toFloatArray(),
          in[4].toFloatArray());
    }
  }

  /** hidden, weight, labels, dloss, dweight (starting at dw0). */
  private static Tensor[] inputs(Arena a, Problem p, DType dtype) {
    Tensor h = a.allocate(dtype, Device.CPU, p.tokens, p.dim);
    h.copyFrom(p.h);
    Tensor w = a.allocate(dtype, Device.CPU, p.vocab, p.dim);
    w.copyFrom(p.w);
    Tensor labels = a.allocate(DType.I32, Device.CPU, p.tokens);
    labels.copyFrom(p.labels);
    Tensor dloss = a.allocate(DType.F32, Device.CPU, p.tokens);
    dloss.copyFrom(p.dloss);
    Tensor dw = a.allocate(DType.F32, Device.CPU, p.vocab, p.dim);
    dw.copyFrom(p.dw0);
    return new Tensor[] {h, w, labels, dloss, dw};
  }

  private static Tensor poisoned(Arena a, long n) {
    Tensor t = a.allocate(DType.F32, Device.CPU, n);
    float[] nan = new float[(int) n];
    java.util.Arrays.fill(nan, Float.NaN);
    t.copyFrom(nan);
    return t;
  }

  @ParameterizedTest(name = "tokens={0} dim={1} vocab={2} chunk={3}")
  @CsvSource({"1, 16, 7, 0", "1, 8, 1, 0", "37, 64, 1001, 10", "64, 32, 5003, 0", "13, 48, 257, 5", "50, 96, 311, 7",
      "300, 24, 97, 0"})
  void matchesTorchForwardAndBackward(int tokens, int dim, int vocab, long chunk) {
    Problem p = Problem.random(tokens, dim, vocab, 17L * tokens + vocab);
    Expected want = torchReference(p, p.h, p.w);
    Got got = runSeparate(p, DType.F32, chunk);
    Assert.close("loss", got.loss, want.loss, 1e-5, 1e-5);
    Assert.close("lse", got.lse, want.lse, 1e-5, 1e-5);
    Assert.close("dhidden", got.dhidden, want.dhidden, 1e-5, 1e-4);
    Assert.close("dweight", got.dweight, want.dweight, 1e-5, 1e-4);
    // Random logits have top-2 gaps far above fp32 error, so the argmax must match exactly.
    for (int t = 0; t < tokens; t++) assertEquals(want.argmax[t], got.argmax[t], "argmax of row " + t);
    for (int t = 0; t < tokens; t++)
      if (p.labels[t] == IGNORE) assertEquals(0f, got.loss[t], "ignored row " + t + " has loss 0");

    // One pass over the logits gives the same results as forward then backward (up to fp32 rounding: the fused
    // path scales e^(x - max) by dloss / sum instead of recomputing e^(x - lse)).
    Got fused = runFused(p, DType.F32, chunk);
    Assert.close("fused loss", fused.loss, got.loss, 1e-6, 1e-6);
    Assert.close("fused lse", fused.lse, got.lse, 1e-6, 1e-6);
    Assert.close("fused dhidden", fused.dhidden, got.dhidden, 1e-6, 1e-5);
    Assert.close("fused dweight", fused.dweight, got.dweight, 1e-6, 1e-5);
    for (int t = 0; t < tokens; t++) assertEquals(want.argmax[t], fused.argmax[t], "fused argmax of row " + t);
  }

  @Test
  void bf16StorageMatchesTorchOnTheRoundedInputs() {
    Problem p = Problem.random(23, 40, 517, 5);
    float[] h, w;
    try (Tensor th = Tensor.fromFloats(p.h, DType.BF16, Device.CPU, p.tokens, p.dim);
        Tensor tw = Tensor.fromFloats(p.w, DType.BF16, Device.CPU, p.vocab, p.dim)) {
      h = th.toFloatArray();
      w = tw.toFloatArray();
    }
    Expected want = torchReference(p, h, w);
    for (Got got : new Got[] {runSeparate(p, DType.BF16, 6), runFused(p, DType.BF16, 0)}) {
      Assert.close("loss", got.loss, want.loss, 1e-5, 1e-5);
      Assert.close("lse", got.lse, want.lse, 1e-5, 1e-5);
      Assert.close("dweight", got.dweight, want.dweight, 1e-5, 1e-4);
      Assert.close("dhidden", got.dhidden, want.dhidden, 1e-3, 1e-2);
    }
  }

  @Test
  void chunkSizeDoesNotChangeResults() {
    Problem p = Problem.random(41, 32, 700, 9);
    Got whole = runFused(p, DType.F32, 41);
    for (long chunk : new long[] {1, 3, 40, 1000, 0}) {
      Got got = runFused(p, DType.F32, chunk);
      // Rows are independent; only dweight's fp32 sum over chunks regroups: ~1e-6 relative.
      Assert.close("loss chunk " + chunk, got.loss, whole.loss, 1e-6, 1e-6);
      Assert.close("dhidden chunk " + chunk, got.dhidden, whole.dhidden, 1e-6, 1e-5);
      Assert.close("dweight chunk " + chunk, got.dweight, whole.dweight, 1e-5, 1e-5);
    }
  }

  @Test
  void rejectsBadArgumentsBeforeNativeCode() {
    try (Arena a = new Arena()) {
      Tensor h = a.zeros(DType.F32, Device.CPU, 4, 8);
      Tensor w = a.zeros(DType.F32, Device.CPU, 10, 8);
      Tensor labels = a.zeros(DType.I32, Device.CPU, 4);
      Tensor loss = a.zeros(DType.F32, Device.CPU, 4);
      Tensor lse = a.zeros(DType.F32, Device.CPU, 4);
      IllegalArgumentException e;
      Tensor wrongDim = a.zeros(DType.F32, Device.CPU, 10, 9);
      e = assertThrows(IllegalArgumentException.class,
          () -> Kernels.lmHeadCrossEntropyForward(h, wrongDim, labels, IGNORE, 0, loss, lse, null));
      assertTrue(e.getMessage().contains("disagree on dim"), e.getMessage());
      Tensor wBf16 = a.zeros(DType.BF16, Device.CPU, 10, 8);
      e = assertThrows(IllegalArgumentException.class,
          () -> Kernels.lmHeadCrossEntropyForward(h, wBf16, labels, IGNORE, 0, loss, lse, null));
      assertTrue(e.getMessage().contains("weight must have dtype float32"), e.getMessage());
      Tensor labelsF32 = a.zeros(DType.F32, Device.CPU, 4);
      e = assertThrows(IllegalArgumentException.class,
          () -> Kernels.lmHeadCrossEntropyForward(h, w, labelsF32, IGNORE, 0, loss, lse, null));
      assertTrue(e.getMessage().contains("labels must be int32"), e.getMessage());
      Tensor shortLoss = a.zeros(DType.F32, Device.CPU, 3);
      e = assertThrows(IllegalArgumentException.class,
          () -> Kernels.lmHeadCrossEntropyForward(h, w, labels, IGNORE, 0, shortLoss, lse, null));
      assertTrue(e.getMessage().contains("loss must have 4 elements"), e.getMessage());
      e = assertThrows(IllegalArgumentException.class,
          () -> Kernels.lmHeadCrossEntropyForward(h, w, labels, IGNORE, -1, loss, lse, null));
      assertTrue(e.getMessage().contains("chunkTokens"), e.getMessage());
      Tensor dh = a.zeros(DType.F32, Device.CPU, 4, 8);
      Tensor dwWrong = a.zeros(DType.F32, Device.CPU, 8, 10);
      e = assertThrows(IllegalArgumentException.class, () -> Kernels.lmHeadCrossEntropyBackward(h, w, labels, lse,
          loss, IGNORE, 0, dh, dwWrong));
      assertTrue(e.getMessage().contains("dweight must have shape [10, 8]"), e.getMessage());
      Tensor freed = Tensor.zeros(DType.F32, Device.CPU, 4);
      freed.close();
      e = assertThrows(IllegalArgumentException.class,
          () -> Kernels.lmHeadCrossEntropyForwardBackward(h, w, labels, freed, IGNORE, 0, loss, lse, null, dh, null));
      assertTrue(e.getMessage().contains("dloss was already freed"), e.getMessage());
    }
  }

  @Test
  void labelOutsideTheVocabIsAnErrorNamingTheRow() {
    try (Arena a = new Arena()) {
      Tensor h = a.zeros(DType.F32, Device.CPU, 5, 8);
      Tensor w = a.zeros(DType.F32, Device.CPU, 10, 8);
      Tensor labels = a.allocate(DType.I32, Device.CPU, 5);
      labels.copyFrom(new int[] {1, IGNORE, 3, 10, 2});
      Tensor loss = poisoned(a, 5), lse = poisoned(a, 5);
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> Kernels.lmHeadCrossEntropyForward(h, w, labels, IGNORE, 0, loss, lse, null));
      assertTrue(e.getMessage().contains("labels[3] = 10 is outside [0, 10)"), e.getMessage());
      for (float v : loss.toFloatArray()) assertTrue(Float.isNaN(v), "nothing is written before the check");
    }
  }

  @Test
  void cAbiRejectsNullPointersAndMissingDevices() {
    try (Arena a = new Arena()) {
      Tensor h = a.zeros(DType.F32, Device.CPU, 2, 4);
      Tensor labels = a.zeros(DType.I32, Device.CPU, 2);
      Tensor out = a.zeros(DType.F32, Device.CPU, 2);
      int status = LossNative.jsw_lmhead_ce_fwd(-1, DType.F32.code(), h.address(), 0, labels.address(), 2, 4, 3,
          IGNORE, 0, out.address(), out.address(), 0);
      assertEquals(NativeStatus.INVALID_ARGUMENT, status);
      assertTrue(CoreNative.jsw_last_error().contains("weight is a null pointer"), CoreNative.jsw_last_error());
      status = LossNative.jsw_lmhead_ce_fwd(CoreNative.jsw_cuda_device_count(), DType.F32.code(), h.address(),
          h.address(), labels.address(), 2, 4, 3, IGNORE, 0, out.address(), out.address(), 0);
      assertEquals(NativeStatus.NO_DEVICE, status, CoreNative.jsw_last_error());
      assertArrayEquals(new float[2], out.toFloatArray());
    }
  }
}
