package jswift.tensor;

import jswift.bindings.AttentionNative;
import jswift.bindings.CoreNative;
import jswift.bindings.NormNative;

/**
 * The typed facade over the native engine: one static method per op and direction, taking {@link Tensor}s for
 * inputs and outputs (the caller allocates outputs, usually from an {@link Arena}). Every method checks
 * shapes, dtypes and devices first and throws {@link IllegalArgumentException} naming the op and argument;
 * native failures surface as the exceptions of {@link NativeStatus}. Tensors cross into native code only here.
 *
 * <p>Conventions (see native/include/jswift/jswift.h): activations and weights share one float dtype;
 * statistics and parameter gradients are f32; parameter gradients accumulate (+=), activation gradients
 * are overwritten.
 */
public final class Kernels {
  private Kernels() {}

  /** Number of usable CUDA devices (0 without a GPU, driver or CUDA build). */
  public static int cudaDeviceCount() {
    return CoreNative.jsw_cuda_device_count();
  }

  public static String buildInfo() {
    return CoreNative.jsw_build_info();
  }

  /** Waits for the device's queued work and reports errors raised by its kernels. */
  public static void synchronize(Device device) {
    NativeStatus.check(CoreNative.jsw_synchronize(device.index()));
  }

  /** {allocated, reserved, peak allocated, native allocations} in bytes / count for a device. */
  public static long[] memoryStats(Device device) {
    long[] stats = new long[4];
    NativeStatus.check(CoreNative.jsw_memory_stats(device.index(), stats));
    return stats;
  }

  public static void resetPeakMemory(Device device) {
    NativeStatus.check(CoreNative.jsw_reset_peak_memory(device.index()));
  }

  // =====================================================================================================
  // elementwise
  // =====================================================================================================

  /** dst = (dst dtype) src, for float dtypes; same element count and device. */
  public static void cast(Tensor src, Tensor dst) {
    String op = "cast";
    Check.floating(op, "src", src);
    Check.floating(op, "dst", dst);
    Check.device(op, src.device(), "dst", dst);
    Check.numel(op, "dst", dst, src.numel());
    NativeStatus.check(CoreNative.jsw_cast(src.device().index(), src.dtype().code(), src.address(),
        dst.dtype().code(), dst.address(), src.numel()));
  }

  public static void fill(Tensor x, float value) {
    Check.floating("fill", "x", x);
    NativeStatus.check(CoreNative.jsw_fill(x.device().index(), x.dtype().code(), x.address(), value, x.numel()));
  }

  /** y = a * x + b * y elementwise. */
  public static void axpby(float a, Tensor x, float b, Tensor y) {
    String op = "axpby";
    Check.floating(op, "x", x);
    Check.sameDtype(op, x, "y", y);
    Check.device(op, x.device(), "y", y);
    Check.numel(op, "y", y, x.numel());
    NativeStatus.check(CoreNative.jsw_axpby(x.device().index(), x.dtype().code(), x.numel(), a, x.address(), b,
        y.address()));
  }

  // =====================================================================================================
  // GEMM
  // =====================================================================================================

  /**
   * c = alpha * op(a) op(b) + beta * c. a, b are [rows, cols] or batched [batch, rows, cols] (b may be 2-D
   * and shared by every batch entry); c is [m, n] or [batch, m, n], of a's dtype or f32.
   */
  public static void matmul(Tensor a, boolean transA, Tensor b, boolean transB, Tensor c, float alpha, float beta) {
    String op = "matmul";
    Check.floating(op, "a", a);
    Check.sameDtype(op, a, "b", b);
    Check.alive(op, "c", c);
    Check.that(c.dtype() == a.dtype() || c.dtype() == DType.F32, op,
        "c must have a's dtype or f32, got " + c + " for a " + a);
    Check.device(op, a.device(), "b", b);
    Check.device(op, a.device(), "c", c);
    Check.that(a.rank() == 2 || a.rank() == 3, op, "a must be 2-D or 3-D, got " + a);
    Check.that(b.rank() == 2 || b.rank() == a.rank(), op, "b must be 2-D or have a's rank, got " + b);
    Check.that(c.rank() == a.rank(), op, "c must have a's rank, got " + c);
    long batch = a.rank() == 3 ? a.size(0) : 1;
    if (b.rank() == 3) Check.that(b.size(0) == batch, op, "batch sizes differ: " + a + " vs " + b);
    long m = transA ? a.size(-1) : a.size(-2);
    long k = transA ? a.size(-2) : a.size(-1);
    long kb = transB ? b.size(-1) : b.size(-2);
    long n = transB ? b.size(-2) : b.size(-1);
    Check.that(k == kb, op, "inner dimensions differ: op(a) is [" + m + ", " + k + "], op(b) is [" + kb + ", " + n + "]");
    if (a.rank() == 3) Check.shape(op, "c", c, batch, m, n);
    else Check.shape(op, "c", c, m, n);
    NativeStatus.check(CoreNative.jsw_gemm(a.device().index(), a.dtype().code(), c.dtype().code(), transA ? 1 : 0,
        transB ? 1 : 0, m, n, k, alpha, a.address(), a.size(-1), b.address(), b.size(-1), beta, c.address(), n,
        batch, a.rank() == 3 ? m * k : 0, b.rank() == 3 ? k * n : 0, a.rank() == 3 ? m * n : 0));
  }

  // =====================================================================================================
  // RMSNorm
  // =====================================================================================================

  /**
   * y = weight * x / sqrt(mean(x^2) + eps) over the last dimension. x is [..., dim] (for Qwen3's per-head q/k
   * norm, [tokens, heads, head_dim]); rstd, if not null, is f32 [rows] = 1/sqrt(mean + eps) for the backward.
   */
  public static void rmsNormForward(Tensor x, Tensor weight, float eps, Tensor y, Tensor rstd) {
    String op = "rmsNormForward";
    Check.floating(op, "x", x);
    Check.rankAtLeast(op, "x", x, 1);
    long dim = x.size(-1), rows = x.numel() / Math.max(dim, 1);
    Check.sameDtype(op, x, "weight", weight);
    Check.shape(op, "weight", weight, dim);
    Check.sameDtype(op, x, "y", y);
    Check.shape(op, "y", y, x.shape());
    Device d = x.device();
    Check.device(op, d, "weight", weight);
    Check.device(op, d, "y", y);
    if (rstd != null) {
      Check.dtype(op, "rstd", rstd, DType.F32);
      Check.numel(op, "rstd", rstd, rows);
      Check.device(op, d, "rstd", rstd);
    }
    NativeStatus.check(NormNative.jsw_rmsnorm_fwd(d.index(), x.dtype().code(), x.address(), weight.address(), eps,
        rows, dim, y.address(), rstd == null ? 0 : rstd.address()));
  }

  /** dx (overwritten) and dweight (f32 [dim], accumulated; may be null) from dy and the forward's rstd. */
  public static void rmsNormBackward(Tensor dy, Tensor x, Tensor weight, Tensor rstd, Tensor dx, Tensor dweight) {
    String op = "rmsNormBackward";
    Check.floating(op, "x", x);
    Check.rankAtLeast(op, "x", x, 1);
    long dim = x.size(-1), rows = x.numel() / Math.max(dim, 1);
    Device d = x.device();
    for (Object[] t : new Object[][] {{"dy", dy}, {"dx", dx}}) {
      Tensor tt = (Tensor) t[1];
      Check.sameDtype(op, x, (String) t[0], tt);
      Check.shape(op, (String) t[0], tt, x.shape());
      Check.device(op, d, (String) t[0], tt);
    }
    Check.sameDtype(op, x, "weight", weight);
    Check.shape(op, "weight", weight, dim);
    Check.device(op, d, "weight", weight);
    Check.dtype(op, "rstd", rstd, DType.F32);
    Check.numel(op, "rstd", rstd, rows);
    Check.device(op, d, "rstd", rstd);
    if (dweight != null) {
      Check.dtype(op, "dweight", dweight, DType.F32);
      Check.shape(op, "dweight", dweight, dim);
      Check.device(op, d, "dweight", dweight);
    }
    NativeStatus.check(NormNative.jsw_rmsnorm_bwd(d.index(), x.dtype().code(), dy.address(), x.address(),
        weight.address(), rstd.address(), rows, dim, dx.address(), dweight == null ? 0 : dweight.address()));
  }

  // =====================================================================================================
  // embedding
  // =====================================================================================================

  // =====================================================================================================
  // RoPE
  // =====================================================================================================

  // =====================================================================================================
  // SwiGLU
  // =====================================================================================================

  // =====================================================================================================
  // fused LoRA linear
  // =====================================================================================================

  // =====================================================================================================
  // flash attention
  // =====================================================================================================

  /**
   * Flash attention forward: per sequence and query head, out = softmax(softmaxScale * q k^T, masked) v, never
   * materialising the score matrix; lse (f32 [tokens, heads]) receives the natural log-sum-exp of each query's
   * visible scaled scores (-inf, with out = 0, for a query that sees no key), which the backward needs.
   *
   * <p>q and out are [tokens, heads, headDim], k and v [tokens, kvHeads, headDim]: query head h reads kv head
   * h / (heads / kvHeads) (GQA; MQA with kvHeads = 1). headDim is at most 256. Two layouts:
   *
   * <ul>
   *   <li>padded ({@code cuSeqlens == null}): tokens = batch * seqLen and sequence b is rows [b seqLen, (b+1)
   *       seqLen); keyMask, if not null, is i32 [batch, seqLen] with 0 for padding keys;
   *   <li>packed: cuSeqlens is i32 [batch + 1] of row offsets (cuSeqlens[0] = 0, cuSeqlens[batch] = tokens) and
   *       seqLen the longest sequence; keyMask must be null. Attention never crosses a sequence boundary.
   * </ul>
   *
   * Query i of a sequence sees key j iff (!causal || j <= i) && (window <= 0 || i - j < window) && keyMask[j].
   */
  public static void attentionForward(Tensor q, Tensor k, Tensor v, long seqLen, Tensor cuSeqlens, Tensor keyMask,
      boolean causal, long window, float softmaxScale, Tensor out, Tensor lse) {
    String op = "attentionForward";
    long batch = attentionBatch(op, q, k, v, seqLen, cuSeqlens, keyMask);
    Check.sameDtype(op, q, "out", out);
    Check.shape(op, "out", out, q.shape());
    Check.device(op, q.device(), "out", out);
    attentionLse(op, q, lse);
    NativeStatus.check(AttentionNative.jsw_attention_fwd(q.device().index(), q.dtype().code(), q.address(),
        k.address(), v.address(), batch, seqLen, q.size(1), k.size(1), q.size(2), attentionAddress(cuSeqlens),
        attentionAddress(keyMask), causal ? 1 : 0, window, softmaxScale, out.address(), lse.address()));
  }

  /**
   * Flash attention backward: dq, dk, dv (overwritten, q's dtype and the shapes of q, k, v) from dout and the
   * forward's out and lse. The other arguments are the forward's; dk/dv of a kv head sum over its query heads.
   */
  public static void attentionBackward(Tensor q, Tensor k, Tensor v, Tensor out, Tensor dout, Tensor lse,
      long seqLen, Tensor cuSeqlens, Tensor keyMask, boolean causal, long window, float softmaxScale, Tensor dq,
      Tensor dk, Tensor dv) {
    String op = "attentionBackward";
    long batch = attentionBatch(op, q, k, v, seqLen, cuSeqlens, keyMask);
    Device d = q.device();
    for (Object[] t : new Object[][] {{"out", out}, {"dout", dout}, {"dq", dq}, {"dk", dk}, {"dv", dv}}) {
      Tensor tt = (Tensor) t[1];
      String name = (String) t[0];
      Check.sameDtype(op, q, name, tt);
      Check.shape(op, name, tt, name.equals("dk") || name.equals("dv") ? k.shape() : q.shape());
      Check.device(op, d, name, tt);
    }
    attentionLse(op, q, lse);
    NativeStatus.check(AttentionNative.jsw_attention_bwd(d.index(), q.dtype().code(), q.address(), k.address(),
        v.address(), out.address(), dout.address(), lse.address(), batch, seqLen, q.size(1), k.size(1), q.size(2),
        attentionAddress(cuSeqlens), attentionAddress(keyMask), causal ? 1 : 0, window, softmaxScale, dq.address(),
        dk.address(), dv.address()));
  }

  /** Checks q/k/v and the layout arguments shared by both directions; returns the batch size. */
  private static long attentionBatch(String op, Tensor q, Tensor k, Tensor v, long seqLen, Tensor cuSeqlens,
      Tensor keyMask) {
    Check.floating(op, "q", q);
    Check.that(q.rank() == 3, op, "q must be [tokens, heads, headDim], got " + q);
    long tokens = q.size(0), heads = q.size(1), headDim = q.size(2);
    Check.that(headDim >= 1 && headDim <= 256, op, "headDim must be in [1, 256], got " + q);
    Check.sameDtype(op, q, "k", k);
    Check.that(k.rank() == 3 && k.size(0) == tokens && k.size(2) == headDim && k.size(1) > 0, op,
        "k must be [" + tokens + ", kvHeads, " + headDim + "] like q " + q + ", got " + k);
    Check.that(heads % k.size(1) == 0, op,
        "heads (" + heads + ") must be a multiple of kvHeads (" + k.size(1) + ")");
    Check.sameDtype(op, q, "v", v);
    Check.shape(op, "v", v, k.shape());
    Device d = q.device();
    Check.device(op, d, "k", k);
    Check.device(op, d, "v", v);
    Check.that(seqLen > 0, op, "seqLen must be > 0, got " + seqLen);
    if (cuSeqlens == null) {
      Check.that(tokens % seqLen == 0, op,
          "padded layout: tokens (" + tokens + ") must be a multiple of seqLen (" + seqLen + ")");
      long batch = tokens / seqLen;
      if (keyMask != null) {
        Check.dtype(op, "keyMask", keyMask, DType.I32);
        Check.shape(op, "keyMask", keyMask, batch, seqLen);
        Check.device(op, d, "keyMask", keyMask);
      }
      return batch;
    }
    Check.that(keyMask == null, op, "keyMask is for the padded layout and must be null when cuSeqlens is given");
    Check.dtype(op, "cuSeqlens", cuSeqlens, DType.I32);
    Check.that(cuSeqlens.rank() == 1 && cuSeqlens.size(0) >= 1, op,
        "cuSeqlens must be [batch + 1], got " + cuSeqlens);
    Check.device(op, d, "cuSeqlens", cuSeqlens);
    long batch = cuSeqlens.size(0) - 1;
    if (d.isCpu()) {  // device offsets are checked by the kernels (reading them here would synchronise)
      int[] cu = cuSeqlens.toIntArray();
      Check.that(cu[(int) batch] == tokens, op,
          "cuSeqlens[" + batch + "] = " + cu[(int) batch] + " must equal the token count " + tokens);
    }
    return batch;
  }

  private static void attentionLse(String op, Tensor q, Tensor lse) {
    Check.dtype(op, "lse", lse, DType.F32);
    Check.shape(op, "lse", lse, q.size(0), q.size(1));
    Check.device(op, q.device(), "lse", lse);
  }

  private static long attentionAddress(Tensor t) {
    return t == null ? 0 : t.address();
  }

  // =====================================================================================================
  // fused LM head + cross-entropy
  // =====================================================================================================

  // =====================================================================================================
  // optimizer: grad norm, clipping, AdamW
  // =====================================================================================================

  // =====================================================================================================
  // NF4
  // =====================================================================================================
}
