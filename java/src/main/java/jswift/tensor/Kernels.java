package jswift.tensor;

import jswift.bindings.ActivationNative;
import jswift.bindings.AttentionNative;
import jswift.bindings.CoreNative;
import jswift.bindings.GraphNative;
import jswift.bindings.DecodeNative;
import jswift.bindings.DoraNative;
import jswift.bindings.EmbeddingNative;
import jswift.bindings.LinalgNative;
import jswift.bindings.RsvdNative;
import jswift.bindings.BoftNative;
import jswift.bindings.LoraNative;
import jswift.bindings.LossNative;
import jswift.bindings.AwqNative;
import jswift.bindings.MinmaxQuantNative;
import jswift.bindings.GptqNative;
import jswift.bindings.Nf4Native;
import jswift.bindings.NormNative;
import jswift.bindings.OptimNative;
import jswift.bindings.QmatmulNative;
import jswift.bindings.RopeNative;

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

  /** OpenMP threads of the CPU kernels (default: all cores). */
  public static void setCpuThreads(int threads) {
    NativeStatus.check(CoreNative.jsw_set_cpu_threads(threads));
  }

  /** Threads of the process's OpenBLAS (shared with other libraries using it in this process). */
  public static void setBlasThreads(int threads) {
    NativeStatus.check(CoreNative.jsw_set_blas_threads(threads));
  }

  public static String buildInfo() {
    return CoreNative.jsw_build_info();
  }

  /** Waits for the device's queued work and reports errors raised by its kernels. */
  public static void synchronize(Device device) {
    NativeStatus.check(CoreNative.jsw_synchronize(device.index()));
  }

  /**
   * Starts per-op timing (jsw_profile_start): every native call then waits for the device before it returns, so
   * the table {@link #profileStop} prints shows where the time between the two calls went, op by op.
   */
  public static void profileStart() {
    NativeStatus.check(CoreNative.jsw_profile_start());
  }

  /** Prints the per-op table since {@link #profileStart} to stderr under {@code label}, and stops timing. */
  public static void profileStop(String label) {
    NativeStatus.check(CoreNative.jsw_profile_stop(label));
  }

  /** The per-op table since {@link #profileStart} (as {@link #profileStop} prints it), without stopping. */
  public static String profileTable(String label) {
    long need = CoreNative.jsw_profile_table(label, null, 0);
    if (need < 0) NativeStatus.check((int) need);
    byte[] buf = new byte[Math.toIntExact(need)];
    CoreNative.jsw_profile_table(label, buf, buf.length);
    return new String(buf, 0, buf.length - 1, java.nio.charset.StandardCharsets.UTF_8);
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

  /** y[..., c] += bias[c]: the bias of a dense linear layer (y is [..., cols], bias [cols], same dtype). */
  public static void addBias(Tensor y, Tensor bias) {
    String op = "addBias";
    Check.floating(op, "y", y);
    Check.sameDtype(op, y, "bias", bias);
    Check.shape(op, "bias", bias, y.size(-1));
    Check.device(op, y.device(), "bias", bias);
    long cols = y.size(-1);
    NativeStatus.check(CoreNative.jsw_add_bias(y.device().index(), y.dtype().code(), y.address(), bias.address(),
        y.numel() / cols, cols));
  }

  /** dbias (f32 [cols]) += the sum of dy over its rows: the bias gradient of a linear layer. */
  public static void sumRows(Tensor dy, Tensor dbias) {
    String op = "sumRows";
    Check.floating(op, "dy", dy);
    Check.dtype(op, "dbias", dbias, DType.F32);
    Check.shape(op, "dbias", dbias, dy.size(-1));
    Check.device(op, dy.device(), "dbias", dbias);
    long cols = dy.size(-1);
    NativeStatus.check(CoreNative.jsw_sum_rows(dy.device().index(), dy.dtype().code(), dy.address(), dy.numel() / cols,
        cols, dbias.address()));
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
        () -> "c must have a's dtype or f32, got " + c + " for a " + a);
    Check.device(op, a.device(), "b", b);
    Check.device(op, a.device(), "c", c);
    Check.that(a.rank() == 2 || a.rank() == 3, op, () -> "a must be 2-D or 3-D, got " + a);
    Check.that(b.rank() == 2 || b.rank() == a.rank(), op, () -> "b must be 2-D or have a's rank, got " + b);
    Check.that(c.rank() == a.rank(), op, () -> "c must have a's rank, got " + c);
    long batch = a.rank() == 3 ? a.size(0) : 1;
    if (b.rank() == 3) Check.that(b.size(0) == batch, op, () -> "batch sizes differ: " + a + " vs " + b);
    long m = transA ? a.size(-1) : a.size(-2);
    long k = transA ? a.size(-2) : a.size(-1);
    long kb = transB ? b.size(-1) : b.size(-2);
    long n = transB ? b.size(-2) : b.size(-1);
    Check.that(k == kb, op,
        () -> "inner dimensions differ: op(a) is [" + m + ", " + k + "], op(b) is [" + kb + ", " + n + "]");
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

  /**
   * out = table[ids]: ids is i32 of any shape (one token per element), table [vocab, dim], out ids.shape + [dim]
   * of table's dtype. An id outside [0, vocab) is an error: on the CPU the call throws before writing; on CUDA
   * (ids live on the device) the row becomes zeros and the next {@link #synchronize} throws.
   */
  public static void embeddingForward(Tensor ids, Tensor table, Tensor out) {
    String op = "embeddingForward";
    Check.dtype(op, "ids", ids, DType.I32);
    Check.floating(op, "table", table);
    Check.that(table.rank() == 2, op, () -> "table must be [vocab, dim], got " + table);
    Device d = table.device();
    Check.device(op, d, "ids", ids);
    Check.sameDtype(op, table, "out", out);
    Check.shape(op, "out", out, withLast(ids.shape(), table.size(1)));
    Check.device(op, d, "out", out);
    NativeStatus.check(EmbeddingNative.jsw_embedding_fwd(d.index(), table.dtype().code(), ids.address(),
        ids.numel(), table.address(), table.size(0), table.size(1), out.address()));
  }

  /**
   * out [..., n] = x [..., cols] gathered along its last dimension: out[..., j] = x[..., idx[j]], idx i32 [n]. An
   * index outside [0, cols) is an error: on the CPU the call throws before writing; on CUDA the element becomes
   * zero and the next {@link #synchronize} throws.
   */
  public static void gatherColumns(Tensor x, Tensor idx, Tensor out) {
    String op = "gatherColumns";
    Check.floating(op, "x", x);
    Check.dtype(op, "idx", idx, DType.I32);
    Check.that(idx.rank() == 1, op, () -> "idx must be [n], got " + idx);
    Check.that(x.rank() >= 1, op, () -> "x must have a last dimension, got " + x);
    Device d = x.device();
    Check.device(op, d, "idx", idx);
    Check.sameDtype(op, x, "out", out);
    Check.shape(op, "out", out, withLastReplaced(x.shape(), idx.size(0)));
    Check.device(op, d, "out", out);
    long cols = x.size(x.rank() - 1);
    Check.that(cols > 0, op, () -> "x has no columns: " + x);
    NativeStatus.check(EmbeddingNative.jsw_gather_columns(d.index(), x.dtype().code(), x.address(), x.numel() / cols,
        cols, idx.address(), idx.size(0), out.address()));
  }

  /** dtable (f32 [vocab, dim]) += dout scattered by ids: row ids[t] receives dout[t]; repeated ids sum. */
  public static void embeddingBackward(Tensor ids, Tensor dout, Tensor dtable) {
    String op = "embeddingBackward";
    Check.dtype(op, "ids", ids, DType.I32);
    Check.floating(op, "dout", dout);
    Check.dtype(op, "dtable", dtable, DType.F32);
    Check.that(dtable.rank() == 2, op, () -> "dtable must be [vocab, dim], got " + dtable);
    Device d = dtable.device();
    Check.device(op, d, "ids", ids);
    Check.device(op, d, "dout", dout);
    Check.shape(op, "dout", dout, withLast(ids.shape(), dtable.size(1)));
    NativeStatus.check(EmbeddingNative.jsw_embedding_bwd(d.index(), dout.dtype().code(), ids.address(),
        ids.numel(), dout.address(), dtable.size(0), dtable.size(1), dtable.address()));
  }

  /** shape with one more trailing dimension. */
  private static long[] withLast(long[] shape, long last) {
    long[] s = java.util.Arrays.copyOf(shape, shape.length + 1);
    s[shape.length] = last;
    return s;
  }

  // =====================================================================================================
  // RoPE
  // =====================================================================================================

  /** RoPE frequency rules of {@link #ropeInvFreq}: transformers' "default", "linear" and "llama3" rope types. */
  public static final int ROPE_DEFAULT = 0;
  public static final int ROPE_LINEAR = 1;
  public static final int ROPE_LLAMA3 = 2;

  /** inv_freq[i] = 1 / theta^(2i / headDim) for i < headDim / 2, in fp32 as transformers computes it. */
  public static float[] ropeInvFreq(int headDim, float theta) {
    return ropeInvFreq(headDim, theta, ROPE_DEFAULT, 1.0f, 1.0f, 4.0f, 8192);
  }

  /**
   * The RoPE inverse frequencies with a rope_scaling rule: {@link #ROPE_LINEAR} divides by factor,
   * {@link #ROPE_LLAMA3} divides long wavelengths by factor and blends the band between
   * originalMaxPosition / highFreqFactor and originalMaxPosition / lowFreqFactor. Host-side; the result goes to
   * a device with {@link Tensor#fromFloats}.
   */
  public static float[] ropeInvFreq(int headDim, float theta, int scalingType, float factor, float lowFreqFactor,
      float highFreqFactor, long originalMaxPosition) {
    Check.that(headDim > 0 && headDim % 2 == 0, "ropeInvFreq",
        () -> "headDim must be positive and even, got " + headDim);
    float[] invFreq = new float[headDim / 2];
    NativeStatus.check(RopeNative.jsw_rope_inv_freq(headDim, theta, scalingType, factor, lowFreqFactor,
        highFreqFactor, originalMaxPosition, invFreq));
    return invFreq;
  }

  /**
   * y = x cos + rotate_half(x) sin (rotate-half convention) with angle = positions[t] * invFreq[i] and cos, sin
   * multiplied by attentionScaling. x and y are [tokens, heads, headDim] (y may be x: in place), positions i32
   * [tokens] (any ids: packed sequences restart), invFreq f32 [headDim / 2] on the op's device.
   */
  public static void ropeForward(Tensor x, Tensor positions, Tensor invFreq, float attentionScaling, Tensor y) {
    rope("ropeForward", "x", x, positions, invFreq, attentionScaling, "y", y, true);
  }

  /** dx = R(-angle) dy, the transpose of {@link #ropeForward}; dx may be dy. */
  public static void ropeBackward(Tensor dy, Tensor positions, Tensor invFreq, float attentionScaling, Tensor dx) {
    rope("ropeBackward", "dy", dy, positions, invFreq, attentionScaling, "dx", dx, false);
  }

  private static void rope(String op, String inName, Tensor in, Tensor positions, Tensor invFreq, float scaling,
      String outName, Tensor out, boolean forward) {
    Check.floating(op, inName, in);
    Check.that(in.rank() == 3, op, () -> inName + " must be [tokens, heads, headDim], got " + in);
    long tokens = in.size(0), heads = in.size(1), headDim = in.size(2);
    Check.that(headDim % 2 == 0, op, () -> "headDim must be even (rotate-half pairs), got " + in);
    Device d = in.device();
    Check.dtype(op, "positions", positions, DType.I32);
    Check.shape(op, "positions", positions, tokens);
    Check.device(op, d, "positions", positions);
    Check.dtype(op, "invFreq", invFreq, DType.F32);
    Check.shape(op, "invFreq", invFreq, headDim / 2);
    Check.device(op, d, "invFreq", invFreq);
    Check.sameDtype(op, in, outName, out);
    Check.shape(op, outName, out, in.shape());
    Check.device(op, d, outName, out);
    int status = forward
        ? RopeNative.jsw_rope_fwd(d.index(), in.dtype().code(), in.address(), positions.address(),
            invFreq.address(), tokens, heads, headDim, scaling, out.address())
        : RopeNative.jsw_rope_bwd(d.index(), in.dtype().code(), in.address(), positions.address(),
            invFreq.address(), tokens, heads, headDim, scaling, out.address());
    NativeStatus.check(status);
  }

  // =====================================================================================================
  // SwiGLU
  // =====================================================================================================

  /** out = silu(gate) * up elementwise; gate, up, out share shape, dtype and device (out may alias an input). */
  public static void swigluForward(Tensor gate, Tensor up, Tensor out) {
    String op = "swigluForward";
    Check.floating(op, "gate", gate);
    Device d = gate.device();
    for (Object[] t : new Object[][] {{"up", up}, {"out", out}}) sameAs(op, gate, (String) t[0], (Tensor) t[1]);
    NativeStatus.check(ActivationNative.jsw_swiglu_fwd(d.index(), gate.dtype().code(), gate.address(), up.address(),
        gate.numel(), out.address()));
  }

  /** dgate = dout * up * silu'(gate), dup = dout * silu(gate) (both overwritten); all of gate's shape. */
  public static void swigluBackward(Tensor dout, Tensor gate, Tensor up, Tensor dgate, Tensor dup) {
    String op = "swigluBackward";
    Check.floating(op, "gate", gate);
    Device d = gate.device();
    for (Object[] t : new Object[][] {{"dout", dout}, {"up", up}, {"dgate", dgate}, {"dup", dup}})
      sameAs(op, gate, (String) t[0], (Tensor) t[1]);
    NativeStatus.check(ActivationNative.jsw_swiglu_bwd(d.index(), gate.dtype().code(), dout.address(),
        gate.address(), up.address(), gate.numel(), dgate.address(), dup.address()));
  }

  /**
   * y = act(x) elementwise, {@code kind} one of jswift.h's JSW_ACT_* codes ({@link jswift.nn.Activation#code}); x and
   * y share shape, dtype and device (y may alias x).
   */
  public static void activationForward(int kind, Tensor x, Tensor y) {
    String op = "activationForward";
    Check.floating(op, "x", x);
    sameAs(op, x, "y", y);
    NativeStatus.check(ActivationNative.jsw_activation_fwd(x.device().index(), x.dtype().code(), kind, x.address(),
        x.numel(), y.address()));
  }

  /** dx = dy * act'(x) elementwise (overwritten; may alias dy); all of x's shape, dtype and device. */
  public static void activationBackward(int kind, Tensor x, Tensor dy, Tensor dx) {
    String op = "activationBackward";
    Check.floating(op, "x", x);
    sameAs(op, x, "dy", dy);
    sameAs(op, x, "dx", dx);
    NativeStatus.check(ActivationNative.jsw_activation_bwd(x.device().index(), x.dtype().code(), kind, x.address(),
        dy.address(), x.numel(), dx.address()));
  }

  /** t must match reference's dtype, shape and device. */
  private static void sameAs(String op, Tensor reference, String name, Tensor t) {
    Check.sameDtype(op, reference, name, t);
    Check.shape(op, name, t, reference.shape());
    Check.device(op, reference.device(), name, t);
  }

  // =====================================================================================================
  // fused LoRA linear
  // =====================================================================================================

  /**
   * The fused LoRA linear forward: y = x W^T (+ bias) + scale * (drop(x) A^T) B^T. x is [..., in], w [out, in]
   * (frozen), bias [out] or null, loraA [rank, in], loraB [out, rank], y [..., out]. xa ([..., rank], or null
   * when no backward follows) receives drop(x) A^T. dropoutP in [0, 1) (0 = off) drops element t * in + i of x
   * by a hash of (seed, index), so {@link #loraBackward} with the same seed regenerates the mask.
   */
  public static void loraForward(Tensor x, Tensor w, Tensor bias, Tensor loraA, Tensor loraB, float scale,
      float dropoutP, long seed, Tensor y, Tensor xa) {
    String op = "loraForward";
    LoraDims s = loraDims(op, x, w, loraA, loraB, dropoutP);
    if (bias != null) {
      Check.sameDtype(op, x, "bias", bias);
      Check.shape(op, "bias", bias, s.out);
      Check.device(op, s.device, "bias", bias);
    }
    Check.sameDtype(op, x, "y", y);
    Check.shape(op, "y", y, withLastReplaced(x.shape(), s.out));
    Check.device(op, s.device, "y", y);
    if (xa != null) {
      Check.sameDtype(op, x, "xa", xa);
      Check.shape(op, "xa", xa, withLastReplaced(x.shape(), s.rank));
      Check.device(op, s.device, "xa", xa);
    }
    NativeStatus.check(LoraNative.jsw_lora_fwd(s.device.index(), x.dtype().code(), x.address(), w.address(),
        bias == null ? 0 : bias.address(), loraA.address(), loraB.address(), s.tokens, s.in, s.out, s.rank, scale,
        dropoutP, seed, y.address(), xa == null ? 0 : xa.address()));
  }

  /**
   * The fused LoRA linear backward from dy [..., out] and the forward's xa: dx = dy W + scale drop'((dy B) A)
   * ([..., in], overwritten), dA += scale (dy B)^T drop(x) (f32 [rank, in]), dB += scale dy^T xa (f32
   * [out, rank]). Any of dx, dA, dB may be null (not wanted / frozen); xa may be null when dB is.
   */
  public static void loraBackward(Tensor dy, Tensor x, Tensor w, Tensor loraA, Tensor loraB, Tensor xa,
      float scale, float dropoutP, long seed, Tensor dx, Tensor dA, Tensor dB) {
    String op = "loraBackward";
    LoraDims s = loraDims(op, x, w, loraA, loraB, dropoutP);
    Check.sameDtype(op, x, "dy", dy);
    Check.shape(op, "dy", dy, withLastReplaced(x.shape(), s.out));
    Check.device(op, s.device, "dy", dy);
    Check.that(xa != null || dB == null, op, "xa (from the forward) is required for dB");
    if (xa != null) {
      Check.sameDtype(op, x, "xa", xa);
      Check.shape(op, "xa", xa, withLastReplaced(x.shape(), s.rank));
      Check.device(op, s.device, "xa", xa);
    }
    if (dx != null) {
      Check.sameDtype(op, x, "dx", dx);
      Check.shape(op, "dx", dx, x.shape());
      Check.device(op, s.device, "dx", dx);
    }
    if (dA != null) {
      Check.dtype(op, "dA", dA, DType.F32);
      Check.shape(op, "dA", dA, s.rank, s.in);
      Check.device(op, s.device, "dA", dA);
    }
    if (dB != null) {
      Check.dtype(op, "dB", dB, DType.F32);
      Check.shape(op, "dB", dB, s.out, s.rank);
      Check.device(op, s.device, "dB", dB);
    }
    NativeStatus.check(LoraNative.jsw_lora_bwd(s.device.index(), x.dtype().code(), dy.address(), x.address(),
        w.address(), loraA.address(), loraB.address(), xa == null ? 0 : xa.address(), s.tokens, s.in, s.out, s.rank,
        scale, dropoutP, seed, dx == null ? 0 : dx.address(), dA == null ? 0 : dA.address(),
        dB == null ? 0 : dB.address()));
  }

  /** Sizes of one LoRA linear call, read from x, w and the adapter and checked against each other. */
  private static final class LoraDims {
    final Device device;
    final long tokens, in, out, rank;

    LoraDims(Device device, long tokens, long in, long out, long rank) {
      this.device = device;
      this.tokens = tokens;
      this.in = in;
      this.out = out;
      this.rank = rank;
    }
  }

  /**
   * The adapter's term alone, for decode-shaped inputs beside a packed base's GEMV: y [..., out] += scale (x A^T)
   * B^T (no dropout), with x A^T rounded to the storage dtype as two GEMMs through an xa tensor would. One native
   * call instead of two GEMMs (jsw_lora_delta).
   */
  public static void loraDelta(Tensor x, Tensor loraA, Tensor loraB, float scale, Tensor y) {
    String op = "loraDelta";
    Check.floating(op, "x", x);
    Check.rankAtLeast(op, "x", x, 1);
    Device d = x.device();
    long in = x.size(-1), rank = loraRank(op, x, loraA, in);
    Check.sameDtype(op, x, "loraB", loraB);
    Check.that(loraB.rank() == 2 && loraB.size(1) == rank, op,
        () -> "loraB must be [out, rank " + rank + "], got " + loraB);
    long out = loraB.size(0);
    Check.device(op, d, "loraB", loraB);
    Check.sameDtype(op, x, "y", y);
    Check.shape(op, "y", y, withLastReplaced(x.shape(), out));
    Check.device(op, d, "y", y);
    NativeStatus.check(LoraNative.jsw_lora_delta(d.index(), x.dtype().code(), x.address(), x.numel() / Math.max(in, 1),
        in, loraA.address(), rank, loraB.address(), out, scale, y.address()));
  }

  /**
   * xa [..., rank] = drop(x) A^T for x [..., in] and A [rank, in], the dropout ({@link #dropout}'s mask for
   * {@code seed}, p = 0: none) applied as x is read: drop(x) is never stored (jsw_lora_down).
   */
  public static void loraDown(Tensor x, Tensor loraA, float p, long seed, Tensor xa) {
    String op = "loraDown";
    Check.floating(op, "x", x);
    Check.rankAtLeast(op, "x", x, 1);
    Check.that(p >= 0.0f && p < 1.0f, op, () -> "p must be in [0, 1), got " + p);
    long in = x.size(-1), rank = loraRank(op, x, loraA, in);
    Check.sameDtype(op, x, "xa", xa);
    Check.shape(op, "xa", xa, withLastReplaced(x.shape(), rank));
    Check.device(op, x.device(), "xa", xa);
    NativeStatus.check(LoraNative.jsw_lora_down(x.device().index(), x.dtype().code(), x.address(), loraA.address(),
        x.numel() / Math.max(in, 1), in, rank, p, seed, xa.address()));
  }

  /**
   * From g [..., rank] (= dy B): dx [..., in] = drop'(scale g A) (overwritten; null: skipped) and the f32 dA
   * [rank, in] += scale g^T drop(x) (null: skipped), with {@link #loraDown}'s mask; x may be null when dA is
   * (jsw_lora_up_grad). One pass over x for both.
   */
  public static void loraUpGrad(Tensor g, Tensor x, Tensor loraA, float scale, float p, long seed, Tensor dx,
      Tensor dA) {
    String op = "loraUpGrad";
    Check.floating(op, "g", g);
    Check.rankAtLeast(op, "g", g, 1);
    Check.that(p >= 0.0f && p < 1.0f, op, () -> "p must be in [0, 1), got " + p);
    Check.sameDtype(op, g, "loraA", loraA);
    Check.that(loraA.rank() == 2, op, () -> "loraA must be [rank, in], got " + loraA);
    long rank = loraA.size(0), in = loraA.size(1);
    Check.that(g.size(-1) == rank, op, () -> "g must be [..., rank " + rank + "], got " + g);
    Check.device(op, g.device(), "loraA", loraA);
    long[] full = withLastReplaced(g.shape(), in);
    if (dx != null) {
      Check.sameDtype(op, g, "dx", dx);
      Check.shape(op, "dx", dx, full);
      Check.device(op, g.device(), "dx", dx);
    }
    if (dA != null) {
      Check.that(x != null, op, "x is needed for dA");
      Check.sameDtype(op, g, "x", x);
      Check.shape(op, "x", x, full);
      Check.device(op, g.device(), "x", x);
      Check.that(dA.dtype() == DType.F32, op, () -> "dA must be f32, got " + dA.dtype());
      Check.shape(op, "dA", dA, rank, in);
      Check.device(op, g.device(), "dA", dA);
    }
    NativeStatus.check(LoraNative.jsw_lora_up_grad(g.device().index(), g.dtype().code(), g.address(),
        x == null ? 0 : x.address(), loraA.address(), g.numel() / Math.max(rank, 1), in, rank, scale, p, seed,
        dx == null ? 0 : dx.address(), dA == null ? 0 : dA.address()));
  }

  /** Checks A [rank, in] against x (dtype, device) and returns the rank. */
  private static long loraRank(String op, Tensor x, Tensor loraA, long in) {
    Check.sameDtype(op, x, "loraA", loraA);
    Check.that(loraA.rank() == 2, op, () -> "loraA must be [rank, in], got " + loraA);
    long rank = loraA.size(0);
    Check.shape(op, "loraA", loraA, rank, in);
    Check.device(op, x.device(), "loraA", loraA);
    return rank;
  }

  private static LoraDims loraDims(String op, Tensor x, Tensor w, Tensor loraA, Tensor loraB, float dropoutP) {
    Check.floating(op, "x", x);
    Check.rankAtLeast(op, "x", x, 1);
    Check.that(dropoutP >= 0.0f && dropoutP < 1.0f, op, () -> "dropoutP must be in [0, 1), got " + dropoutP);
    Device d = x.device();
    Check.sameDtype(op, x, "w", w);
    Check.that(w.rank() == 2, op, () -> "w must be [out, in], got " + w);
    long in = x.size(-1), out = w.size(0);
    Check.shape(op, "w", w, out, in);
    Check.device(op, d, "w", w);
    long rank = loraRank(op, x, loraA, in);
    Check.sameDtype(op, x, "loraB", loraB);
    Check.shape(op, "loraB", loraB, out, rank);
    Check.device(op, d, "loraB", loraB);
    return new LoraDims(d, x.numel() / Math.max(in, 1), in, out, rank);
  }

  /** shape with its last dimension replaced. */
  private static long[] withLastReplaced(long[] shape, long last) {
    long[] s = shape.clone();
    s[s.length - 1] = last;
    return s;
  }

  // =====================================================================================================
  // DoRA helpers: row norms, diagonal scaling, product column sums, dropout
  // =====================================================================================================

  /**
   * L2 norm of every row of x ([..., cols], the leading dimensions flattened into rows): norm[r] = ||x[r, :]||
   * and invNorm[r] = 1 / norm[r] (f32 [rows]; either may be null, not both). fp32 sums; a zero row gives 0 and
   * infinity. DoRA's weight norm per output row of W + s B A.
   */
  public static void rowNorm(Tensor x, Tensor norm, Tensor invNorm) {
    String op = "rowNorm";
    Check.floating(op, "x", x);
    Check.rankAtLeast(op, "x", x, 1);
    Check.that(norm != null || invNorm != null, op, "norm and invNorm are both null: nothing to compute");
    long cols = x.size(-1);
    Check.that(cols > 0, op, () -> "x must have a non-empty last dimension, got " + x);
    long rows = x.numel() / cols;
    for (String name : new String[] {"norm", "invNorm"}) {
      Tensor t = name.equals("norm") ? norm : invNorm;
      if (t == null) continue;
      Check.dtype(op, name, t, DType.F32);
      Check.shape(op, name, t, rows);
      Check.device(op, x.device(), name, t);
    }
    NativeStatus.check(DoraNative.jsw_row_norm(x.device().index(), x.dtype().code(), x.address(), rows, cols,
        norm == null ? 0 : norm.address(), invNorm == null ? 0 : invNorm.address()));
  }

  /**
   * y[r, c] = x[r, c] * rowScale[r] * colScale[c] over x [..., cols] (leading dimensions flattened into rows):
   * diag(rowScale) x diag(colScale). The scales are f32 ([rows] / [cols]) and either may be null (ones); y has
   * x's dtype and shape and may be x itself.
   */
  public static void scaleRowsCols(Tensor x, Tensor rowScale, Tensor colScale, Tensor y) {
    String op = "scaleRowsCols";
    Check.floating(op, "x", x);
    Check.rankAtLeast(op, "x", x, 1);
    long cols = x.size(-1);
    Check.that(cols > 0, op, () -> "x must have a non-empty last dimension, got " + x);
    long rows = x.numel() / cols;
    if (rowScale != null) {
      Check.dtype(op, "rowScale", rowScale, DType.F32);
      Check.shape(op, "rowScale", rowScale, rows);
      Check.device(op, x.device(), "rowScale", rowScale);
    }
    if (colScale != null) {
      Check.dtype(op, "colScale", colScale, DType.F32);
      Check.shape(op, "colScale", colScale, cols);
      Check.device(op, x.device(), "colScale", colScale);
    }
    Check.sameDtype(op, x, "y", y);
    Check.shape(op, "y", y, x.shape());
    Check.device(op, x.device(), "y", y);
    NativeStatus.check(DoraNative.jsw_scale_rows_cols(x.device().index(), x.dtype().code(), x.address(), rows, cols,
        rowScale == null ? 0 : rowScale.address(), colScale == null ? 0 : colScale.address(), y.address()));
  }

  /**
   * dv[c] += sum_r a[r, c] * b[r, c] (f32 [cols], accumulated) for a and b of one shape [..., cols]: the gradient
   * of a per-column scale (DoRA's magnitude).
   */
  public static void sumRowsMul(Tensor a, Tensor b, Tensor dv) {
    String op = "sumRowsMul";
    Check.floating(op, "a", a);
    Check.rankAtLeast(op, "a", a, 1);
    Check.sameDtype(op, a, "b", b);
    Check.shape(op, "b", b, a.shape());
    Check.device(op, a.device(), "b", b);
    long cols = a.size(-1);
    Check.that(cols > 0, op, () -> "a must have a non-empty last dimension, got " + a);
    Check.dtype(op, "dv", dv, DType.F32);
    Check.shape(op, "dv", dv, cols);
    Check.device(op, a.device(), "dv", dv);
    NativeStatus.check(DoraNative.jsw_sum_rows_mul(a.device().index(), a.dtype().code(), a.address(), b.address(),
        a.numel() / cols, cols, dv.address()));
  }

  /**
   * y = drop(x): element i (of x flattened) kept with probability 1 - p and scaled by 1 / (1 - p), else 0, by the
   * same hash of (seed, step, i) as {@link #loraForward}'s dropout (step: {@link #setDropoutStep}). y has x's
   * dtype and shape and may be x; the backward is the same call on dy.
   */
  public static void dropout(Tensor x, float p, long seed, Tensor y) {
    String op = "dropout";
    Check.floating(op, "x", x);
    Check.that(p >= 0.0f && p < 1.0f, op, () -> "p must be in [0, 1), got " + p);
    Check.sameDtype(op, x, "y", y);
    Check.shape(op, "y", y, x.shape());
    Check.device(op, x.device(), "y", y);
    NativeStatus.check(DoraNative.jsw_dropout(x.device().index(), x.dtype().code(), x.address(), x.numel(), p, seed,
        y.address()));
  }

  // ---- BOFT (jsw_boft_cayley, jsw_butterfly_rotate: contracts in jswift.h) ----

  /**
   * q = (I - S)(I + S)^-1 with S = (a - a^T) / 2 for each h x h block of a (f32 [..., h, h]): BOFT's orthogonal
   * blocks (PEFT's cayley_batch). identity (i32, one flag a block, or null): flagged blocks get q = I (BOFT's
   * multiplicative dropout). q has a's shape and must not be a.
   */
  public static void boftCayley(Tensor a, Tensor identity, Tensor q) {
    String op = "boftCayley";
    long h = checkBlocks(op, a, identity);
    Check.dtype(op, "q", q, DType.F32);
    Check.shape(op, "q", q, a.shape());
    Check.device(op, a.device(), "q", q);
    Check.that(q.address() != a.address(), op, "q must not be a");
    NativeStatus.check(BoftNative.jsw_boft_cayley(a.device().index(), a.address(), a.numel() / (h * h), h,
        identity == null ? 0 : identity.address(), q.address()));
  }

  /** da += the gradient of {@link #boftCayley} from its output q and dq (all f32 of one shape [..., h, h]). */
  public static void boftCayleyBackward(Tensor q, Tensor dq, Tensor identity, Tensor da) {
    String op = "boftCayleyBackward";
    long h = checkBlocks(op, q, identity);
    for (Tensor t : new Tensor[] {dq, da}) {
      String name = t == dq ? "dq" : "da";
      Check.dtype(op, name, t, DType.F32);
      Check.shape(op, name, t, q.shape());
      Check.device(op, q.device(), name, t);
    }
    NativeStatus.check(BoftNative.jsw_boft_cayley_backward(q.device().index(), q.address(), dq.address(),
        q.numel() / (h * h), h, identity == null ? 0 : identity.address(), da.address()));
  }

  /** Checks blocks t (f32 [..., h, h]) and their flags (i32 [blocks] or null); returns h. */
  private static long checkBlocks(String op, Tensor t, Tensor identity) {
    Check.dtype(op, "blocks", t, DType.F32);
    Check.rankAtLeast(op, "blocks", t, 2);
    long h = t.size(-1);
    Check.that(h > 0 && t.size(-2) == h, op, () -> "blocks must be square [..., h, h], got " + t);
    if (identity != null) {
      Check.dtype(op, "identity", identity, DType.I32);
      Check.shape(op, "identity", identity, t.numel() / (h * h));
      Check.device(op, t.device(), "identity", identity);
    }
    return h;
  }

  /**
   * One butterfly factor over the rows of x [..., n]: y = x M (x M^T when {@code transpose}) for M = P diag(q) P^T,
   * q f32 [n / h, h, h], P[i][perm[i]] = 1 given by its inverse permInv (i32 [n], null for the identity). y has x's
   * dtype and shape and must not be x.
   */
  public static void butterflyRotate(Tensor x, Tensor permInv, Tensor q, boolean transpose, Tensor y) {
    String op = "butterflyRotate";
    long h = checkFactor(op, x, permInv, q);
    Check.sameDtype(op, x, "y", y);
    Check.shape(op, "y", y, x.shape());
    Check.device(op, x.device(), "y", y);
    Check.that(y.address() != x.address(), op, "y must not be x");
    long n = x.size(-1);
    NativeStatus.check(BoftNative.jsw_butterfly_rotate(x.device().index(), x.dtype().code(), x.address(),
        x.numel() / n, n, permInv == null ? 0 : permInv.address(), q.address(), h, transpose ? 1 : 0, y.address()));
  }

  /** dq (f32 [n / h, h, h]) += the gradient of {@link #butterflyRotate} (not transposed) from its input x and dy. */
  public static void butterflyRotateGrad(Tensor x, Tensor dy, Tensor permInv, Tensor dq) {
    String op = "butterflyRotateGrad";
    long h = checkFactor(op, x, permInv, dq);
    Check.sameDtype(op, x, "dy", dy);
    Check.shape(op, "dy", dy, x.shape());
    Check.device(op, x.device(), "dy", dy);
    long n = x.size(-1);
    NativeStatus.check(BoftNative.jsw_butterfly_rotate_grad(x.device().index(), x.dtype().code(), x.address(),
        dy.address(), x.numel() / n, n, permInv == null ? 0 : permInv.address(), h, dq.address()));
  }

  /** Checks x [..., n], its factor's blocks q (f32 [n / h, h, h]) and permInv (i32 [n] or null); returns h. */
  private static long checkFactor(String op, Tensor x, Tensor permInv, Tensor q) {
    Check.floating(op, "x", x);
    Check.rankAtLeast(op, "x", x, 1);
    Check.dtype(op, "q", q, DType.F32);
    Check.that(q.rank() == 3 && q.size(1) == q.size(2), op, () -> "q must be [blocks, h, h], got " + q);
    long n = x.size(-1), h = q.size(1);
    Check.that(q.size(0) * h == n, op, () -> "q " + q + " must hold n / h blocks of x's " + n + " columns");
    Check.device(op, x.device(), "q", q);
    if (permInv != null) {
      Check.dtype(op, "permInv", permInv, DType.I32);
      Check.shape(op, "permInv", permInv, n);
      Check.device(op, x.device(), "permInv", permInv);
    }
    return h;
  }

  /**
   * x += noise uniform on [-magnitude, magnitude), in place, from {@link #dropout}'s hash of (seed, the device's
   * dropout step, element): NEFTune's noise on the input embeddings (jsw_add_uniform_noise).
   */
  public static void addUniformNoise(Tensor x, float magnitude, long seed) {
    String op = "addUniformNoise";
    Check.floating(op, "x", x);
    Check.that(magnitude >= 0 && Float.isFinite(magnitude), op, () -> "magnitude must be finite and >= 0, got "
        + magnitude);
    NativeStatus.check(DoraNative.jsw_add_uniform_noise(x.device().index(), x.dtype().code(), x.address(), x.numel(),
        magnitude, seed));
  }

  /**
   * Sets the device's dropout step, the part of every dropout mask's key (with the call's seed) that lives in
   * device memory: kernels read it when they run, so a {@link DeviceGraph} captured once draws each step's mask
   * when the step is set before each launch. Queued in order with the device's work. Every device starts at 0.
   */
  public static void setDropoutStep(Device device, long step) {
    NativeStatus.check(DoraNative.jsw_set_dropout_step(device.index(), step));
    DROPOUT_STEPS.put(device.index(), step);
  }

  /**
   * The dropout step last set for a device ({@link #setDropoutStep}; 0 before), for the few random draws made on the
   * host (BOFT's block dropout) that must follow the same steps as the device's masks.
   */
  public static long dropoutStep(Device device) {
    return DROPOUT_STEPS.getOrDefault(device.index(), 0L);
  }

  private static final java.util.concurrent.ConcurrentHashMap<Integer, Long> DROPOUT_STEPS =
      new java.util.concurrent.ConcurrentHashMap<>();

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
    Check.that(q.rank() == 3, op, () -> "q must be [tokens, heads, headDim], got " + q);
    long tokens = q.size(0), heads = q.size(1), headDim = q.size(2);
    Check.that(headDim >= 1 && headDim <= 256, op, () -> "headDim must be in [1, 256], got " + q);
    Check.sameDtype(op, q, "k", k);
    Check.that(k.rank() == 3 && k.size(0) == tokens && k.size(2) == headDim && k.size(1) > 0, op,
        () -> "k must be [" + tokens + ", kvHeads, " + headDim + "] like q " + q + ", got " + k);
    Check.that(heads % k.size(1) == 0, op,
        () -> "heads (" + heads + ") must be a multiple of kvHeads (" + k.size(1) + ")");
    Check.sameDtype(op, q, "v", v);
    Check.shape(op, "v", v, k.shape());
    Device d = q.device();
    Check.device(op, d, "k", k);
    Check.device(op, d, "v", v);
    Check.that(seqLen > 0, op, () -> "seqLen must be > 0, got " + seqLen);
    if (cuSeqlens == null) {
      Check.that(tokens % seqLen == 0, op,
          () -> "padded layout: tokens (" + tokens + ") must be a multiple of seqLen (" + seqLen + ")");
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
        () -> "cuSeqlens must be [batch + 1], got " + cuSeqlens);
    Check.device(op, d, "cuSeqlens", cuSeqlens);
    long batch = cuSeqlens.size(0) - 1;
    // Device offsets are checked by the kernels (reading them here would synchronise); so are the CPU's inside a
    // graph capture (a host read there is refused), by the native op each time it replays.
    if (d.isCpu() && !DeviceGraph.capturing(d)) {
      int[] cu = cuSeqlens.toIntArray();
      Check.that(cu[(int) batch] == tokens, op,
          () -> "cuSeqlens[" + batch + "] = " + cu[(int) batch] + " must equal the token count " + tokens);
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

  /**
   * Default chunking of the fused LM head ({@code chunk_tokens = 0}): about 64 MiB of fp32 logits per chunk on
   * the CPU, about 1 GiB on CUDA (see jsw_lmhead_ce_fwd in jswift.h).
   */
  public static final long LM_HEAD_DEFAULT_CHUNK = 0;

  /**
   * Fused LM head + cross-entropy forward: logits = hidden weight^T, computed chunkTokens rows at a time (0 = the
   * default) so that [tokens, vocab] logits never exist at once. hidden is [..., dim] (tokens = rows), weight
   * [vocab, dim] of hidden's dtype, labels i32 with one label per row (already shifted; ignoreIndex rows give
   * loss 0). Writes f32 loss and lse [tokens] (loss = lse - logit[label], the negative token log-prob) and,
   * if argmax is not null, i32 argmax [tokens]. A label outside [0, vocab) that is not ignoreIndex is an error.
   */
  public static void lmHeadCrossEntropyForward(Tensor hidden, Tensor weight, Tensor labels, int ignoreIndex,
      long chunkTokens, Tensor loss, Tensor lse, Tensor argmax) {
    String op = "lmHeadCrossEntropyForward";
    long tokens = lmHeadChecks(op, hidden, weight, labels, chunkTokens);
    Device d = hidden.device();
    lmHeadRowVector(op, "loss", loss, DType.F32, tokens, d);
    lmHeadRowVector(op, "lse", lse, DType.F32, tokens, d);
    if (argmax != null) lmHeadRowVector(op, "argmax", argmax, DType.I32, tokens, d);
    NativeStatus.check(LossNative.jsw_lmhead_ce_fwd(d.index(), hidden.dtype().code(), hidden.address(),
        weight.address(), labels.address(), tokens, weight.size(1), weight.size(0), ignoreIndex, chunkTokens,
        loss.address(), lse.address(), argmax == null ? 0 : argmax.address()));
  }

  /**
   * Backward of {@link #lmHeadCrossEntropyForward}: with dloss the f32 upstream gradient of each row's loss
   * (e.g. weight_t / n_targets; negative for a log-prob gradient), dlogits = dloss (softmax - onehot(label)),
   * dhidden = dlogits weight (hidden's dtype and shape, overwritten) and dweight += dlogits^T hidden (f32
   * [vocab, dim], may be null). lse comes from the forward; the logits are recomputed chunk by chunk.
   */
  public static void lmHeadCrossEntropyBackward(Tensor hidden, Tensor weight, Tensor labels, Tensor lse,
      Tensor dloss, int ignoreIndex, long chunkTokens, Tensor dhidden, Tensor dweight) {
    String op = "lmHeadCrossEntropyBackward";
    long tokens = lmHeadChecks(op, hidden, weight, labels, chunkTokens);
    Device d = hidden.device();
    lmHeadRowVector(op, "lse", lse, DType.F32, tokens, d);
    lmHeadRowVector(op, "dloss", dloss, DType.F32, tokens, d);
    lmHeadGradChecks(op, hidden, weight, dhidden, dweight);
    NativeStatus.check(LossNative.jsw_lmhead_ce_bwd(d.index(), hidden.dtype().code(), hidden.address(),
        weight.address(), labels.address(), lse.address(), dloss.address(), tokens, weight.size(1),
        weight.size(0), ignoreIndex, chunkTokens, dhidden.address(), dweight == null ? 0 : dweight.address()));
  }

  /**
   * Forward and backward in one pass over the logits, for when dloss is known up front (a mean loss): the
   * results equal {@link #lmHeadCrossEntropyForward} then {@link #lmHeadCrossEntropyBackward} up to rounding,
   * with one logits GEMM per chunk instead of two. argmax (or null) as the forward's: a training step's token
   * accuracy.
   */
  public static void lmHeadCrossEntropyForwardBackward(Tensor hidden, Tensor weight, Tensor labels, Tensor dloss,
      int ignoreIndex, long chunkTokens, Tensor loss, Tensor lse, Tensor argmax, Tensor dhidden, Tensor dweight) {
    String op = "lmHeadCrossEntropyForwardBackward";
    long tokens = lmHeadChecks(op, hidden, weight, labels, chunkTokens);
    Device d = hidden.device();
    lmHeadRowVector(op, "dloss", dloss, DType.F32, tokens, d);
    lmHeadRowVector(op, "loss", loss, DType.F32, tokens, d);
    lmHeadRowVector(op, "lse", lse, DType.F32, tokens, d);
    if (argmax != null) lmHeadRowVector(op, "argmax", argmax, DType.I32, tokens, d);
    lmHeadGradChecks(op, hidden, weight, dhidden, dweight);
    NativeStatus.check(LossNative.jsw_lmhead_ce_fwd_bwd(d.index(), hidden.dtype().code(), hidden.address(),
        weight.address(), labels.address(), dloss.address(), tokens, weight.size(1), weight.size(0), ignoreIndex,
        chunkTokens, loss.address(), lse.address(), argmax == null ? 0 : argmax.address(), dhidden.address(),
        dweight == null ? 0 : dweight.address()));
  }

  /** Checks shared by the LM head ops; returns the number of tokens (rows of hidden). */
  private static long lmHeadChecks(String op, Tensor hidden, Tensor weight, Tensor labels, long chunkTokens) {
    Check.floating(op, "hidden", hidden);
    Check.rankAtLeast(op, "hidden", hidden, 2);
    Check.sameDtype(op, hidden, "weight", weight);
    Check.that(weight.rank() == 2, op, () -> "weight must be [vocab, dim], got " + weight);
    Check.that(weight.size(1) == hidden.size(-1), op,
        () -> "weight " + weight + " and hidden " + hidden + " disagree on dim");
    long tokens = hidden.numel() / Math.max(hidden.size(-1), 1);
    Device d = hidden.device();
    Check.device(op, d, "weight", weight);
    lmHeadRowVector(op, "labels", labels, DType.I32, tokens, d);
    Check.that(chunkTokens >= 0, op, () -> "chunkTokens must be >= 0 (0 = default), got " + chunkTokens);
    return tokens;
  }

  private static void lmHeadGradChecks(String op, Tensor hidden, Tensor weight, Tensor dhidden, Tensor dweight) {
    Check.sameDtype(op, hidden, "dhidden", dhidden);
    Check.shape(op, "dhidden", dhidden, hidden.shape());
    Check.device(op, hidden.device(), "dhidden", dhidden);
    if (dweight != null) {
      Check.dtype(op, "dweight", dweight, DType.F32);
      Check.shape(op, "dweight", dweight, weight.shape());
      Check.device(op, hidden.device(), "dweight", dweight);
    }
  }

  /** A per-row vector: the given dtype, `rows` elements, on the op's device. */
  private static void lmHeadRowVector(String op, String name, Tensor t, DType dtype, long rows, Device d) {
    Check.dtype(op, name, t, dtype);
    Check.numel(op, name, t, rows);
    Check.device(op, d, name, t);
  }

  // =====================================================================================================
  // optimizer: grad norm, clipping, AdamW
  // =====================================================================================================

  /**
   * acc += sum(x^2): acc is a one-element f32 tensor on x's device, so the global norm over many tensors adds up
   * there without a host sync.
   */
  public static void sumOfSquares(Tensor x, Tensor acc) {
    String op = "sumOfSquares";
    Check.floating(op, "x", x);
    optimScalar(op, "acc", acc, x.device());
    NativeStatus.check(OptimNative.jsw_sumsq(x.device().index(), x.dtype().code(), x.address(), x.numel(),
        acc.address()));
  }

  /**
   * From a global sum of squares: norm = sqrt(sumsq) and coef = min(1, maxNorm / (norm + 1e-6)), torch's
   * clip_grad_norm_ coefficient; maxNorm <= 0 gives coef = 1. All three are one-element f32 tensors on one
   * device, so clipping needs no host sync (scale the gradients by coef, e.g. through adamwStep's gradScale).
   */
  public static void clipCoefficient(Tensor sumsq, float maxNorm, Tensor norm, Tensor coef) {
    String op = "clipCoefficient";
    Check.alive(op, "sumsq", sumsq);
    Device d = sumsq.device();
    optimScalar(op, "sumsq", sumsq, d);
    optimScalar(op, "norm", norm, d);
    optimScalar(op, "coef", coef, d);
    Check.that(!Float.isNaN(maxNorm), op, "maxNorm is NaN");
    NativeStatus.check(OptimNative.jsw_clip_coef(d.index(), sumsq.address(), maxNorm, norm.address(),
        coef.address()));
  }

  /**
   * One torch.optim.AdamW step (step counts from 1) on f32 param, grad, m and v of one shape:
   * p *= 1 - lr wd; g = grad * gradScale; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
   * p -= lr / (1 - b1^step) * m / (sqrt(v) / sqrt(1 - b2^step) + eps). gradScale (one-element f32, e.g. a
   * clipping coefficient) and paramCopy (the updated param rounded to its float dtype, e.g. the bf16 compute
   * copy of an fp32 master weight) may be null.
   */
  public static void adamwStep(Tensor param, Tensor grad, Tensor m, Tensor v, float lr, float beta1, float beta2,
      float eps, float weightDecay, long step, Tensor gradScale, Tensor paramCopy) {
    String op = "adamwStep";
    Device d = checkAdamwTensors(op, param, grad, m, v, gradScale, paramCopy);
    Check.that(step >= 1, op, () -> "step counts from 1, got " + step);
    NativeStatus.check(OptimNative.jsw_adamw_step(d.index(), param.address(), grad.address(), m.address(),
        v.address(), param.numel(), lr, beta1, beta2, eps, weightDecay, step,
        gradScale == null ? 0 : gradScale.address(), paramCopy == null ? DType.F32.code() : paramCopy.dtype().code(),
        paramCopy == null ? 0 : paramCopy.address()));
  }

  // ---- AdamW with its per-step scalars in memory (CUDA graphs: a replay's kernel arguments are frozen) ----

  /**
   * The 8 floats {@link #adamwStepDev} reads for one step (learning rate, bias corrections, ...; computed as
   * {@link #adamwStep} computes them). Write them into an 8-element f32 tensor on the device before the step (before
   * each replay of a captured step).
   */
  public static float[] adamwScalars(float lr, float beta1, float beta2, float eps, float weightDecay, long step) {
    float[] out = new float[8];
    NativeStatus.check(GraphNative.jsw_adamw_scalars(lr, beta1, beta2, eps, weightDecay, step, out));
    return out;
  }

  /**
   * {@link #adamwStep}, bit for bit, with the step's scalars read from {@code scalars} (8 f32 values from
   * {@link #adamwScalars}, on the op's device) when the kernel runs: the form a {@link DeviceGraph} can replay with a
   * new learning rate every step.
   */
  public static void adamwStepDev(Tensor param, Tensor grad, Tensor m, Tensor v, Tensor scalars, Tensor gradScale,
      Tensor paramCopy) {
    String op = "adamwStepDev";
    Device d = checkAdamwTensors(op, param, grad, m, v, gradScale, paramCopy);
    Check.dtype(op, "scalars", scalars, DType.F32);
    Check.numel(op, "scalars", scalars, 8);
    Check.device(op, d, "scalars", scalars);
    NativeStatus.check(GraphNative.jsw_adamw_step_dev(d.index(), param.address(), grad.address(), m.address(),
        v.address(), param.numel(), scalars.address(), gradScale == null ? 0 : gradScale.address(),
        paramCopy == null ? DType.F32.code() : paramCopy.dtype().code(), paramCopy == null ? 0 : paramCopy.address()));
  }

  /** AdamW's tensors: f32 param, grad, m, v of one shape on one device; the optional scale and copy. */
  private static Device checkAdamwTensors(String op, Tensor param, Tensor grad, Tensor m, Tensor v, Tensor gradScale,
      Tensor paramCopy) {
    Check.dtype(op, "param", param, DType.F32);
    Device d = param.device();
    for (Object[] t : new Object[][] {{"grad", grad}, {"m", m}, {"v", v}}) {
      Tensor tt = (Tensor) t[1];
      Check.dtype(op, (String) t[0], tt, DType.F32);
      Check.shape(op, (String) t[0], tt, param.shape());
      Check.device(op, d, (String) t[0], tt);
    }
    if (gradScale != null) optimScalar(op, "gradScale", gradScale, d);
    if (paramCopy != null) {
      Check.floating(op, "paramCopy", paramCopy);
      Check.shape(op, "paramCopy", paramCopy, param.shape());
      Check.device(op, d, "paramCopy", paramCopy);
    }
    return d;
  }

  /** A one-element f32 device scalar on the op's device. */
  private static void optimScalar(String op, String name, Tensor t, Device d) {
    Check.dtype(op, name, t, DType.F32);
    Check.numel(op, name, t, 1);
    Check.device(op, d, name, t);
  }

  // =====================================================================================================
  // NF4
  // =====================================================================================================

  /** The 16 NF4 levels of bitsandbytes, index = 4-bit code (the {@code quant_map} of an NF4 checkpoint). */
  public static float[] nf4Codebook() {
    float[] code = new float[16];
    NativeStatus.check(Nf4Native.jsw_nf4_codebook(code));
    return code;
  }

  /**
   * bitsandbytes' signed 8-bit dynamic map, create_dynamic_map(signed=True): 256 sorted values in [-1, 1], the
   * {@code nested_quant_map} of a double-quantized NF4 checkpoint.
   */
  public static float[] dynamicMapSigned() {
    float[] code = new float[256];
    NativeStatus.check(Nf4Native.jsw_dynamic_map_signed(code));
    return code;
  }

  /**
   * NF4-quantizes the n = x.numel() values of x (a float tensor, flattened row-major) in blocks of blocksize
   * consecutive values, as bitsandbytes does: absmax (f32, ceil(n / blocksize)) = max |x| per block, and the
   * nearest NF4 level of x * (1 / absmax), element 2k in the high nibble of packed[k] (u8, ceil(n / 2)).
   */
  public static void nf4Quantize(Tensor x, long blocksize, Tensor packed, Tensor absmax) {
    String op = "nf4Quantize";
    Check.floating(op, "x", x);
    long n = x.numel();
    Device d = x.device();
    nf4Blocks(op, n, blocksize, packed, absmax, d);
    NativeStatus.check(Nf4Native.jsw_nf4_quantize(d.index(), x.dtype().code(), x.address(), n, blocksize,
        packed.address(), absmax.address()));
  }

  /** out[i] = code[nibble(i)] * absmax[i / blocksize], in fp32, stored in out's float dtype (n = out.numel()). */
  public static void nf4Dequantize(Tensor packed, Tensor absmax, long blocksize, Tensor out) {
    String op = "nf4Dequantize";
    Check.floating(op, "out", out);
    long n = out.numel();
    Device d = out.device();
    nf4Blocks(op, n, blocksize, packed, absmax, d);
    NativeStatus.check(Nf4Native.jsw_nf4_dequantize(d.index(), out.dtype().code(), packed.address(),
        absmax.address(), n, blocksize, out.address()));
  }

  /**
   * Double quantization of an f32 absmax vector (bitsandbytes compress_statistics): offset (one-element f32) =
   * mean(absmax); q (u8, one per absmax) = nearest code of the signed dynamic map for (absmax - offset) scaled
   * per group of 256 by nestedAbsmax (f32, ceil(n / 256)).
   */
  public static void quantizeAbsmax8bit(Tensor absmax, Tensor q, Tensor nestedAbsmax, Tensor offset) {
    String op = "quantizeAbsmax8bit";
    Check.dtype(op, "absmax", absmax, DType.F32);
    long n = absmax.numel();
    Check.that(n > 0, op, "absmax is empty");
    Device d = absmax.device();
    nf4Vector(op, "q", q, DType.U8, n, d);
    nf4Vector(op, "nestedAbsmax", nestedAbsmax, DType.F32, (n + 255) / 256, d);
    nf4Vector(op, "offset", offset, DType.F32, 1, d);
    NativeStatus.check(Nf4Native.jsw_quantize_absmax_8bit(d.index(), absmax.address(), n, q.address(),
        nestedAbsmax.address(), offset.address()));
  }

  /**
   * NF4 dequantization from double-quantized statistics: absmax[b] = code256[absmaxQ[b]] * nestedAbsmax[b / 256]
   * + offset (rounded after the product and after the sum, as bitsandbytes), then as {@link #nf4Dequantize}.
   * code256 is the dynamic map (f32 [256]) on out's device.
   */
  public static void nf4DequantizeDoubleQuant(Tensor packed, Tensor absmaxQ, Tensor nestedAbsmax, Tensor code256,
      float offset, long blocksize, Tensor out) {
    String op = "nf4DequantizeDoubleQuant";
    Check.floating(op, "out", out);
    long n = out.numel();
    Device d = out.device();
    Check.that(blocksize > 0, op, () -> "blocksize must be > 0, got " + blocksize);
    long blocks = (n + blocksize - 1) / blocksize;
    nf4Vector(op, "packed", packed, DType.U8, (n + 1) / 2, d);
    nf4Vector(op, "absmaxQ", absmaxQ, DType.U8, blocks, d);
    nf4Vector(op, "nestedAbsmax", nestedAbsmax, DType.F32, (blocks + 255) / 256, d);
    nf4Vector(op, "code256", code256, DType.F32, 256, d);
    NativeStatus.check(Nf4Native.jsw_nf4_dequantize_dq(d.index(), out.dtype().code(), packed.address(),
        absmaxQ.address(), nestedAbsmax.address(), code256.address(), offset, n, blocksize, out.address()));
  }

  // ---- NF4 GEMV (decode: a few input rows against an NF4 weight, never materialising the dense weight) ----

  /** Most input rows {@link #nf4Gemv} takes (one fp32 accumulator per row in the kernels' registers). */
  public static final int NF4_GEMV_MAX_ROWS = 8;

  /**
   * y [rows, out] = x [rows, in] W^T (+ bias [out]) for an NF4 weight W [out, in] (packed / absmax as
   * {@link #nf4Dequantize} reads them, flattened row-major), fusing the dequantization into the product: the
   * packed weight is read once, products accumulate in fp32. rows is 1..{@link #NF4_GEMV_MAX_ROWS}; x, bias and
   * y share one float dtype; bias may be null.
   */
  public static void nf4Gemv(Tensor x, Tensor packed, Tensor absmax, long blocksize, Tensor bias, Tensor y) {
    String op = "nf4Gemv";
    long n = nf4GemvShapes(op, x, packed, blocksize, bias, y);
    nf4Vector(op, "absmax", absmax, DType.F32, (n + blocksize - 1) / blocksize, x.device());
    NativeStatus.check(Nf4Native.jsw_nf4_gemv(x.device().index(), x.dtype().code(), x.address(), x.size(0),
        x.size(1), packed.address(), absmax.address(), 0L, 0L, 0L, 0f, y.size(1), blocksize,
        bias == null ? 0L : bias.address(), y.address()));
  }

  /** {@link #nf4Gemv} with double-quantized statistics, recovered as in {@link #nf4DequantizeDoubleQuant}. */
  public static void nf4GemvDoubleQuant(Tensor x, Tensor packed, Tensor absmaxQ, Tensor nestedAbsmax,
      Tensor code256, float offset, long blocksize, Tensor bias, Tensor y) {
    String op = "nf4GemvDoubleQuant";
    long n = nf4GemvShapes(op, x, packed, blocksize, bias, y);
    long blocks = (n + blocksize - 1) / blocksize;
    Device d = x.device();
    nf4Vector(op, "absmaxQ", absmaxQ, DType.U8, blocks, d);
    nf4Vector(op, "nestedAbsmax", nestedAbsmax, DType.F32, (blocks + 255) / 256, d);
    nf4Vector(op, "code256", code256, DType.F32, 256, d);
    NativeStatus.check(Nf4Native.jsw_nf4_gemv(d.index(), x.dtype().code(), x.address(), x.size(0), x.size(1),
        packed.address(), 0L, absmaxQ.address(), nestedAbsmax.address(), code256.address(), offset, y.size(1),
        blocksize, bias == null ? 0L : bias.address(), y.address()));
  }

  /** Checks x [rows, in], y [rows, out], bias [out] and packed; returns the weight's element count out * in. */
  private static long nf4GemvShapes(String op, Tensor x, Tensor packed, long blocksize, Tensor bias, Tensor y) {
    Check.floating(op, "x", x);
    Check.sameDtype(op, x, "y", y);
    Check.that(x.rank() == 2 && y.rank() == 2, op, () -> "x and y must be 2-D [rows, in] / [rows, out], got x " + x
        + ", y " + y);
    long rows = x.size(0);
    Check.that(rows >= 1 && rows <= NF4_GEMV_MAX_ROWS, op, () -> "x has " + rows + " rows; the GEMV takes 1.."
        + NF4_GEMV_MAX_ROWS + " (use nf4Dequantize + matmul for more)");
    Check.that(y.size(0) == rows, op, () -> "y has " + y.size(0) + " rows, x has " + rows);
    Check.that(blocksize > 0, op, () -> "blocksize must be > 0, got " + blocksize);
    Device d = x.device();
    Check.device(op, d, "y", y);
    long in = x.size(1), out = y.size(1), n = Math.multiplyExact(in, out);
    Check.that(in > 0 && out > 0, op, () -> "empty weight [" + out + ", " + in + "]");
    nf4Vector(op, "packed", packed, DType.U8, (n + 1) / 2, d);
    if (bias != null) {
      Check.sameDtype(op, x, "bias", bias);
      Check.shape(op, "bias", bias, out);
      Check.device(op, d, "bias", bias);
    }
    return n;
  }

  private static void nf4Blocks(String op, long n, long blocksize, Tensor packed, Tensor absmax, Device d) {
    Check.that(blocksize > 0, op, () -> "blocksize must be > 0, got " + blocksize);
    nf4Vector(op, "packed", packed, DType.U8, (n + 1) / 2, d);
    nf4Vector(op, "absmax", absmax, DType.F32, (n + blocksize - 1) / blocksize, d);
  }

  private static void nf4Vector(String op, String name, Tensor t, DType dtype, long numel, Device d) {
    Check.dtype(op, name, t, dtype);
    Check.numel(op, name, t, numel);
    Check.device(op, d, name, t);
  }

  // =====================================================================================================
  // GPTQ (AutoGPTQ / GPTQModel "gptq" v1 layout)
  // =====================================================================================================

  /**
   * Dequantizes one GPTQ linear into the dense weight {@code w} [out, in] (float dtype): with p = 32 / bits,
   * qweight (i32 [in / p, out]) packs input p*r + j of output c in field j of word [r, c], qzeros (i32 [groups,
   * out / p]) the zero - 1 of each output along the output dim (read back as (field + 1) mod 2^bits, as
   * AutoGPTQ does), scales (f16 [groups, out]), gIdx (i32 [in]) the group of each input (any order).
   * w[c, k] = scales[g, c] * (q[k, c] - zero[g, c]), g = gIdx[k], in fp32.
   */
  public static void gptqDequantize(Tensor qweight, Tensor qzeros, Tensor scales, Tensor gIdx, int bits, Tensor w) {
    String op = "gptqDequantize";
    Check.floating(op, "w", w);
    Check.that(w.rank() == 2, op, () -> "w must be [out, in], got rank " + w.rank());
    Check.that(bits == 2 || bits == 4 || bits == 8, op, () -> "bits must be 2, 4 or 8, got " + bits);
    long out = w.size(0), in = w.size(1), p = 32 / bits;
    Check.that(in % p == 0 && out % p == 0, op, () -> "in (" + in + ") and out (" + out + ") must be multiples of " + p
        + " at " + bits + " bits");
    Check.that(scales.rank() == 2, op, () -> "scales must be [groups, out], got rank " + scales.rank());
    long groups = scales.size(0);
    Device d = w.device();
    gptqTensor(op, "qweight", qweight, DType.I32, d, in / p, out);
    gptqTensor(op, "qzeros", qzeros, DType.I32, d, groups, out / p);
    gptqTensor(op, "scales", scales, DType.F16, d, groups, out);
    gptqTensor(op, "gIdx", gIdx, DType.I32, d, in);
    NativeStatus.check(GptqNative.jsw_gptq_dequantize(d.index(), w.dtype().code(), qweight.address(),
        qzeros.address(), scales.address(), gIdx.address(), in, out, bits, groups, w.address()));
  }

  /**
   * GPTQ's running Hessian (f32, CPU or CUDA): with x [rows, in] the next calibration inputs and {@code seen} the
   * rows accumulated so far, h [in, in] becomes h * seen / (seen + rows) + 2 / (seen + rows) x^T x.
   */
  public static void gptqHessianAdd(Tensor x, Tensor h, long seen) {
    String op = "gptqHessianAdd";
    Check.alive(op, "x", x);
    Check.dtype(op, "x", x, DType.F32);
    Check.that(x.rank() == 2, op, () -> "x must be [rows, in], got rank " + x.rank());
    Check.that(seen >= 0, op, () -> "seen must be >= 0, got " + seen);
    long in = x.size(1);
    gptqTensor(op, "h", h, DType.F32, x.device(), in, in);
    NativeStatus.check(GptqNative.jsw_gptq_hessian_add(x.device().index(), x.address(), x.size(0), in, h.address(),
        seen));
  }

  /**
   * Quantizes one linear (f32, CPU or CUDA) as GPTQ does, or by round-to-nearest when {@code h} is null (the
   * jswift.h contract of jsw_gptq_quantize has the details; the CUDA twin agrees with the CPU to fp32 rounding). w [out, in] is overwritten by its quantized values; h [in,
   * in] is destroyed. Writes codes (i32 [out, in]), scales (f32 [groups, out], values an f16 holds), zeros (i32
   * [groups, out], true zero points) and gIdx (i32 [in]); returns GPTQ's loss, sum (w - q)^2 / Hinv_ii^2 / 2.
   */
  public static double gptqQuantize(Tensor w, Tensor h, int bits, long groupSize, boolean sym, boolean descAct,
      float dampPercent, Tensor codes, Tensor scales, Tensor zeros, Tensor gIdx) {
    String op = "gptqQuantize";
    Check.dtype(op, "w", w, DType.F32);
    Check.that(w.rank() == 2, op, () -> "w must be [out, in], got rank " + w.rank());
    Check.alive(op, "w", w);
    Device d = w.device();
    Check.that(groupSize == -1 || groupSize > 0, op, () -> "group_size must be > 0 or -1, got " + groupSize);
    long out = w.size(0), in = w.size(1), groups = groupSize == -1 ? 1 : (in + groupSize - 1) / groupSize;
    if (h != null) gptqTensor(op, "h", h, DType.F32, d, in, in);
    gptqTensor(op, "codes", codes, DType.I32, d, out, in);
    gptqTensor(op, "scales", scales, DType.F32, d, groups, out);
    gptqTensor(op, "zeros", zeros, DType.I32, d, groups, out);
    gptqTensor(op, "gIdx", gIdx, DType.I32, d, in);
    double[] loss = new double[1];
    NativeStatus.check(GptqNative.jsw_gptq_quantize(d.index(), w.address(), h == null ? 0L : h.address(), out, in,
        bits, groupSize, sym ? 1 : 0, descAct ? 1 : 0, dampPercent, 128, codes.address(), scales.address(),
        zeros.address(), gIdx.address(), loss));
    return loss[0];
  }

  private static void gptqTensor(String op, String name, Tensor t, DType dtype, Device d, long... shape) {
    Check.alive(op, name, t);
    Check.dtype(op, name, t, dtype);
    Check.shape(op, name, t, shape);
    Check.device(op, d, name, t);
  }

  // =====================================================================================================
  // AWQ (AutoAWQ "GEMM" layout)
  // =====================================================================================================

  /**
   * Dequantizes one AWQ linear into the dense weight {@code w} [out, in] (float dtype). qweight (i32 [in, out /
   * 8]) packs the 4-bit codes along the output dim in AutoAWQ's interleaved order (nibble i of word [k, j] holds
   * output 8j + {0, 2, 4, 6, 1, 3, 5, 7}[i]), qzeros (i32 [in / groupSize, out / 8]) the zero points the same
   * way, scales f16 [in / groupSize, out]. w[c, k] = scales[g, c] * (q[k, c] - zero[g, c]), g = k / groupSize,
   * in fp32 rounded once to w's dtype.
   */
  public static void awqDequantize(Tensor qweight, Tensor qzeros, Tensor scales, long groupSize, Tensor w) {
    String op = "awqDequantize";
    Check.alive(op, "w", w);
    Check.floating(op, "w", w);
    Check.that(w.rank() == 2, op, () -> "w must be [out, in], got rank " + w.rank());
    long out = w.size(0), in = w.size(1);
    Check.that(groupSize > 0 && in % groupSize == 0, op, () -> "groupSize must be > 0 and divide in (" + in + "), got "
        + groupSize);
    Check.that(out % 8 == 0, op, () -> "out (" + out + ") must be a multiple of 8 (4-bit outputs per int32 word)");
    Device d = w.device();
    long groups = in / groupSize;
    awqTensor(op, "qweight", qweight, DType.I32, d, in, out / 8);
    awqTensor(op, "qzeros", qzeros, DType.I32, d, groups, out / 8);
    awqTensor(op, "scales", scales, DType.F16, d, groups, out);
    NativeStatus.check(AwqNative.jsw_awq_dequantize(d.index(), w.dtype().code(), qweight.address(),
        qzeros.address(), scales.address(), in, out, groupSize, w.address()));
  }

  /** The most input rows {@link #awqGemv} takes. */
  public static final int AWQ_GEMV_MAX_ROWS = 4;

  /**
   * Fused AWQ dequant-GEMV for decode-shaped inputs: y [rows, out] = x [rows, in] W^T (+ bias [out]) with W the
   * weight {@link #awqDequantize} gives for the same packed tensors, read once and never materialised (fp32
   * accumulation). rows is 1..{@value #AWQ_GEMV_MAX_ROWS}; x, bias (or null) and y share a float dtype.
   */
  public static void awqGemv(Tensor x, Tensor qweight, Tensor qzeros, Tensor scales, long groupSize, Tensor bias,
      Tensor y) {
    String op = "awqGemv";
    Check.alive(op, "x", x);
    Check.floating(op, "x", x);
    Check.that(x.rank() == 2, op, () -> "x must be [rows, in], got " + x);
    Check.alive(op, "y", y);
    Check.sameDtype(op, x, "y", y);
    Check.that(y.rank() == 2, op, () -> "y must be [rows, out], got " + y);
    long rows = x.size(0), in = x.size(1), out = y.size(1);
    Check.that(rows >= 1 && rows <= AWQ_GEMV_MAX_ROWS, op, () -> "x has " + rows + " rows; the GEMV takes 1.."
        + AWQ_GEMV_MAX_ROWS + " (dequantize and use matmul for more)");
    Check.that(y.size(0) == rows, op, () -> "y has " + y.size(0) + " rows, x " + rows);
    Check.that(groupSize > 0 && in % groupSize == 0, op, () -> "groupSize must be > 0 and divide in (" + in + "), got "
        + groupSize);
    Check.that(out % 8 == 0, op, () -> "out (" + out + ") must be a multiple of 8 (4-bit outputs per int32 word)");
    Device d = x.device();
    Check.device(op, d, "y", y);
    long groups = in / groupSize;
    awqTensor(op, "qweight", qweight, DType.I32, d, in, out / 8);
    awqTensor(op, "qzeros", qzeros, DType.I32, d, groups, out / 8);
    awqTensor(op, "scales", scales, DType.F16, d, groups, out);
    if (bias != null) {
      Check.alive(op, "bias", bias);
      Check.sameDtype(op, x, "bias", bias);
      Check.shape(op, "bias", bias, out);
      Check.device(op, d, "bias", bias);
    }
    NativeStatus.check(AwqNative.jsw_awq_gemv(d.index(), x.dtype().code(), x.address(), rows, in, qweight.address(),
        qzeros.address(), scales.address(), out, groupSize, bias == null ? 0L : bias.address(), y.address()));
  }

  private static void awqTensor(String op, String name, Tensor t, DType dtype, Device d, long... shape) {
    Check.alive(op, name, t);
    Check.dtype(op, name, t, dtype);
    Check.shape(op, name, t, shape);
    Check.device(op, d, name, t);
  }

  // =====================================================================================================
  // Min-max group quantization (Q-GaLore: INT4 projectors, INT8 weights with stochastic rounding)
  // =====================================================================================================

  /** Bytes of the codes of n values at {@code bits} (4: two per byte, high nibble first; 8: one per byte). */
  public static long minmaxCodeBytes(long n, int bits) {
    return bits == 8 ? n : (n + 1) / 2;
  }

  /**
   * Q-GaLore's asymmetric min-max quantization of x (float dtype, flattened) in groups of {@code groupSize}
   * consecutive values: scale = max(max - min, 1e-5) / (2^bits - 1), zero = clamp(round(-min / scale)), code =
   * clamp(round(x / scale) + zero). With {@code stochastic}, round is an unbiased stochastic rounding drawn from
   * (seed, element index), reproducible across runs and devices. codes: u8 [{@link #minmaxCodeBytes}], scales and
   * zeros: f32 [ceil(n / groupSize)], all on x's device.
   */
  public static void minmaxQuantize(Tensor x, long groupSize, int bits, boolean stochastic, long seed, Tensor codes,
      Tensor scales, Tensor zeros) {
    String op = "minmaxQuantize";
    Check.alive(op, "x", x);
    Check.floating(op, "x", x);
    long n = x.numel();
    minmaxBuffers(op, n, groupSize, bits, codes, scales, zeros, x.device());
    NativeStatus.check(MinmaxQuantNative.jsw_minmax_quantize(x.device().index(), x.dtype().code(), x.address(), n,
        groupSize, bits, stochastic ? 1 : 0, seed, codes.address(), scales.address(), zeros.address()));
  }

  /** out[i] = (code(i) - zero[g]) * scale[g], g = i / groupSize, in fp32, stored in out's float dtype. */
  public static void minmaxDequantize(Tensor codes, Tensor scales, Tensor zeros, long groupSize, int bits, Tensor out) {
    String op = "minmaxDequantize";
    Check.alive(op, "out", out);
    Check.floating(op, "out", out);
    long n = out.numel();
    minmaxBuffers(op, n, groupSize, bits, codes, scales, zeros, out.device());
    NativeStatus.check(MinmaxQuantNative.jsw_minmax_dequantize(out.device().index(), out.dtype().code(),
        codes.address(), scales.address(), zeros.address(), n, groupSize, bits, out.address()));
  }

  private static void minmaxBuffers(String op, long n, long groupSize, int bits, Tensor codes, Tensor scales,
      Tensor zeros, Device d) {
    Check.that(bits == 4 || bits == 8, op, () -> "bits must be 4 or 8, got " + bits);
    Check.that(groupSize > 0, op, () -> "groupSize must be > 0, got " + groupSize);
    long groups = (n + groupSize - 1) / groupSize;
    for (Object[] t : new Object[][] {{"codes", codes, DType.U8, minmaxCodeBytes(n, bits)},
        {"scales", scales, DType.F32, groups}, {"zeros", zeros, DType.F32, groups}}) {
      Tensor v = (Tensor) t[1];
      Check.alive(op, (String) t[0], v);
      Check.dtype(op, (String) t[0], v, (DType) t[2]);
      Check.numel(op, (String) t[0], v, (Long) t[3]);
      Check.device(op, d, (String) t[0], v);
    }
  }

  // =====================================================================================================
  // KV-cache decode attention
  // =====================================================================================================

  /**
   * Attention of new queries against a KV cache, for inference (no backward): token-by-token decoding
   * (qLen = 1) and the prefill of a prompt or its continuation (qLen > 1, causal inside the chunk).
   *
   * <p>q and out are [batch, qLen, heads, headDim]; kCache and vCache [batch, capacity, kvHeads, headDim] hold
   * the keys and values of each sequence, the new tokens' already appended ({@link #kvCacheAppend}); kvLen (i32
   * [batch]) counts each sequence's valid slots. Query i of sequence b sits at slot p = kvLen[b] - qLen + i and
   * sees key j iff j <= p, (window <= 0 || p - j < window) and keyMask[b, j] != 0. keyMask (i32 [batch, capacity],
   * 0 = padding, e.g. the left padding of batched generation) and lse (f32 [batch, qLen, heads], the natural
   * log-sum-exp of the visible scaled scores) may be null. Query head h reads kv head h / (heads / kvHeads);
   * headDim is at most 256. A query that sees no key gives out = 0 and lse = -inf. kvLen values outside [qLen,
   * capacity] are rejected on the CPU before any output is written; on CUDA the sequence gives zeros and the next
   * {@link #synchronize} reports it.
   */
  public static void attentionDecode(Tensor q, Tensor kCache, Tensor vCache, Tensor kvLen, Tensor keyMask,
      long window, float softmaxScale, Tensor out, Tensor lse) {
    String op = "attentionDecode";
    Check.floating(op, "q", q);
    Check.that(q.rank() == 4, op, () -> "q must be [batch, qLen, heads, headDim], got " + q);
    long batch = q.size(0), qLen = q.size(1), heads = q.size(2), headDim = q.size(3);
    Check.that(headDim >= 1 && headDim <= 256, op, () -> "headDim must be in [1, 256], got " + q);
    long[] cache = kvCacheShape(op, q, "kCache", kCache, batch, headDim);
    long capacity = cache[1], kvHeads = cache[2];
    Check.that(heads % kvHeads == 0, op, () -> "heads (" + heads + ") must be a multiple of kvHeads (" + kvHeads + ")");
    Check.that(qLen <= capacity, op, () -> "qLen (" + qLen + ") must be <= the cache capacity (" + capacity + ")");
    Check.sameDtype(op, q, "vCache", vCache);
    Check.shape(op, "vCache", vCache, cache);
    Device d = q.device();
    Check.device(op, d, "vCache", vCache);
    kvLengths(op, kvLen, batch, d);
    if (keyMask != null) {
      Check.dtype(op, "keyMask", keyMask, DType.I32);
      Check.shape(op, "keyMask", keyMask, batch, capacity);
      Check.device(op, d, "keyMask", keyMask);
    }
    Check.sameDtype(op, q, "out", out);
    Check.shape(op, "out", out, q.shape());
    Check.device(op, d, "out", out);
    if (lse != null) {
      Check.dtype(op, "lse", lse, DType.F32);
      Check.shape(op, "lse", lse, batch, qLen, heads);
      Check.device(op, d, "lse", lse);
    }
    NativeStatus.check(DecodeNative.jsw_attention_decode(d.index(), q.dtype().code(), q.address(),
        kCache.address(), vCache.address(), kvLen.address(), keyMask == null ? 0 : keyMask.address(), batch, qLen,
        capacity, heads, kvHeads, headDim, window, softmaxScale, out.address(), lse == null ? 0 : lse.address()));
  }

  /**
   * Writes the keys and values of qLen new tokens into the cache: kNew / vNew [batch, qLen, kvHeads, headDim],
   * token i of sequence b into slot kvLen[b] - qLen + i of kCache / vCache [batch, capacity, kvHeads, headDim].
   * kvLen (i32 [batch]) holds the lengths after the append, the array {@link #attentionDecode} then takes.
   */
  public static void kvCacheAppend(Tensor kNew, Tensor vNew, Tensor kCache, Tensor vCache, Tensor kvLen) {
    String op = "kvCacheAppend";
    Check.floating(op, "kNew", kNew);
    Check.that(kNew.rank() == 4, op, () -> "kNew must be [batch, qLen, kvHeads, headDim], got " + kNew);
    long batch = kNew.size(0), qLen = kNew.size(1), kvHeads = kNew.size(2), headDim = kNew.size(3);
    Device d = kNew.device();
    Check.sameDtype(op, kNew, "vNew", vNew);
    Check.shape(op, "vNew", vNew, kNew.shape());
    Check.device(op, d, "vNew", vNew);
    long[] cache = kvCacheShape(op, kNew, "kCache", kCache, batch, headDim);
    Check.that(cache[2] == kvHeads, op, () -> "kCache must have " + kvHeads + " kv heads like kNew, got " + kCache);
    long capacity = cache[1];
    Check.that(qLen <= capacity, op, () -> "qLen (" + qLen + ") must be <= the cache capacity (" + capacity + ")");
    Check.sameDtype(op, kNew, "vCache", vCache);
    Check.shape(op, "vCache", vCache, cache);
    Check.device(op, d, "vCache", vCache);
    kvLengths(op, kvLen, batch, d);
    NativeStatus.check(DecodeNative.jsw_kv_cache_append(d.index(), kNew.dtype().code(), kNew.address(),
        vNew.address(), kCache.address(), vCache.address(), kvLen.address(), batch, qLen, capacity, kvHeads,
        headDim));
  }

  /** Checks a [batch, capacity, kvHeads, headDim] cache against the input x; returns its shape. */
  private static long[] kvCacheShape(String op, Tensor x, String name, Tensor cache, long batch, long headDim) {
    Check.sameDtype(op, x, name, cache);
    Check.that(cache.rank() == 4 && cache.size(0) == batch && cache.size(2) > 0 && cache.size(3) == headDim, op,
        () -> name + " must be [" + batch + ", capacity, kvHeads, " + headDim + "], got " + cache);
    Check.device(op, x.device(), name, cache);
    return cache.shape();
  }

  private static void kvLengths(String op, Tensor kvLen, long batch, Device d) {
    Check.dtype(op, "kvLen", kvLen, DType.I32);
    Check.shape(op, "kvLen", kvLen, batch);
    Check.device(op, d, "kvLen", kvLen);
  }

  // ---- dense linear algebra (PiSSA / OLoRA initialisation) ----

  /**
   * Thin SVD a = u diag(s) vt of an f32 CPU matrix a [m, n]: u [m, k], s [k] (descending), vt [k, n], k =
   * min(m, n); LAPACK sgesdd, as torch.linalg.svd(full_matrices=False). CPU only: a GPU caller copies to the host.
   */
  public static void svd(Tensor a, Tensor u, Tensor s, Tensor vt) {
    String op = "svd";
    long[] mn = linalgInput(op, a);
    long k = Math.min(mn[0], mn[1]);
    linalgOutput(op, "u", u, mn[0], k);
    linalgOutput(op, "s", s, k);
    linalgOutput(op, "vt", vt, k, mn[1]);
    NativeStatus.check(LinalgNative.jsw_linalg_svd_f32(Device.CPU.index(), a.address(), mn[0], mn[1], u.address(),
        s.address(), vt.address()));
  }

  /**
   * Thin QR a = q r of an f32 CPU matrix a [m, n]: q [m, k] with orthonormal columns, r [k, n] upper triangular,
   * k = min(m, n); Householder (LAPACK sgeqrf + sorgqr), as torch.linalg.qr(mode='reduced'). CPU only.
   */
  public static void qr(Tensor a, Tensor q, Tensor r) {
    String op = "qr";
    long[] mn = linalgInput(op, a);
    long k = Math.min(mn[0], mn[1]);
    linalgOutput(op, "q", q, mn[0], k);
    linalgOutput(op, "r", r, k, mn[1]);
    NativeStatus.check(LinalgNative.jsw_linalg_qr_f32(Device.CPU.index(), a.address(), mn[0], mn[1], q.address(),
        r.address()));
  }

  // ---- randomized truncated SVD (GaLore projector refresh) ----

  /**
   * Top-r singular triplets of an f32 matrix a [m, n] on any device, r = s.size(0): u [m, r] (orthonormal
   * columns), s [r] (descending), vt [r, n] (orthonormal rows), all on a's device. A randomized range finder (a
   * Gaussian sketch of width r + oversample drawn from {@code seed}, the same on CPU and CUDA, then powerIters
   * power iterations): with a spectral gap at r it converges to the exact top-r subspace geometrically in
   * powerIters, at O(m n (r + oversample)) per pass instead of a full SVD's O(m n min(m, n)).
   */
  public static void randomizedSvd(Tensor a, Tensor u, Tensor s, Tensor vt, int oversample, int powerIters,
      long seed) {
    String op = "randomizedSvd";
    Check.alive(op, "a", a);
    Check.dtype(op, "a", a, DType.F32);
    Check.that(a.rank() == 2 && a.size(0) > 0 && a.size(1) > 0, op, () -> "a must be a non-empty matrix, got " + a);
    long m = a.size(0), n = a.size(1);
    Check.alive(op, "s", s);
    Check.that(s.rank() == 1 && s.size(0) >= 1 && s.size(0) <= Math.min(m, n), op,
        () -> "s must be [r] with 1 <= r <= min(m, n) = " + Math.min(m, n) + ", got " + s);
    long r = s.size(0);
    rsvdOutput(op, "u", u, a.device(), m, r);
    rsvdOutput(op, "vt", vt, a.device(), r, n);
    rsvdOutput(op, "s", s, a.device(), r);
    Check.that(oversample >= 0, op, () -> "oversample must be >= 0, got " + oversample);
    Check.that(powerIters >= 0 && powerIters <= 64, op, () -> "powerIters must be in [0, 64], got " + powerIters);
    NativeStatus.check(RsvdNative.jsw_linalg_rsvd_f32(a.device().index(), a.address(), m, n, r, oversample,
        powerIters, seed, u.address(), s.address(), vt.address()));
  }

  private static void rsvdOutput(String op, String name, Tensor t, Device device, long... shape) {
    Check.alive(op, name, t);
    Check.dtype(op, name, t, DType.F32);
    Check.shape(op, name, t, shape);
    Check.device(op, device, name, t);
  }

  private static long[] linalgInput(String op, Tensor a) {
    Check.alive(op, "a", a);
    Check.dtype(op, "a", a, DType.F32);
    Check.that(a.rank() == 2 && a.size(0) > 0 && a.size(1) > 0, op, () -> "a must be a non-empty matrix, got " + a);
    Check.device(op, Device.CPU, "a", a);
    return a.shape();
  }

  private static void linalgOutput(String op, String name, Tensor t, long... shape) {
    Check.alive(op, name, t);
    Check.dtype(op, name, t, DType.F32);
    Check.shape(op, name, t, shape);
    Check.device(op, Device.CPU, name, t);
  }

  // =====================================================================================================
  // quantized matmul (branch qmatmul): tile GEMM straight from packed NF4 / GPTQ / AWQ weights, GPTQ GEMV
  // =====================================================================================================

  /**
   * A product with an NF4 weight W [out, in] (packed / absmax as {@link #nf4Dequantize} reads them) that never
   * materialises the dense weight: W is dequantized a panel of rows at a time into a small tile. {@code backward}
   * false: x [rows, in], y [rows, out] = x W^T + beta y (a linear's forward); true: x [rows, out], y [rows, in] =
   * x W + beta y (its input gradient). beta = 0 ignores y's contents. x and y share one float dtype.
   */
  public static void nf4Matmul(Tensor x, Tensor packed, Tensor absmax, long blocksize, boolean backward, float beta,
      Tensor y) {
    String op = "nf4Matmul";
    long[] oi = qmatmulShapes(op, x, backward, beta, y);
    long n = oi[0] * oi[1];
    Check.that(blocksize > 0, op, () -> "blocksize must be > 0, got " + blocksize);
    nf4Vector(op, "packed", packed, DType.U8, (n + 1) / 2, x.device());
    nf4Vector(op, "absmax", absmax, DType.F32, (n + blocksize - 1) / blocksize, x.device());
    NativeStatus.check(QmatmulNative.jsw_nf4_matmul(x.device().index(), x.dtype().code(), x.address(), x.size(0),
        backward ? 1 : 0, packed.address(), absmax.address(), 0L, 0L, 0L, 0f, oi[0], oi[1], blocksize, beta,
        y.address()));
  }

  /** {@link #nf4Matmul} with double-quantized statistics, recovered as in {@link #nf4DequantizeDoubleQuant}. */
  public static void nf4MatmulDoubleQuant(Tensor x, Tensor packed, Tensor absmaxQ, Tensor nestedAbsmax,
      Tensor code256, float offset, long blocksize, boolean backward, float beta, Tensor y) {
    String op = "nf4MatmulDoubleQuant";
    long[] oi = qmatmulShapes(op, x, backward, beta, y);
    long n = oi[0] * oi[1];
    Check.that(blocksize > 0, op, () -> "blocksize must be > 0, got " + blocksize);
    long blocks = (n + blocksize - 1) / blocksize;
    Device d = x.device();
    nf4Vector(op, "packed", packed, DType.U8, (n + 1) / 2, d);
    nf4Vector(op, "absmaxQ", absmaxQ, DType.U8, blocks, d);
    nf4Vector(op, "nestedAbsmax", nestedAbsmax, DType.F32, (blocks + 255) / 256, d);
    nf4Vector(op, "code256", code256, DType.F32, 256, d);
    NativeStatus.check(QmatmulNative.jsw_nf4_matmul(d.index(), x.dtype().code(), x.address(), x.size(0),
        backward ? 1 : 0, packed.address(), 0L, absmaxQ.address(), nestedAbsmax.address(), code256.address(), offset,
        oi[0], oi[1], blocksize, beta, y.address()));
  }

  /**
   * {@link #nf4Matmul} for a GPTQ weight (qweight / qzeros / scales / gIdx as {@link #gptqDequantize} reads them;
   * the out and in of W come from x and y).
   */
  public static void gptqMatmul(Tensor x, Tensor qweight, Tensor qzeros, Tensor scales, Tensor gIdx, int bits,
      boolean backward, float beta, Tensor y) {
    String op = "gptqMatmul";
    long[] oi = qmatmulShapes(op, x, backward, beta, y);
    long groups = gptqPacked(op, x.device(), oi[0], oi[1], qweight, qzeros, scales, gIdx, bits);
    NativeStatus.check(QmatmulNative.jsw_gptq_matmul(x.device().index(), x.dtype().code(), x.address(), x.size(0),
        backward ? 1 : 0, qweight.address(), qzeros.address(), scales.address(), gIdx.address(), oi[0], oi[1], bits,
        groups, beta, y.address()));
  }

  /**
   * {@link #nf4Matmul} for an AWQ weight (qweight / qzeros / scales / groupSize as {@link #awqDequantize} reads
   * them; the out and in of W come from x and y: out a multiple of 8, in a multiple of groupSize).
   */
  public static void awqMatmul(Tensor x, Tensor qweight, Tensor qzeros, Tensor scales, long groupSize,
      boolean backward, float beta, Tensor y) {
    String op = "awqMatmul";
    long[] oi = qmatmulShapes(op, x, backward, beta, y);
    long out = oi[0], in = oi[1];
    Check.that(groupSize > 0 && in % groupSize == 0, op, () -> "groupSize must be > 0 and divide in (" + in + "), got "
        + groupSize);
    Check.that(out % 8 == 0, op, () -> "out (" + out + ") must be a multiple of 8 (4-bit outputs per int32 word)");
    Device d = x.device();
    long groups = in / groupSize;
    awqTensor(op, "qweight", qweight, DType.I32, d, in, out / 8);
    awqTensor(op, "qzeros", qzeros, DType.I32, d, groups, out / 8);
    awqTensor(op, "scales", scales, DType.F16, d, groups, out);
    NativeStatus.check(QmatmulNative.jsw_awq_matmul(d.index(), x.dtype().code(), x.address(), x.size(0),
        backward ? 1 : 0, qweight.address(), qzeros.address(), scales.address(), out, in, groupSize, beta,
        y.address()));
  }

  /** Most input rows {@link #gptqGemv} takes (one fp32 accumulator per row in the kernels' registers). */
  public static final int GPTQ_GEMV_MAX_ROWS = 8;

  /**
   * y [rows, out] = x [rows, in] W^T (+ bias [out]) for a GPTQ weight W [out, in], fusing the dequantization into
   * the product (decode: the packed weight is read once; products accumulate in fp32). rows is
   * 1..{@link #GPTQ_GEMV_MAX_ROWS}; x, bias and y share one float dtype; bias may be null.
   */
  public static void gptqGemv(Tensor x, Tensor qweight, Tensor qzeros, Tensor scales, Tensor gIdx, int bits,
      Tensor bias, Tensor y) {
    String op = "gptqGemv";
    long[] oi = qmatmulShapes(op, x, false, 0f, y);
    long rows = x.size(0);
    Check.that(rows >= 1 && rows <= GPTQ_GEMV_MAX_ROWS, op, () -> "x has " + rows + " rows; the GEMV takes 1.."
        + GPTQ_GEMV_MAX_ROWS + " (use gptqMatmul for more)");
    if (bias != null) {
      Check.sameDtype(op, x, "bias", bias);
      Check.shape(op, "bias", bias, oi[0]);
      Check.device(op, x.device(), "bias", bias);
    }
    long groups = gptqPacked(op, x.device(), oi[0], oi[1], qweight, qzeros, scales, gIdx, bits);
    NativeStatus.check(QmatmulNative.jsw_gptq_gemv(x.device().index(), x.dtype().code(), x.address(), rows,
        qweight.address(), qzeros.address(), scales.address(), gIdx.address(), oi[0], oi[1], bits, groups,
        bias == null ? 0L : bias.address(), y.address()));
  }

  /** Checks x [rows, k] and y [rows, k'] of a quantized product; returns W's {out, in}. */
  private static long[] qmatmulShapes(String op, Tensor x, boolean backward, float beta, Tensor y) {
    Check.floating(op, "x", x);
    Check.alive(op, "y", y);
    Check.sameDtype(op, x, "y", y);
    Check.device(op, x.device(), "y", y);
    Check.that(x.rank() == 2 && y.rank() == 2, op,
        () -> "x and y must be 2-D [rows, features], got x " + x + ", y " + y);
    Check.that(y.size(0) == x.size(0), op, () -> "y has " + y.size(0) + " rows, x has " + x.size(0));
    Check.that(!Float.isNaN(beta), op, "beta is NaN");
    long out = backward ? x.size(1) : y.size(1), in = backward ? y.size(1) : x.size(1);
    Check.that(in > 0 && out > 0, op, () -> "empty weight [" + out + ", " + in + "]");
    return new long[] {out, in};
  }

  /** Checks a GPTQ weight's tensors against W [out, in] and bits; returns the number of groups. */
  private static long gptqPacked(String op, Device d, long out, long in, Tensor qweight, Tensor qzeros, Tensor scales,
      Tensor gIdx, int bits) {
    Check.that(bits == 2 || bits == 4 || bits == 8, op, () -> "bits must be 2, 4 or 8, got " + bits);
    long p = 32 / bits;
    Check.that(in % p == 0 && out % p == 0, op, () -> "in (" + in + ") and out (" + out + ") must be multiples of " + p
        + " at " + bits + " bits");
    Check.alive(op, "scales", scales);
    Check.that(scales.rank() == 2, op, () -> "scales must be [groups, out], got rank " + scales.rank());
    long groups = scales.size(0);
    gptqTensor(op, "qweight", qweight, DType.I32, d, in / p, out);
    gptqTensor(op, "qzeros", qzeros, DType.I32, d, groups, out / p);
    gptqTensor(op, "scales", scales, DType.F16, d, groups, out);
    gptqTensor(op, "gIdx", gIdx, DType.I32, d, in);
    return groups;
  }
}
