package jswift.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import jswift.bindings.AttentionNative;
import jswift.bindings.CoreNative;
import jswift.testing.Assert;
import jswift.testing.Rand;
import jswift.testing.Torch;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Flash attention forward and backward against libtorch autograd in fp64: per sequence, explicit scores
 * q k^T * scale with -inf at the invisible keys, softmax, @ v; lse = logsumexp of the masked scores; gradients
 * from sum(out * dout).backward(). GQA is expanded on the torch side with index_select, so dk/dv of a kv head
 * are summed over its query heads by autograd, independently of the kernel.
 *
 * <p>Tolerances (fp32 kernel): inputs are N(0, 1) with scale 1/sqrt(headDim), so scores, probabilities and
 * outputs are O(1). The kernel computes scores as fp32 dot products over headDim <= 128 terms and the softmax
 * with a ~1 ulp exp, so out and lse carry ~1e-6 relative error: 2e-5 absolute + 1e-4 relative. Gradients
 * add sums over up to T = 130 keys or queries and the cancellation in dS = P (dP - rowsum(dO * O)), observed
 * ~2e-6 absolute: 1e-4 absolute + 1e-3 relative.
 */
class AttentionTest {
  /** One attention problem: the geometry, masking, and the packed offsets or padded key mask (or neither). */
  record Case(String name, int batch, int seqLen, int heads, int kvHeads, int headDim, boolean causal, int window,
      int[] cuSeqlens, int[] keyMask) {
    int tokens() {
      return cuSeqlens == null ? batch * seqLen : cuSeqlens[batch];
    }

    int start(int b) {
      return cuSeqlens == null ? b * seqLen : cuSeqlens[b];
    }

    int length(int b) {
      return cuSeqlens == null ? seqLen : cuSeqlens[b + 1] - cuSeqlens[b];
    }

    float scale() {
      return (float) (1.0 / Math.sqrt(headDim));
    }

    boolean visible(int b, int i, int j) {
      return (!causal || j <= i) && (window <= 0 || i - j < window) && (keyMask == null || keyMask[b * seqLen + j] != 0);
    }

    @Override
    public String toString() {
      return name;
    }
  }

  static int[] rightPadding(int seqLen, int... lengths) {
    int[] m = new int[seqLen * lengths.length];
    for (int b = 0; b < lengths.length; b++)
      for (int j = 0; j < lengths[b]; j++) m[b * seqLen + j] = 1;
    return m;
  }

  static Stream<Arguments> cases() {
    return Stream.of(
        new Case("causal GQA 4:2 d64 T37", 2, 37, 4, 2, 64, true, 0, null, null),
        new Case("MQA 4:1 d80 T70", 1, 70, 4, 1, 80, false, 0, null, null),
        new Case("causal MHA d128 T130", 1, 130, 2, 2, 128, true, 0, null, null),
        new Case("causal sliding window 16, d40 T100", 1, 100, 4, 2, 40, true, 16, null, null),
        new Case("bidirectional window 9, T45", 1, 45, 2, 1, 64, false, 9, null, null),
        new Case("padded key mask, one sequence all padding", 3, 29, 4, 2, 64, true, 0, null,
            rightPadding(29, 29, 11, 0)),
        new Case("packed cu_seqlens, uneven lengths", 4, 70, 4, 2, 64, true, 0, new int[] {0, 37, 38, 108, 108}, null),
        new Case("T=1", 3, 1, 2, 1, 64, true, 0, null, null)).map(Arguments::of);
  }

  /** The torch results: out, lse and the gradients of sum(out * dout). */
  record Expected(float[] out, float[] lse, float[] dq, float[] dk, float[] dv) {}

  static Expected torchReference(Case c, float[] q, float[] k, float[] v, float[] dout) {
    int t = c.tokens(), h = c.heads(), kh = c.kvHeads(), d = c.headDim();
    org.bytedeco.pytorch.Tensor tq = Torch.param(q, t, h, d);
    org.bytedeco.pytorch.Tensor tk = Torch.param(k, t, kh, d);
    org.bytedeco.pytorch.Tensor tv = Torch.param(v, t, kh, d);
    long[] kvOf = new long[h];
    for (int i = 0; i < h; i++) kvOf[i] = i / (h / kh);
    org.bytedeco.pytorch.Tensor idx = Torch.longs(kvOf, h);
    org.bytedeco.pytorch.Tensor ke = tk.index_select(1, idx), ve = tv.index_select(1, idx);
    List<org.bytedeco.pytorch.Tensor> outs = new ArrayList<>(), lses = new ArrayList<>();
    for (int b = 0; b < c.batch(); b++) {
      int s0 = c.start(b), len = c.length(b);
      if (len == 0) continue;
      // allowed[i][j]: the visibility rule, except that a query with no visible key may see all of them (its
      // probabilities are then zeroed by rowValid), so that softmax never sees an all -inf row.
      long[] allowed = new long[len * len];
      float[] rowValid = new float[len];
      long[] rowEmpty = new long[len];
      for (int i = 0; i < len; i++) {
        for (int j = 0; j < len; j++) if (c.visible(b, i, j)) rowValid[i] = 1;
        rowEmpty[i] = rowValid[i] == 0 ? 1 : 0;
        for (int j = 0; j < len; j++) allowed[i * len + j] = c.visible(b, i, j) || rowValid[i] == 0 ? 1 : 0;
      }
      org.bytedeco.pytorch.Tensor blocked = Torch.longs(allowed, len, len).eq(Torch.scalar(0));
      org.bytedeco.pytorch.Tensor qs = tq.narrow(0, s0, len).permute(1, 0, 2);  // [h, len, d]
      org.bytedeco.pytorch.Tensor ks = ke.narrow(0, s0, len).permute(1, 0, 2);
      org.bytedeco.pytorch.Tensor vs = ve.narrow(0, s0, len).permute(1, 0, 2);
      org.bytedeco.pytorch.Tensor scores =
          qs.matmul(ks.transpose(1, 2)).mul(Torch.scalar(c.scale())).masked_fill(blocked,
              Torch.scalar(Double.NEGATIVE_INFINITY));
      org.bytedeco.pytorch.Tensor probs = scores.softmax(-1).mul(Torch.tensor(rowValid, len, 1));
      outs.add(probs.matmul(vs).permute(1, 0, 2));
      org.bytedeco.pytorch.Tensor lse = scores.logsumexp(new long[] {-1}, false)
          .masked_fill(Torch.longs(rowEmpty, len).eq(Torch.scalar(1)), Torch.scalar(Double.NEGATIVE_INFINITY));
      lses.add(lse.transpose(0, 1));  // [len, h]
    }
    org.bytedeco.pytorch.Tensor out = torch.cat(new TensorVector(outs.toArray(new org.bytedeco.pytorch.Tensor[0])), 0);
    org.bytedeco.pytorch.Tensor lse = torch.cat(new TensorVector(lses.toArray(new org.bytedeco.pytorch.Tensor[0])), 0);
    Torch.dot(out, Torch.tensor(dout, t, h, d)).backward();
    return new Expected(Torch.floats(out), Torch.floats(lse), Torch.floats(tq.grad()), Torch.floats(tk.grad()),
        Torch.floats(tv.grad()));
  }

  /** The kernel's results on the CPU, in dtype; outputs start as NaN so that an unwritten element fails. */
  static Expected run(Case c, DType dtype, float[] q, float[] k, float[] v, float[] dout) {
    int t = c.tokens(), h = c.heads(), kh = c.kvHeads(), d = c.headDim();
    try (Arena a = new Arena()) {
      Tensor jq = a.allocate(dtype, Device.CPU, t, h, d);
      jq.copyFrom(q);
      Tensor jk = a.allocate(dtype, Device.CPU, t, kh, d);
      jk.copyFrom(k);
      Tensor jv = a.allocate(dtype, Device.CPU, t, kh, d);
      jv.copyFrom(v);
      Tensor jdout = a.allocate(dtype, Device.CPU, t, h, d);
      jdout.copyFrom(dout);
      Tensor cu = null, mask = null;
      if (c.cuSeqlens() != null) {
        cu = a.allocate(DType.I32, Device.CPU, c.cuSeqlens().length);
        cu.copyFrom(c.cuSeqlens());
      }
      if (c.keyMask() != null) {
        mask = a.allocate(DType.I32, Device.CPU, c.batch(), c.seqLen());
        mask.copyFrom(c.keyMask());
      }
      Tensor out = nan(a, dtype, t, h, d), lse = nan(a, DType.F32, t, h);
      Tensor dq = nan(a, dtype, t, h, d), dk = nan(a, dtype, t, kh, d), dv = nan(a, dtype, t, kh, d);
      Kernels.attentionForward(jq, jk, jv, c.seqLen(), cu, mask, c.causal(), c.window(), c.scale(), out, lse);
      Kernels.attentionBackward(jq, jk, jv, out, jdout, lse, c.seqLen(), cu, mask, c.causal(), c.window(), c.scale(),
          dq, dk, dv);
      return new Expected(out.toFloatArray(), lse.toFloatArray(), dq.toFloatArray(), dk.toFloatArray(),
          dv.toFloatArray());
    }
  }

  static Tensor nan(Arena a, DType dtype, long... shape) {
    Tensor x = a.allocate(dtype, Device.CPU, shape);
    Kernels.fill(x, Float.NaN);
    return x;
  }

  /** lse: the -inf entries (queries that see no key) must match exactly, the finite ones be close. */
  static void assertLse(String what, float[] got, float[] want, double atol) {
    assertEquals(want.length, got.length, what + " length");
    float[] g = got.clone(), w = want.clone();
    for (int i = 0; i < w.length; i++) {
      assertEquals(w[i] == Float.NEGATIVE_INFINITY, g[i] == Float.NEGATIVE_INFINITY,
          what + ": element " + i + " got " + g[i] + " want " + w[i]);
      if (w[i] == Float.NEGATIVE_INFINITY) g[i] = w[i] = 0;
    }
    Assert.close(what, g, w, atol, 0);
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  void matchesTorchForwardAndBackward(Case c) {
    int t = c.tokens();
    float[] q = Rand.normal((long) t * c.heads() * c.headDim(), 11);
    float[] k = Rand.normal((long) t * c.kvHeads() * c.headDim(), 12);
    float[] v = Rand.normal((long) t * c.kvHeads() * c.headDim(), 13);
    float[] dout = Rand.normal((long) t * c.heads() * c.headDim(), 14);
    Expected want = torchReference(c, q, k, v, dout);
    Expected got = run(c, DType.F32, q, k, v, dout);
    Assert.close("out", got.out(), want.out(), 2e-5, 1e-4);
    assertLse("lse", got.lse(), want.lse(), 2e-5);
    Assert.close("dq", got.dq(), want.dq(), 1e-4, 1e-3);
    Assert.close("dk", got.dk(), want.dk(), 1e-4, 1e-3);
    Assert.close("dv", got.dv(), want.dv(), 1e-4, 1e-3);
  }

  @Test
  void bf16StorageStaysWithinItsRounding() {
    // bf16 inputs are exact in fp64 (the torch side sees the rounded values); the kernel computes in fp32 and
    // rounds each stored output once (relative 2^-9), so the relative norm error is a few 1e-3.
    Case c = new Case("bf16 causal GQA", 2, 45, 4, 2, 64, true, 0, null, null);
    int n = c.tokens() * c.heads() * c.headDim(), nk = c.tokens() * c.kvHeads() * c.headDim();
    float[] q = bf16(Rand.normal(n, 21)), k = bf16(Rand.normal(nk, 22)), v = bf16(Rand.normal(nk, 23));
    float[] dout = bf16(Rand.normal(n, 24));
    Expected want = torchReference(c, q, k, v, dout);
    Expected got = run(c, DType.BF16, q, k, v, dout);
    Assert.relNorm("out", got.out(), want.out(), 8e-3);
    assertLse("lse", got.lse(), want.lse(), 1e-4);  // lse stays fp32
    Assert.relNorm("dq", got.dq(), want.dq(), 8e-3);
    Assert.relNorm("dk", got.dk(), want.dk(), 8e-3);
    Assert.relNorm("dv", got.dv(), want.dv(), 8e-3);
  }

  static float[] bf16(float[] x) {
    try (Tensor t = Tensor.fromFloats(x, DType.BF16, Device.CPU, x.length)) {
      return t.toFloatArray();
    }
  }

  // ---- bad arguments ----

  private static IllegalArgumentException fails(Runnable call) {
    return assertThrows(IllegalArgumentException.class, call::run);
  }

  @Test
  void rejectsBadArgumentsBeforeNativeCode() {
    try (Arena a = new Arena()) {
      Tensor q = a.zeros(DType.F32, Device.CPU, 8, 3, 16);
      Tensor k = a.zeros(DType.F32, Device.CPU, 8, 2, 16);
      Tensor out = a.zeros(DType.F32, Device.CPU, 8, 3, 16);
      Tensor lse = a.zeros(DType.F32, Device.CPU, 8, 3);
      IllegalArgumentException e =
          fails(() -> Kernels.attentionForward(q, k, k, 8, null, null, true, 0, 0.25f, out, lse));
      assertTrue(e.getMessage().contains("heads (3) must be a multiple of kvHeads (2)"), e.getMessage());

      Tensor q4 = a.zeros(DType.F32, Device.CPU, 8, 4, 16);
      Tensor out4 = a.zeros(DType.F32, Device.CPU, 8, 4, 16);
      Tensor lse4 = a.zeros(DType.F32, Device.CPU, 8, 4);
      Tensor kShort = a.zeros(DType.F32, Device.CPU, 7, 2, 16);
      e = fails(() -> Kernels.attentionForward(q4, kShort, kShort, 8, null, null, true, 0, 0.25f, out4, lse4));
      assertTrue(e.getMessage().contains("k must be [8, kvHeads, 16]"), e.getMessage());
      Tensor vOther = a.zeros(DType.F32, Device.CPU, 8, 1, 16);
      e = fails(() -> Kernels.attentionForward(q4, k, vOther, 8, null, null, true, 0, 0.25f, out4, lse4));
      assertTrue(e.getMessage().contains("v must have shape [8, 2, 16]"), e.getMessage());
      e = fails(() -> Kernels.attentionForward(q4, k, k, 3, null, null, true, 0, 0.25f, out4, lse4));
      assertTrue(e.getMessage().contains("tokens (8) must be a multiple of seqLen (3)"), e.getMessage());

      Tensor cu = a.allocate(DType.I32, Device.CPU, 3);
      cu.copyFrom(new int[] {0, 3, 8});
      Tensor mask = a.zeros(DType.I32, Device.CPU, 2, 5);
      e = fails(() -> Kernels.attentionForward(q4, k, k, 5, cu, mask, true, 0, 0.25f, out4, lse4));
      assertTrue(e.getMessage().contains("keyMask is for the padded layout"), e.getMessage());
      Tensor cuShort = a.allocate(DType.I32, Device.CPU, 3);
      cuShort.copyFrom(new int[] {0, 3, 7});
      e = fails(() -> Kernels.attentionForward(q4, k, k, 5, cuShort, null, true, 0, 0.25f, out4, lse4));
      assertTrue(e.getMessage().contains("must equal the token count 8"), e.getMessage());

      Tensor lseBf16 = a.zeros(DType.BF16, Device.CPU, 8, 4);
      e = fails(() -> Kernels.attentionForward(q4, k, k, 8, null, null, true, 0, 0.25f, out4, lseBf16));
      assertTrue(e.getMessage().contains("lse must be float32"), e.getMessage());
      Tensor dqBf16 = a.zeros(DType.BF16, Device.CPU, 8, 4, 16);
      e = fails(() -> Kernels.attentionBackward(q4, k, k, out4, out4, lse4, 8, null, null, true, 0, 0.25f, dqBf16, k,
          k));
      assertTrue(e.getMessage().contains("dq must have dtype float32"), e.getMessage());
      e = fails(() -> Kernels.attentionBackward(q4, k, k, out4, out4, lse4, 8, null, null, true, 0, 0.25f, out4, q4,
          k));
      assertTrue(e.getMessage().contains("dk must have shape [8, 2, 16]"), e.getMessage());

      Tensor freed = Tensor.zeros(DType.F32, Device.CPU, 8, 2, 16);
      freed.close();
      e = fails(() -> Kernels.attentionForward(q4, k, freed, 8, null, null, true, 0, 0.25f, out4, lse4));
      assertTrue(e.getMessage().contains("v was already freed"), e.getMessage());
    }
  }

  @Test
  void cAbiRejectsBadArgumentsWithAStatus() {
    // Straight at the C function, past the Java checks: heads 3 with kvHeads 2.
    try (Arena a = new Arena()) {
      Tensor x = a.zeros(DType.F32, Device.CPU, 8, 3, 16);
      Tensor lse = a.zeros(DType.F32, Device.CPU, 8, 3);
      int status = AttentionNative.jsw_attention_fwd(-1, DType.F32.code(), x.address(), x.address(), x.address(), 1,
          8, 3, 2, 16, 0, 0, 1, 0, 0.25f, x.address(), lse.address());
      assertEquals(1, status, "JSW_ERR_INVALID_ARGUMENT");
      assertTrue(CoreNative.jsw_last_error().contains("heads (3) must be a multiple of kv_heads (2)"),
          CoreNative.jsw_last_error());
      status = AttentionNative.jsw_attention_bwd(-1, DType.F32.code(), x.address(), x.address(), x.address(),
          x.address(), x.address(), lse.address(), 1, 8, 3, 3, 16, 0, 0, 1, 0, 0.25f, x.address(), 0, x.address());
      assertEquals(1, status, "JSW_ERR_INVALID_ARGUMENT");
      assertTrue(CoreNative.jsw_last_error().contains("dk is a null pointer"), CoreNative.jsw_last_error());
    }
  }
}
