package jswift.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.stream.Stream;
import jswift.bindings.CoreNative;
import jswift.bindings.DecodeNative;
import jswift.testing.Assert;
import jswift.testing.Rand;
import jswift.testing.Torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * KV-cache decode attention against libtorch in fp64: per sequence, the cache's keys and values (GQA expanded
 * with index_select), explicit scores q k^T * scale with -inf at the slots a query may not see (after its
 * position, outside the window, padding, past kv_len), softmax, @ v; lse = logsumexp of the masked scores. The op
 * has no backward (inference only). Also the generation loop: kvCacheAppend then attentionDecode, prompt chunk
 * then one token at a time, against torch's causal attention over the whole sequence.
 *
 * <p>Tolerances (fp32 kernel): inputs are N(0, 1) with scale 1/sqrt(headDim), so scores, probabilities and
 * outputs are O(1); the kernel's fp32 dot products over headDim <= 128 terms and ~2 ulp exp give ~1e-6 relative
 * error in out and lse, and the split-key merge one more exp and division: 2e-5 absolute + 1e-4 relative, as for
 * the training attention's forward.
 */
class AttentionDecodeTest {
  /** One call: geometry, window, the valid lengths and a [batch, capacity] key mask (or null). */
  record Case(String name, int batch, int qLen, int capacity, int heads, int kvHeads, int headDim, int window,
      int[] kvLen, int[] keyMask) {
    float scale() {
      return (float) (1.0 / Math.sqrt(headDim));
    }

    boolean visible(int b, int i, int j) {
      int p = kvLen[b] - qLen + i;
      return j <= p && (window <= 0 || p - j < window) && (keyMask == null || keyMask[b * capacity + j] != 0);
    }

    @Override
    public String toString() {
      return name;
    }
  }

  static int[] leftPadding(int capacity, int... pads) {
    int[] m = new int[capacity * pads.length];
    for (int b = 0; b < pads.length; b++)
      for (int j = pads[b]; j < capacity; j++) m[b * capacity + j] = 1;
    return m;
  }

  static Stream<Arguments> cases() {
    return Stream.of(
        // kvLen at both bounds: a full cache and one holding only the new token
        new Case("decode GQA 8:2 d128, kvLen 45/1/30", 3, 1, 45, 8, 2, 128, 0, new int[] {45, 1, 30}, null),
        new Case("continuation of 7 tokens, GQA 4:2 d80", 2, 7, 50, 4, 2, 80, 0, new int[] {7, 33}, null),
        new Case("prefill qLen = kvLen = capacity, MHA d64", 2, 37, 37, 2, 2, 64, 0, new int[] {37, 37}, null),
        // sequence 1's first query sees only padding: out 0, lse -inf
        new Case("left padding + window 5, MQA 3:1 d33", 2, 3, 29, 3, 1, 33, 5, new int[] {29, 20},
            leftPadding(29, 4, 19)),
        // one tile over a long cache: the CPU splits the keys over threads and merges the partials
        new Case("long decode, split keys, GQA 4:1 d128", 1, 1, 700, 4, 1, 128, 0, new int[] {650}, null))
        .map(Arguments::of);
  }

  /** out [batch, qLen, heads, headDim] and lse [batch, qLen, heads] from torch. */
  record Expected(float[] out, float[] lse) {}

  static Expected torchReference(Case c, float[] q, float[] k, float[] v) {
    int h = c.heads(), kh = c.kvHeads(), d = c.headDim(), ql = c.qLen(), cap = c.capacity();
    org.bytedeco.pytorch.Tensor tq = Torch.tensor(q, c.batch(), ql, h, d);
    org.bytedeco.pytorch.Tensor tk = Torch.tensor(k, c.batch(), cap, kh, d);
    org.bytedeco.pytorch.Tensor tv = Torch.tensor(v, c.batch(), cap, kh, d);
    long[] kvOf = new long[h];
    for (int i = 0; i < h; i++) kvOf[i] = i / (h / kh);
    org.bytedeco.pytorch.Tensor idx = Torch.longs(kvOf, h);
    float[] out = new float[c.batch() * ql * h * d], lse = new float[c.batch() * ql * h];
    for (int b = 0; b < c.batch(); b++) {
      // allowed[i][j]: the visibility rule, except that a query with no visible slot may see all of them (its
      // probabilities are zeroed by rowValid), so that softmax never sees an all -inf row.
      long[] allowed = new long[ql * cap];
      float[] rowValid = new float[ql];
      long[] rowEmpty = new long[ql];
      for (int i = 0; i < ql; i++) {
        for (int j = 0; j < cap; j++) if (c.visible(b, i, j)) rowValid[i] = 1;
        rowEmpty[i] = rowValid[i] == 0 ? 1 : 0;
        for (int j = 0; j < cap; j++) allowed[i * cap + j] = c.visible(b, i, j) || rowValid[i] == 0 ? 1 : 0;
      }
      org.bytedeco.pytorch.Tensor blocked = Torch.longs(allowed, ql, cap).eq(Torch.scalar(0));
      org.bytedeco.pytorch.Tensor qs = tq.select(0, b).permute(1, 0, 2);  // [h, ql, d]
      org.bytedeco.pytorch.Tensor ks = tk.select(0, b).index_select(1, idx).permute(1, 0, 2);  // [h, cap, d]
      org.bytedeco.pytorch.Tensor vs = tv.select(0, b).index_select(1, idx).permute(1, 0, 2);
      org.bytedeco.pytorch.Tensor scores = qs.matmul(ks.transpose(1, 2)).mul(Torch.scalar(c.scale()))
          .masked_fill(blocked, Torch.scalar(Double.NEGATIVE_INFINITY));
      org.bytedeco.pytorch.Tensor probs = scores.softmax(-1).mul(Torch.tensor(rowValid, ql, 1));
      float[] ob = Torch.floats(probs.matmul(vs).permute(1, 0, 2));  // [ql, h, d]
      float[] lb = Torch.floats(scores.logsumexp(new long[] {-1}, false)
          .masked_fill(Torch.longs(rowEmpty, ql).eq(Torch.scalar(1)), Torch.scalar(Double.NEGATIVE_INFINITY))
          .transpose(0, 1));  // [ql, h]
      System.arraycopy(ob, 0, out, b * ql * h * d, ob.length);
      System.arraycopy(lb, 0, lse, b * ql * h, lb.length);
    }
    return new Expected(out, lse);
  }

  /** The op on the CPU in dtype; out and lse start as NaN so that an unwritten element fails. */
  static Expected run(Case c, DType dtype, float[] q, float[] k, float[] v) {
    int h = c.heads(), kh = c.kvHeads(), d = c.headDim();
    try (Arena a = new Arena()) {
      Tensor jq = a.allocate(dtype, Device.CPU, c.batch(), c.qLen(), h, d);
      jq.copyFrom(q);
      Tensor jk = a.allocate(dtype, Device.CPU, c.batch(), c.capacity(), kh, d);
      jk.copyFrom(k);
      Tensor jv = a.allocate(dtype, Device.CPU, c.batch(), c.capacity(), kh, d);
      jv.copyFrom(v);
      Tensor len = a.allocate(DType.I32, Device.CPU, c.batch());
      len.copyFrom(c.kvLen());
      Tensor mask = null;
      if (c.keyMask() != null) {
        mask = a.allocate(DType.I32, Device.CPU, c.batch(), c.capacity());
        mask.copyFrom(c.keyMask());
      }
      Tensor out = nan(a, dtype, c.batch(), c.qLen(), h, d), lse = nan(a, DType.F32, c.batch(), c.qLen(), h);
      Kernels.attentionDecode(jq, jk, jv, len, mask, c.window(), c.scale(), out, lse);
      return new Expected(out.toFloatArray(), lse.toFloatArray());
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
  void matchesTorch(Case c) {
    float[] q = Rand.normal((long) c.batch() * c.qLen() * c.heads() * c.headDim(), 31);
    float[] k = Rand.normal((long) c.batch() * c.capacity() * c.kvHeads() * c.headDim(), 32);
    float[] v = Rand.normal((long) c.batch() * c.capacity() * c.kvHeads() * c.headDim(), 33);
    Expected want = torchReference(c, q, k, v);
    Expected got = run(c, DType.F32, q, k, v);
    Assert.close("out", got.out(), want.out(), 2e-5, 1e-4);
    assertLse("lse", got.lse(), want.lse(), 2e-5);
  }

  @Test
  void bf16StorageStaysWithinItsRounding() {
    // bf16 inputs are exact in fp64 (torch sees the rounded values); the kernel computes in fp32 and rounds each
    // output once (relative 2^-9), so the relative norm error is a few 1e-3; lse stays fp32.
    Case c = new Case("bf16 decode GQA", 2, 2, 40, 8, 2, 64, 0, new int[] {40, 17}, null);
    float[] q = bf16(Rand.normal((long) c.batch() * c.qLen() * c.heads() * c.headDim(), 41));
    float[] k = bf16(Rand.normal((long) c.batch() * c.capacity() * c.kvHeads() * c.headDim(), 42));
    float[] v = bf16(Rand.normal((long) c.batch() * c.capacity() * c.kvHeads() * c.headDim(), 43));
    Expected want = torchReference(c, q, k, v);
    Expected got = run(c, DType.BF16, q, k, v);
    Assert.relNorm("out", got.out(), want.out(), 8e-3);
    assertLse("lse", got.lse(), want.lse(), 1e-4);
  }

  static float[] bf16(float[] x) {
    try (Tensor t = Tensor.fromFloats(x, DType.BF16, Device.CPU, x.length)) {
      return t.toFloatArray();
    }
  }

  @Test
  void generationThroughTheCacheMatchesTorchCausalAttention() {
    // Two sequences of 9 tokens, GQA 4:2, head_dim 48, in a cache of 12 slots: a prompt of 4 tokens, then 5
    // steps of one token, each appended before its query runs. Step t must equal row t of torch's causal
    // attention over the 9 tokens (the full-sequence reference: every slot up to t is visible).
    int batch = 2, seq = 9, prompt = 4, cap = 12, h = 4, kh = 2, d = 48;
    float[] q = Rand.normal((long) batch * seq * h * d, 51);
    float[] k = Rand.normal((long) batch * seq * kh * d, 52);
    float[] v = Rand.normal((long) batch * seq * kh * d, 53);
    // torch: the same sequences laid out as caches of exactly seq slots, all queries at once
    Case whole = new Case("whole", batch, seq, seq, h, kh, d, 0, new int[] {seq, seq}, null);
    Expected want = torchReference(whole, q, k, v);

    float[] out = new float[batch * seq * h * d], lse = new float[batch * seq * h];
    float scale = (float) (1.0 / Math.sqrt(d));
    try (Arena a = new Arena()) {
      Tensor kc = nan(a, DType.F32, batch, cap, kh, d), vc = nan(a, DType.F32, batch, cap, kh, d);
      Tensor len = a.allocate(DType.I32, Device.CPU, batch);
      for (int t0 = 0; t0 < seq; ) {
        int n = t0 == 0 ? prompt : 1;
        Tensor qs = a.allocate(DType.F32, Device.CPU, batch, n, h, d);
        Tensor ks = a.allocate(DType.F32, Device.CPU, batch, n, kh, d);
        Tensor vs = a.allocate(DType.F32, Device.CPU, batch, n, kh, d);
        qs.copyFrom(steps(q, batch, seq, t0, n, h * d));
        ks.copyFrom(steps(k, batch, seq, t0, n, kh * d));
        vs.copyFrom(steps(v, batch, seq, t0, n, kh * d));
        len.copyFrom(new int[] {t0 + n, t0 + n});
        Tensor o = nan(a, DType.F32, batch, n, h, d), l = nan(a, DType.F32, batch, n, h);
        Kernels.kvCacheAppend(ks, vs, kc, vc, len);
        Kernels.attentionDecode(qs, kc, vc, len, null, 0, scale, o, l);
        float[] of = o.toFloatArray(), lf = l.toFloatArray();
        for (int b = 0; b < batch; b++) {
          System.arraycopy(of, b * n * h * d, out, (b * seq + t0) * h * d, n * h * d);
          System.arraycopy(lf, b * n * h, lse, (b * seq + t0) * h, n * h);
        }
        t0 += n;
      }
    }
    Assert.close("out", out, want.out(), 2e-5, 1e-4);
    assertLse("lse", lse, want.lse(), 2e-5);
  }

  /** Rows [t0, t0 + n) of each of the batch sequences of x ([batch, seq, width]), as [batch, n, width]. */
  static float[] steps(float[] x, int batch, int seq, int t0, int n, int width) {
    float[] s = new float[batch * n * width];
    for (int b = 0; b < batch; b++) System.arraycopy(x, (b * seq + t0) * width, s, b * n * width, n * width);
    return s;
  }

  // ---- bad arguments ----

  private static void expectMessage(Runnable call, String message) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call::run);
    assertTrue(e.getMessage().contains(message), e.getMessage());
  }

  @Test
  void rejectsBadArgumentsBeforeNativeCode() {
    try (Arena a = new Arena()) {
      Tensor q = a.zeros(DType.F32, Device.CPU, 2, 3, 4, 16);
      Tensor kc = a.zeros(DType.F32, Device.CPU, 2, 8, 2, 16);
      Tensor len = a.allocate(DType.I32, Device.CPU, 2);
      len.copyFrom(new int[] {3, 8});
      Tensor out = a.zeros(DType.F32, Device.CPU, 2, 3, 4, 16);
      Tensor lse = a.zeros(DType.F32, Device.CPU, 2, 3, 4);
      expectMessage(() -> Kernels.attentionDecode(a.zeros(DType.F32, Device.CPU, 6, 4, 16), kc, kc, len, null, 0,
          0.25f, out, lse), "q must be [batch, qLen, heads, headDim]");
      expectMessage(() -> Kernels.attentionDecode(a.zeros(DType.F32, Device.CPU, 2, 3, 3, 16), kc, kc, len, null, 0,
          0.25f, a.zeros(DType.F32, Device.CPU, 2, 3, 3, 16), null), "heads (3) must be a multiple of kvHeads (2)");
      Tensor kOther = a.zeros(DType.F32, Device.CPU, 2, 8, 2, 8);
      expectMessage(() -> Kernels.attentionDecode(q, kOther, kOther, len, null, 0, 0.25f, out, lse),
          "kCache must be [2, capacity, kvHeads, 16]");
      expectMessage(() -> Kernels.attentionDecode(q, kc, a.zeros(DType.F32, Device.CPU, 2, 7, 2, 16), len, null, 0,
          0.25f, out, lse), "vCache must have shape [2, 8, 2, 16]");
      Tensor kSmall = a.zeros(DType.F32, Device.CPU, 2, 2, 2, 16);
      expectMessage(() -> Kernels.attentionDecode(q, kSmall, kSmall, len, null, 0, 0.25f, out, lse),
          "qLen (3) must be <= the cache capacity (2)");
      expectMessage(() -> Kernels.attentionDecode(q, a.zeros(DType.BF16, Device.CPU, 2, 8, 2, 16), kc, len, null, 0,
          0.25f, out, lse), "kCache must have dtype float32");
      expectMessage(() -> Kernels.attentionDecode(q, kc, kc, a.zeros(DType.I64, Device.CPU, 2), null, 0, 0.25f, out,
          lse), "kvLen must be int32");
      expectMessage(() -> Kernels.attentionDecode(q, kc, kc, a.zeros(DType.I32, Device.CPU, 3), null, 0, 0.25f, out,
          lse), "kvLen must have shape [2]");
      expectMessage(() -> Kernels.attentionDecode(q, kc, kc, len, a.zeros(DType.I32, Device.CPU, 2, 3), 0, 0.25f,
          out, lse), "keyMask must have shape [2, 8]");
      expectMessage(() -> Kernels.attentionDecode(q, kc, kc, len, null, 0, 0.25f, out,
          a.zeros(DType.BF16, Device.CPU, 2, 3, 4)), "lse must be float32");
      expectMessage(() -> Kernels.attentionDecode(q, kc, kc, len, null, 0, 0.25f,
          a.zeros(DType.F32, Device.CPU, 2, 3, 4, 8), lse), "out must have shape [2, 3, 4, 16]");
      expectMessage(() -> Kernels.attentionDecode(q, kc, kc, len, null, 0, 0.25f,
          ElsewhereTensors.onCuda(DType.F32, 2, 3, 4, 16), lse), "out is on cuda:0 but the op runs on cpu");
      Tensor freed = Tensor.zeros(DType.F32, Device.CPU, 2, 8, 2, 16);
      freed.close();
      expectMessage(() -> Kernels.attentionDecode(q, kc, freed, len, null, 0, 0.25f, out, lse),
          "vCache was already freed");

      // A length outside [qLen, capacity] is caught by the native checks, before out is written.
      Tensor badLen = a.allocate(DType.I32, Device.CPU, 2);
      badLen.copyFrom(new int[] {3, 9});
      Tensor poisoned = nan(a, DType.F32, 2, 3, 4, 16);
      expectMessage(() -> Kernels.attentionDecode(q, kc, kc, badLen, null, 0, 0.25f, poisoned, null),
          "kv_len[1] = 9 is outside [q_len = 3, capacity = 8]");
      for (float x : poisoned.toFloatArray()) assertTrue(Float.isNaN(x), "out was written before the check");

      Tensor kn = a.zeros(DType.F32, Device.CPU, 2, 3, 2, 16);
      expectMessage(() -> Kernels.kvCacheAppend(kn, a.zeros(DType.F32, Device.CPU, 2, 3, 1, 16), kc, kc, len),
          "vNew must have shape [2, 3, 2, 16]");
      Tensor kn1 = a.zeros(DType.F32, Device.CPU, 2, 3, 1, 16);
      expectMessage(() -> Kernels.kvCacheAppend(kn1, kn1, kc, kc, len), "kCache must have 1 kv heads like kNew");
      expectMessage(() -> Kernels.kvCacheAppend(kn, kn, kc, kc, a.zeros(DType.F32, Device.CPU, 2)),
          "kvLen must be int32");
      Tensor shortLen = a.allocate(DType.I32, Device.CPU, 2);
      shortLen.copyFrom(new int[] {2, 8});
      Tensor cache = nan(a, DType.F32, 2, 8, 2, 16);
      expectMessage(() -> Kernels.kvCacheAppend(kn, kn, cache, cache, shortLen),
          "kv_len[0] = 2 is outside [q_len = 3, capacity = 8]");
      for (float x : cache.toFloatArray()) assertTrue(Float.isNaN(x), "the cache was written before the check");
    }
  }

  @Test
  void cAbiRejectsBadArgumentsWithAStatus() {
    // Straight at the C functions, past the Java checks.
    try (Arena a = new Arena()) {
      Tensor x = a.zeros(DType.F32, Device.CPU, 2 * 8 * 3 * 16);
      Tensor len = a.allocate(DType.I32, Device.CPU, 2);
      len.copyFrom(new int[] {1, 8});
      int status = DecodeNative.jsw_attention_decode(-1, DType.F32.code(), x.address(), x.address(), x.address(),
          len.address(), 0, 2, 1, 8, 3, 2, 16, 0, 0.25f, x.address(), 0);
      assertEquals(NativeStatus.INVALID_ARGUMENT, status);
      assertTrue(CoreNative.jsw_last_error().contains("heads (3) must be a multiple of kv_heads (2)"),
          CoreNative.jsw_last_error());
      status = DecodeNative.jsw_attention_decode(-1, DType.F32.code(), x.address(), x.address(), x.address(), 0, 0,
          2, 1, 8, 2, 2, 16, 0, 0.25f, x.address(), 0);
      assertEquals(NativeStatus.INVALID_ARGUMENT, status);
      assertTrue(CoreNative.jsw_last_error().contains("jsw_attention_decode: kv_len is a null pointer"),
          CoreNative.jsw_last_error());
      status = DecodeNative.jsw_kv_cache_append(-1, DType.F32.code(), 0, x.address(), x.address(), x.address(),
          len.address(), 2, 1, 8, 2, 16);
      assertEquals(NativeStatus.INVALID_ARGUMENT, status);
      assertTrue(CoreNative.jsw_last_error().contains("jsw_kv_cache_append: k_new is a null pointer"),
          CoreNative.jsw_last_error());
      status = DecodeNative.jsw_kv_cache_append(-1, DType.F32.code(), x.address(), x.address(), x.address(),
          x.address(), len.address(), 2, 2, 8, 2, 16);
      assertEquals(NativeStatus.INVALID_ARGUMENT, status);
      assertTrue(CoreNative.jsw_last_error().contains("kv_len[0] = 1 is outside [q_len = 2, capacity = 8]"),
          CoreNative.jsw_last_error());
    }
  }
}
