package jswift.tensor;

import static jswift.tensor.EmbeddingTest.expectMessage;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import jswift.bindings.CoreNative;
import jswift.bindings.LoraNative;
import jswift.testing.Assert;
import jswift.testing.Rand;
import jswift.testing.Torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The fused LoRA linear, y = x W^T + b + s (drop(x) A^T) B^T, forward and backward (dx, dA, dB) against torch
 * autograd in fp64. Tolerances: the kernel runs fp32 GEMMs; with at most ~200 products of magnitude ~1 per
 * output the accumulated rounding stays below 2e-5 absolute, so atol 1e-4 / rtol 1e-4 leaves a margin of 5
 * while any indexing or transposition error would be O(1). Gradients of the adapter accumulate into
 * non-zero dA / dB, and their increments are compared.
 */
class LoraTest {
  /** The inputs of one case, drawn so that y is O(1). */
  private static final class Case {
    final int tokens, in, out, rank;
    final float[] x, w, b, a, bm, dy, da0, db0;

    Case(int tokens, int in, int out, int rank, long seed) {
      this.tokens = tokens;
      this.in = in;
      this.out = out;
      this.rank = rank;
      x = Rand.normal((long) tokens * in, seed);
      w = Rand.normal((long) out * in, seed + 1, (float) (1 / Math.sqrt(in)));
      b = Rand.normal(out, seed + 2);
      a = Rand.normal((long) rank * in, seed + 3, (float) (1 / Math.sqrt(in)));
      bm = Rand.normal((long) out * rank, seed + 4, (float) (1 / Math.sqrt(rank)));
      dy = Rand.normal((long) tokens * out, seed + 5);
      da0 = Rand.uniform((long) rank * in, seed + 6, -1, 1);
      db0 = Rand.uniform((long) out * rank, seed + 7, -1, 1);
    }
  }

  /** What the kernel produced: y, xa, dx and the increments of dA and dB. */
  private static final class Result {
    float[] y, xa, dx, da, db;
  }

  private static Result run(Case c, boolean bias, float scale, float p, long seed) {
    try (Arena ar = new Arena()) {
      Tensor x = floats(ar, c.x, c.tokens, c.in);
      Tensor w = floats(ar, c.w, c.out, c.in);
      Tensor b = bias ? floats(ar, c.b, c.out) : null;
      Tensor a = floats(ar, c.a, c.rank, c.in);
      Tensor bm = floats(ar, c.bm, c.out, c.rank);
      Tensor dy = floats(ar, c.dy, c.tokens, c.out);
      Tensor y = ar.allocate(DType.F32, Device.CPU, c.tokens, c.out);
      Tensor xa = ar.allocate(DType.F32, Device.CPU, c.tokens, c.rank);
      Tensor dx = ar.allocate(DType.F32, Device.CPU, c.tokens, c.in);
      Tensor da = floats(ar, c.da0, c.rank, c.in);
      Tensor db = floats(ar, c.db0, c.out, c.rank);
      Kernels.loraForward(x, w, b, a, bm, scale, p, seed, y, xa);
      Kernels.loraBackward(dy, x, w, a, bm, xa, scale, p, seed, dx, da, db);
      Result r = new Result();
      r.y = y.toFloatArray();
      r.xa = xa.toFloatArray();
      r.dx = dx.toFloatArray();
      r.da = minus(da.toFloatArray(), c.da0);
      r.db = minus(db.toFloatArray(), c.db0);
      return r;
    }
  }

  /** torch autograd of the same function; mask = the dropout multipliers (0 or 1/(1-p)), null for none. */
  private static Result torchReference(Case c, boolean bias, float scale, float[] mask) {
    var x = Torch.param(c.x, c.tokens, c.in);
    var w = Torch.tensor(c.w, c.out, c.in);
    var a = Torch.param(c.a, c.rank, c.in);
    var bm = Torch.param(c.bm, c.out, c.rank);
    var dropped = mask == null ? x : x.mul(Torch.tensor(mask, c.tokens, c.in));
    var xa = dropped.matmul(a.t());
    var y = x.matmul(w.t()).add(xa.matmul(bm.t()).mul(Torch.scalar(scale)));
    if (bias) y = y.add(Torch.tensor(c.b, c.out));
    Torch.dot(y, Torch.tensor(c.dy, c.tokens, c.out)).backward();
    Result r = new Result();
    r.y = Torch.floats(y);
    r.xa = Torch.floats(xa);
    r.dx = Torch.floats(x.grad());
    r.da = Torch.floats(a.grad());
    r.db = Torch.floats(bm.grad());
    return r;
  }

  private static void expectClose(String tag, Result got, Result want) {
    Assert.close(tag + " y", got.y, want.y, 1e-4, 1e-4);
    Assert.close(tag + " xa", got.xa, want.xa, 1e-4, 1e-4);
    Assert.close(tag + " dx", got.dx, want.dx, 1e-4, 1e-4);
    Assert.close(tag + " dA", got.da, want.da, 1e-4, 1e-4);
    Assert.close(tag + " dB", got.db, want.db, 1e-4, 1e-4);
  }

  @ParameterizedTest
  @CsvSource({"1, 16, 8, 1", "7, 33, 21, 4", "64, 96, 80, 16", "5, 13, 7, 3", "40, 100, 60, 16", "2, 1, 1, 1"})
  void matchesTorchForwardAndBackward(int tokens, int in, int out, int rank) {
    Case c = new Case(tokens, in, out, rank, 1);
    for (boolean bias : new boolean[] {false, true})
      expectClose("bias " + bias, run(c, bias, 2.0f, 0.0f, 0), torchReference(c, bias, 2.0f, null));
  }

  @Test
  void dropoutMatchesTorchWithTheKernelsMask() {
    int tokens = 41, in = 37, out = 23, rank = 4;
    float p = 0.3f;
    long seed = 20240607L;
    float[] mask = recoverMask(tokens, in, p, seed);
    float keep = 1.0f / (1.0f - p);
    int dropped = 0;
    for (float m : mask) {
      assertTrue(m == 0.0f || m == keep, "multiplier " + m + " is neither 0 nor 1/(1-p)");
      if (m == 0.0f) dropped++;
    }
    // 1517 Bernoulli(0.3) draws: standard deviation 0.0118, so +-0.055 is over 4.5 sigma
    double fraction = dropped / (double) mask.length;
    assertEquals(p, fraction, 0.055, "dropped fraction");
    assertTrue(Arrays.equals(mask, recoverMask(tokens, in, p, seed)), "the same seed gives the same mask");
    assertNotEquals(Arrays.toString(mask), Arrays.toString(recoverMask(tokens, in, p, seed + 1)),
        "another seed gives another mask");

    Case c = new Case(tokens, in, out, rank, 2);
    expectClose("dropout", run(c, true, 0.5f, p, seed), torchReference(c, true, 0.5f, mask));
  }

  /**
   * The kernel's dropout multipliers for a [tokens, in] input, recovered through the op itself: with
   * rank = out = in, A = B = I, W = 0 and x = 1, xa = drop(1) A^T is exactly the multiplier (0 or 1/(1-p)).
   */
  private static float[] recoverMask(int tokens, int in, float p, long seed) {
    float[] eye = new float[in * in];
    for (int i = 0; i < in; i++) eye[i * in + i] = 1.0f;
    float[] ones = new float[tokens * in];
    Arrays.fill(ones, 1.0f);
    try (Arena ar = new Arena()) {
      Tensor x = floats(ar, ones, tokens, in);
      Tensor w = ar.zeros(DType.F32, Device.CPU, in, in);
      Tensor a = floats(ar, eye, in, in);
      Tensor b = floats(ar, eye, in, in);
      Tensor y = ar.allocate(DType.F32, Device.CPU, tokens, in);
      Tensor xa = ar.allocate(DType.F32, Device.CPU, tokens, in);
      Kernels.loraForward(x, w, null, a, b, 1.0f, p, seed, y, xa);
      return xa.toFloatArray();
    }
  }

  @Test
  void frozenGradientsMayBeLeftOut() {
    Case c = new Case(6, 20, 12, 2, 3);
    Result full = run(c, false, 1.5f, 0.1f, 7);
    try (Arena ar = new Arena()) {
      Tensor x = floats(ar, c.x, 2, 3, c.in); // leading dimensions are flattened into tokens
      Tensor w = floats(ar, c.w, c.out, c.in);
      Tensor a = floats(ar, c.a, c.rank, c.in);
      Tensor bm = floats(ar, c.bm, c.out, c.rank);
      Tensor dy = floats(ar, c.dy, 2, 3, c.out);
      Tensor y = ar.allocate(DType.F32, Device.CPU, 2, 3, c.out);
      Kernels.loraForward(x, w, null, a, bm, 1.5f, 0.1f, 7, y, null); // inference: no xa
      Assert.close("y without xa", y.toFloatArray(), full.y, 0, 0);
      Tensor dx = ar.allocate(DType.F32, Device.CPU, 2, 3, c.in);
      Kernels.loraBackward(dy, x, w, a, bm, null, 1.5f, 0.1f, 7, dx, null, null); // frozen adapter
      Assert.close("dx alone", dx.toFloatArray(), full.dx, 0, 0);
      Tensor xa = floats(ar, full.xa, 2, 3, c.rank);
      Tensor db = ar.zeros(DType.F32, Device.CPU, c.out, c.rank);
      Kernels.loraBackward(dy, x, w, a, bm, xa, 1.5f, 0.1f, 7, null, null, db);
      Assert.close("dB alone", db.toFloatArray(), full.db, 1e-6, 1e-5);
    }
  }

  @Test
  void bf16StorageMatchesTorch() {
    Case c = new Case(9, 40, 24, 4, 4);
    try (Arena ar = new Arena()) {
      Tensor x = bf16(ar, c.x, c.tokens, c.in);
      Tensor w = bf16(ar, c.w, c.out, c.in);
      Tensor a = bf16(ar, c.a, c.rank, c.in);
      Tensor bm = bf16(ar, c.bm, c.out, c.rank);
      Tensor b = bf16(ar, c.b, c.out);
      Tensor y = ar.allocate(DType.BF16, Device.CPU, c.tokens, c.out);
      Tensor xa = ar.allocate(DType.BF16, Device.CPU, c.tokens, c.rank);
      Kernels.loraForward(x, w, b, a, bm, 2.0f, 0.0f, 0, y, xa);
      // The reference sees the bf16-rounded inputs; the kernel rounds xa before the B GEMM and y once:
      // ~2 bf16 roundings (2^-9 each) relative to |y| ~ 1, so 2e-2 in norm.
      Case rounded = new Case(c.tokens, c.in, c.out, c.rank, 4);
      System.arraycopy(x.toFloatArray(), 0, rounded.x, 0, rounded.x.length);
      System.arraycopy(w.toFloatArray(), 0, rounded.w, 0, rounded.w.length);
      System.arraycopy(a.toFloatArray(), 0, rounded.a, 0, rounded.a.length);
      System.arraycopy(bm.toFloatArray(), 0, rounded.bm, 0, rounded.bm.length);
      System.arraycopy(b.toFloatArray(), 0, rounded.b, 0, rounded.b.length);
      Result want = torchReference(rounded, true, 2.0f, null);
      Assert.relNorm("y bf16", y.toFloatArray(), want.y, 2e-2);
      Assert.relNorm("xa bf16", xa.toFloatArray(), want.xa, 2e-2);
    }
  }

  @Test
  void rejectsBadArgumentsBeforeNativeCode() {
    try (Arena ar = new Arena()) {
      Tensor x = ar.zeros(DType.F32, Device.CPU, 3, 8);
      Tensor w = ar.zeros(DType.F32, Device.CPU, 5, 8);
      Tensor a = ar.zeros(DType.F32, Device.CPU, 2, 8);
      Tensor b = ar.zeros(DType.F32, Device.CPU, 5, 2);
      Tensor y = ar.zeros(DType.F32, Device.CPU, 3, 5);
      Tensor xa = ar.zeros(DType.F32, Device.CPU, 3, 2);
      expectMessage(() -> Kernels.loraForward(x, w, null, a, ar.zeros(DType.F32, Device.CPU, 5, 3), 1f, 0f, 0, y, xa),
          "loraB must have shape [5, 2]");
      expectMessage(() -> Kernels.loraForward(x, ar.zeros(DType.F32, Device.CPU, 5, 7), null, a, b, 1f, 0f, 0, y, xa),
          "w must have shape [5, 8]");
      expectMessage(() -> Kernels.loraForward(x, w, null, ar.zeros(DType.BF16, Device.CPU, 2, 8), b, 1f, 0f, 0, y, xa),
          "loraA must have dtype float32");
      expectMessage(() -> Kernels.loraForward(x, w, null, a, b, 1f, 1.0f, 0, y, xa), "dropoutP must be in [0, 1)");
      expectMessage(() -> Kernels.loraForward(x, w, null, a, b, 1f, 0f, 0, ElsewhereTensors.onCuda(DType.F32, 3, 5),
          xa), "y is on cuda:0 but the op runs on cpu");
      expectMessage(() -> Kernels.loraBackward(y, x, w, a, b, null, 1f, 0f, 0, null, null,
          ar.zeros(DType.F32, Device.CPU, 5, 2)), "xa (from the forward) is required for dB");
      expectMessage(() -> Kernels.loraBackward(y, x, w, a, b, xa, 1f, 0f, 0, null,
          ar.zeros(DType.BF16, Device.CPU, 2, 8), null), "dA must be float32");
      Tensor freed = Tensor.zeros(DType.F32, Device.CPU, 3, 8);
      freed.close();
      expectMessage(() -> Kernels.loraForward(freed, w, null, a, b, 1f, 0f, 0, y, xa), "x was already freed");
      // straight at the C ABI: rank 0
      assertEquals(NativeStatus.INVALID_ARGUMENT, LoraNative.jsw_lora_fwd(-1, DType.F32.code(), x.address(),
          w.address(), 0, a.address(), b.address(), 3, 8, 5, 0, 1f, 0f, 0, y.address(), xa.address()));
      assertTrue(CoreNative.jsw_last_error().contains("jsw_lora_fwd: rank must be > 0"), CoreNative.jsw_last_error());
    }
  }

  private static Tensor floats(Arena ar, float[] v, long... shape) {
    Tensor t = ar.allocate(DType.F32, Device.CPU, shape);
    t.copyFrom(v);
    return t;
  }

  private static Tensor bf16(Arena ar, float[] v, long... shape) {
    Tensor t = ar.allocate(DType.BF16, Device.CPU, shape);
    t.copyFrom(v);
    return t;
  }

  private static float[] minus(float[] a, float[] b) {
    float[] r = new float[a.length];
    for (int i = 0; i < a.length; i++) r[i] = a[i] - b[i];
    return r;
  }
}
