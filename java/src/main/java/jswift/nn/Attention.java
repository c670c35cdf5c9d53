package jswift.nn;

import jswift.tensor.Arena;
import jswift.tensor.DType;
import jswift.tensor.Kernels;
import jswift.tensor.Tensor;

/**
 * Self-attention of a decoder layer: q/k/v projections (with bias for Qwen2), Qwen3's per-head q/k RMSNorm,
 * RoPE, causal flash attention (GQA, optional sliding window) and the output projection.
 */
public final class Attention {
  private final Linear q, k, v, o;
  private final RmsNorm qNorm, kNorm;
  private final int heads, kvHeads, headDim;
  private final long window;

  /** What the backward needs (or what recomputation rebuilds). */
  public static final class Saved {
    final Linear.Saved q = new Linear.Saved(), k = new Linear.Saved(), v = new Linear.Saved(), o = new Linear.Saved();
    final RmsNorm.Saved qNorm = new RmsNorm.Saved(), kNorm = new RmsNorm.Saved();
    Tensor qr, kr, vr, out, lse;
  }

  public Attention(Linear q, Linear k, Linear v, Linear o, RmsNorm qNorm, RmsNorm kNorm, int heads, int kvHeads,
      int headDim, long window) {
    this.q = q;
    this.k = k;
    this.v = v;
    this.o = o;
    this.qNorm = qNorm;
    this.kNorm = kNorm;
    this.heads = heads;
    this.kvHeads = kvHeads;
    this.headDim = headDim;
    this.window = window;
  }

  public Linear[] projections() {
    return new Linear[] {q, k, v, o};
  }

  public RmsNorm qNorm() {
    return qNorm;
  }

  public RmsNorm kNorm() {
    return kNorm;
  }

  private float scale() {
    return (float) (1.0 / Math.sqrt(headDim));
  }

  /** x [tokens, hidden] (normalised) -> [tokens, hidden]; {@code training} turns LoRA dropout on. */
  public Tensor forward(Arena a, Tensor x, AttentionLayout layout, Rope rope, long seed, Saved s, boolean training) {
    long n = x.size(0);
    Tensor qh = q.forward(a, x, seed, s == null ? null : s.q, training).view(n, heads, headDim);
    Tensor kh = k.forward(a, x, seed + 1, s == null ? null : s.k, training).view(n, kvHeads, headDim);
    Tensor vh = v.forward(a, x, seed + 2, s == null ? null : s.v, training).view(n, kvHeads, headDim);
    if (qNorm != null) {
      qh = qNorm.forward(a, qh, s == null ? null : s.qNorm);
      kh = kNorm.forward(a, kh, s == null ? null : s.kNorm);
    }
    rope.apply(qh, layout.positions());
    rope.apply(kh, layout.positions());
    ShiftedGroups groups = layout.shifted();
    if (groups != null) {
      // S²-Attn: the two halves of the heads as one packed batch of groups (see ShiftedGroups)
      qh = groups.group(a, qh);
      kh = groups.group(a, kh);
      vh = groups.group(a, vh);
    }
    Tensor out = a.allocate(x.dtype(), x.device(), qh.shape());
    Tensor lse = a.allocate(DType.F32, x.device(), qh.size(0), qh.size(1));
    if (groups != null)
      Kernels.attentionForward(qh, kh, vh, groups.longest(), groups.cuSeqlens(), null, true, window, scale(), out, lse);
    else
      Kernels.attentionForward(qh, kh, vh, layout.seqLen(), layout.cuSeqlens(), layout.keyMask(), true, window,
          scale(), out, lse);
    if (s != null) {
      s.qr = qh;
      s.kr = kh;
      s.vr = vh;
      s.out = out;
      s.lse = lse;
    }
    if (groups != null) out = groups.ungroup(a, out);
    return o.forward(a, out.view(n, (long) heads * headDim), seed + 3, s == null ? null : s.o, training);
  }

  /**
   * Inference against a KV cache: x [batch * qLen, hidden] holds qLen new tokens per sequence (positions i32
   * [batch * qLen]); their keys and values are appended to kCache / vCache ([batch, capacity, kv_heads,
   * head_dim]) at the slots that kvLen (lengths after the append) implies, then attention runs over the cache.
   * {@code prompt}: when the cache held nothing before (a prompt's prefill), the new tokens' own padded layout
   * (seqLen = qLen, their key mask): attention then runs on the new keys and values with the training forward's
   * flash kernel (tensor cores on CUDA), which equals the cache kernel there up to rounding and is much faster
   * for long prompts (the cache kernel is tuned for few queries a sequence). Else null.
   */
  public Tensor forwardCached(Arena a, Tensor x, int batch, int qLen, Tensor positions, Rope rope, Tensor kCache,
      Tensor vCache, Tensor kvLen, Tensor keyMask, AttentionLayout prompt) {
    long n = x.size(0);
    Tensor qh = q.forward(a, x, 0, null, false).view(n, heads, headDim);
    Tensor kh = k.forward(a, x, 0, null, false).view(n, kvHeads, headDim);
    Tensor vh = v.forward(a, x, 0, null, false).view(n, kvHeads, headDim);
    if (qNorm != null) {
      qh = qNorm.forward(a, qh, null);
      kh = kNorm.forward(a, kh, null);
    }
    rope.apply(qh, positions);
    rope.apply(kh, positions);
    Kernels.kvCacheAppend(kh.view(batch, qLen, kvHeads, headDim), vh.view(batch, qLen, kvHeads, headDim), kCache,
        vCache, kvLen);
    Tensor out = a.allocate(x.dtype(), x.device(), batch, qLen, heads, headDim);
    if (prompt != null) {
      Tensor lse = a.allocate(DType.F32, x.device(), n, heads);
      Kernels.attentionForward(qh, kh, vh, prompt.seqLen(), null, prompt.keyMask(), true, window, scale(),
          out.view(n, heads, headDim), lse);
    } else {
      Kernels.attentionDecode(qh.view(batch, qLen, heads, headDim), kCache, vCache, kvLen, keyMask, window, scale(),
          out, null);
    }
    return o.forward(a, out.view(n, (long) heads * headDim), 0, null, false);
  }

  /** dy [tokens, hidden] -> dx [tokens, hidden]; adapter / weight gradients accumulate. */
  public Tensor backward(Arena a, Tensor dy, AttentionLayout layout, Rope rope, long seed, Saved s) {
    long n = dy.size(0);
    Tensor dout = a.allocate(dy.dtype(), dy.device(), n, (long) heads * headDim);
    o.backward(a, dy, s.o, seed + 3, dout, false);
    Tensor dq = a.allocate(dy.dtype(), dy.device(), s.qr.shape());
    Tensor dk = a.allocate(dy.dtype(), dy.device(), s.kr.shape());
    Tensor dv = a.allocate(dy.dtype(), dy.device(), s.vr.shape());
    ShiftedGroups groups = layout.shifted();
    if (groups != null) {  // the forward's grouped layout, and back
      Kernels.attentionBackward(s.qr, s.kr, s.vr, s.out, groups.group(a, dout.view(n, heads, headDim)), s.lse,
          groups.longest(), groups.cuSeqlens(), null, true, window, scale(), dq, dk, dv);
      dq = groups.ungroup(a, dq);
      dk = groups.ungroup(a, dk);
      dv = groups.ungroup(a, dv);
    } else {
      Kernels.attentionBackward(s.qr, s.kr, s.vr, s.out, dout.view(n, heads, headDim), s.lse, layout.seqLen(),
          layout.cuSeqlens(), layout.keyMask(), true, window, scale(), dq, dk, dv);
    }
    rope.applyBackward(dq, layout.positions());
    rope.applyBackward(dk, layout.positions());
    if (qNorm != null) {
      dq = qNorm.backward(a, dq, s.qNorm);
      dk = kNorm.backward(a, dk, s.kNorm);
    }
    Tensor dx = a.allocate(dy.dtype(), dy.device(), n, q.inFeatures());
    q.backward(a, dq.view(n, -1), s.q, seed, dx, false);
    k.backward(a, dk.view(n, -1), s.k, seed + 1, dx, true);
    v.backward(a, dv.view(n, -1), s.v, seed + 2, dx, true);
    return dx;
  }
}
