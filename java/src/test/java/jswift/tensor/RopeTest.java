package jswift.tensor;

import static jswift.tensor.EmbeddingTest.expectMessage;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jswift.bindings.CoreNative;
import jswift.bindings.RopeNative;
import jswift.testing.Assert;
import jswift.testing.Rand;
import jswift.testing.Torch;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.ScalarTypeOptional;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * RoPE: the inverse frequencies against transformers' formulas written with torch ops in float32, and the
 * rotation forward and backward against torch autograd in fp64 (rotate-half, cos/sin of the fp32 angle
 * position * inv_freq, as transformers forms it).
 */
class RopeTest {
  // ---- frequencies ----

  @Test
  void defaultFrequenciesHandChecked() {
    // theta^(-0/4) = 1, theta^(-2/4) = 1/100
    assertArrayEquals(new float[] {1.0f, 0.01f}, Kernels.ropeInvFreq(4, 10000f));
    float[] f = Kernels.ropeInvFreq(128, 10000f);
    assertEquals(64, f.length);
    // 10000^(-1/64) = exp(-ln(10000) / 64) = 0.8659643233600653; the fp32 chain is within 1 ulp (6e-8)
    assertEquals(0.8659643233600653, f[1], 6e-8);
    // 10000^(-126/128) = 1.1547819846894583e-4
    assertEquals(1.1547819846894583e-4, f[63], 1.1547819846894583e-4 * 2.4e-7);
  }

  @ParameterizedTest
  @CsvSource({
    "128, 10000, 0, 1, 1, 4, 8192",
    "80, 1000000, 0, 1, 1, 4, 8192",
    "128, 10000, 1, 4, 1, 4, 8192",
    "64, 500000, 1, 2.5, 1, 4, 8192",
    "128, 500000, 2, 8, 1, 4, 8192",
    "128, 500000, 2, 32, 1, 4, 8192",
    "64, 500000, 2, 32, 1, 4, 8192",
    "96, 10000, 2, 16, 2, 8, 4096"
  })
  void frequenciesMatchTransformersInFloat32(int headDim, float theta, int type, float factor, float low, float high,
      long context) {
    float[] got = Kernels.ropeInvFreq(headDim, theta, type, factor, low, high, context);
    float[] want = transformersInvFreq(headDim, theta, type, factor, low, high, context);
    // Every step is the same fp32 operation in the same order, except theta ** e: torch's vectorised powf is
    // within 1 ulp, the kernel's pow is correctly rounded. One ulp there shows as <= 2 ulp (2.4e-7) after the
    // reciprocal and the llama3 blend.
    Assert.close("inv_freq", got, want, 0, 2.4e-7);
    if (type == Kernels.ROPE_LLAMA3) {
      float[] base = Kernels.ropeInvFreq(headDim, theta);
      int kept = 0, divided = 0;
      for (int i = 0; i < got.length; i++) {
        if (got[i] == base[i]) kept++;
        if (got[i] == base[i] / factor) divided++;
      }
      assertTrue(kept > 0 && divided > 0, "llama3 keeps high and divides low frequencies: " + kept + ", " + divided);
    }
  }

  /** transformers' _compute_default / linear / _compute_llama3_parameters with the same torch ops (float32). */
  static float[] transformersInvFreq(int dim, float theta, int type, float factor, float low, float high,
      long context) {
    var e = torch.arange(new Scalar(0), new Scalar(dim), new Scalar(2)).to(torch.ScalarType.Float)
        .div(new Scalar((double) dim));
    // 1.0 / (base ** e) is base ** e .reciprocal() * 1.0 in torch
    var inv = torch.pow(new Scalar((double) theta), e).reciprocal();
    if (type == Kernels.ROPE_LINEAR) inv = inv.div(new Scalar((double) factor));
    if (type == Kernels.ROPE_LLAMA3) {
      double lowWavelen = context / (double) low, highWavelen = context / (double) high;
      var wavelen = inv.reciprocal().mul(new Scalar(2 * Math.PI)); // 2 * math.pi / inv_freq
      var llama = torch.where(wavelen.gt(new Scalar(lowWavelen)), inv.div(new Scalar((double) factor)), inv);
      var smooth = wavelen.reciprocal().mul(new Scalar((double) context)).sub(new Scalar((double) low))
          .div(new Scalar((double) high - (double) low));
      var smoothed = torch.rsub(smooth, new Scalar(1.0)).mul(llama).div(new Scalar((double) factor))
          .add(smooth.mul(llama));
      var medium = wavelen.lt(new Scalar(highWavelen)).logical_not()
          .logical_and(wavelen.gt(new Scalar(lowWavelen)).logical_not());
      inv = torch.where(medium, smoothed, llama);
    }
    return Torch.floats(inv);
  }

  @Test
  void frequencyArgumentsAreChecked() {
    expectMessage(() -> Kernels.ropeInvFreq(7, 10000f), "headDim must be positive and even");
    expectMessage(() -> Kernels.ropeInvFreq(64, 500000f, Kernels.ROPE_LLAMA3, 8, 4, 4, 8192),
        "high_freq_factor (4) must be greater than low_freq_factor (4)");
    expectMessage(() -> Kernels.ropeInvFreq(64, -1f), "theta must be > 0");
    // straight at the C ABI
    float[] out = new float[4];
    assertEquals(NativeStatus.INVALID_ARGUMENT, RopeNative.jsw_rope_inv_freq(8, 10000f, 7, 1, 1, 4, 8192, out));
    assertTrue(CoreNative.jsw_last_error().contains("scaling_type"), CoreNative.jsw_last_error());
  }

  // ---- rotation ----

  @ParameterizedTest
  @CsvSource({"1, 1, 2, 1.0", "7, 3, 80, 1.0", "5, 2, 128, 1.3", "33, 8, 128, 1.0", "4, 5, 64, 0.8", "9, 1, 6, 1.0"})
  void matchesTorchForwardAndBackward(int tokens, int heads, int headDim, float scaling) {
    int[] positions = positions(tokens, 11);
    float[] invFreq = Kernels.ropeInvFreq(headDim, 500000f, Kernels.ROPE_LLAMA3, 8, 1, 4, 8192);
    long n = (long) tokens * heads * headDim;
    float[] x = Rand.normal(n, 1);
    float[] dy = Rand.normal(n, 2);

    var tx = Torch.param(x, tokens, heads, headDim);
    var ty = torchRope(tx, positions, invFreq, scaling);
    Torch.dot(ty, Torch.tensor(dy, tokens, heads, headDim)).backward();

    try (Arena a = new Arena()) {
      Tensor jx = a.allocate(DType.F32, Device.CPU, tokens, heads, headDim);
      jx.copyFrom(x);
      Tensor jdy = a.allocate(DType.F32, Device.CPU, tokens, heads, headDim);
      jdy.copyFrom(dy);
      Tensor pos = a.allocate(DType.I32, Device.CPU, tokens);
      pos.copyFrom(positions);
      Tensor freq = a.allocate(DType.F32, Device.CPU, headDim / 2);
      freq.copyFrom(invFreq);
      Tensor y = a.allocate(DType.F32, Device.CPU, tokens, heads, headDim);
      Tensor dx = a.allocate(DType.F32, Device.CPU, tokens, heads, headDim);
      Kernels.ropeForward(jx, pos, freq, scaling, y);
      Kernels.ropeBackward(jdy, pos, freq, scaling, dx);
      // Same fp32 angle; cos/sin within an ulp and two fp32 products and a sum: ~1e-7 relative for |x| ~ 1.
      // 1e-5 leaves room for the tails of the normal inputs.
      Assert.close("y", y.toFloatArray(), Torch.floats(ty), 1e-5, 1e-5);
      Assert.close("dx", dx.toFloatArray(), Torch.floats(tx.grad()), 1e-5, 1e-5);

      // In place (y = x, dx = dy) gives the same values.
      Kernels.ropeForward(jx, pos, freq, scaling, jx);
      Kernels.ropeBackward(jdy, pos, freq, scaling, jdy);
      Assert.close("y in place", jx.toFloatArray(), y.toFloatArray(), 0, 0);
      Assert.close("dx in place", jdy.toFloatArray(), dx.toFloatArray(), 0, 0);
    }
  }

  @Test
  void bf16StorageMatchesTorch() {
    int tokens = 6, heads = 4, headDim = 128;
    int[] positions = positions(tokens, 12);
    float[] invFreq = Kernels.ropeInvFreq(headDim, 10000f);
    try (Tensor x = Tensor.fromFloats(Rand.normal((long) tokens * heads * headDim, 3), DType.BF16, Device.CPU, tokens,
            heads, headDim);
        Tensor pos = Tensor.fromInts(positions, Device.CPU, tokens);
        Tensor freq = Tensor.fromFloats(invFreq, DType.F32, Device.CPU, headDim / 2);
        Tensor y = Tensor.allocate(DType.BF16, Device.CPU, tokens, heads, headDim)) {
      Kernels.ropeForward(x, pos, freq, 1.0f, y);
      var ty = torchRope(Torch.tensor(x.toFloatArray(), tokens, heads, headDim), positions, invFreq, 1.0f);
      // fp32 math, one bf16 rounding of the output: relative 2^-9 (4e-3 leaves a factor 2), atol for values
      // near zero
      Assert.close("y bf16", y.toFloatArray(), Torch.floats(ty), 4e-3, 4e-3);
    }
  }

  /** x * cos + rotate_half(x) * sin in fp64, with the angle formed in fp32 as transformers does. */
  static org.bytedeco.pytorch.Tensor torchRope(org.bytedeco.pytorch.Tensor x, int[] positions, float[] invFreq,
      float scaling) {
    int tokens = positions.length, half = invFreq.length;
    float[] pos = new float[tokens];
    for (int i = 0; i < tokens; i++) pos[i] = positions[i];
    var angle = org.bytedeco.pytorch.Tensor.create(pos, tokens, 1).clone()
        .mul(org.bytedeco.pytorch.Tensor.create(invFreq, 1, half).clone()) // fp32 [tokens, half]
        .to(torch.ScalarType.Double);
    var emb = torch.cat(new TensorVector(angle, angle), -1).unsqueeze(1); // [tokens, 1, head_dim]
    var cos = emb.cos().mul(new Scalar((double) scaling));
    var sin = emb.sin().mul(new Scalar((double) scaling));
    var x1 = x.narrow(-1, 0, half);
    var x2 = x.narrow(-1, half, half);
    var rotated = torch.cat(new TensorVector(x2.neg(), x1), -1);
    return x.mul(cos).add(rotated.mul(sin));
  }

  /** Packed-sequence style positions: restarts, repeats, and long-context ids up to 131071. */
  static int[] positions(int tokens, long seed) {
    int[] p = Rand.ints(tokens, seed, 0, 131072);
    if (tokens > 3) p[2] = p[3] = 0;
    if (tokens > 5) p[5] = 131071;
    return p;
  }

  @Test
  void rejectsBadArgumentsBeforeNativeCode() {
    try (Arena a = new Arena()) {
      Tensor x = a.zeros(DType.F32, Device.CPU, 3, 2, 8);
      Tensor pos = a.zeros(DType.I32, Device.CPU, 3);
      Tensor freq = a.zeros(DType.F32, Device.CPU, 4);
      Tensor y = a.zeros(DType.F32, Device.CPU, 3, 2, 8);
      expectMessage(() -> Kernels.ropeForward(a.zeros(DType.F32, Device.CPU, 6, 8), pos, freq, 1f, y),
          "x must be [tokens, heads, headDim]");
      expectMessage(() -> Kernels.ropeForward(a.zeros(DType.F32, Device.CPU, 3, 2, 7), pos, freq, 1f, y),
          "headDim must be even");
      expectMessage(() -> Kernels.ropeForward(x, a.zeros(DType.I32, Device.CPU, 4), freq, 1f, y),
          "positions must have shape [3]");
      expectMessage(() -> Kernels.ropeForward(x, a.zeros(DType.I64, Device.CPU, 3), freq, 1f, y),
          "positions must be int32");
      expectMessage(() -> Kernels.ropeForward(x, pos, a.zeros(DType.F32, Device.CPU, 8), 1f, y),
          "invFreq must have shape [4]");
      expectMessage(() -> Kernels.ropeBackward(x, pos, freq, 1f, a.zeros(DType.F16, Device.CPU, 3, 2, 8)),
          "dx must have dtype float32");
      expectMessage(() -> Kernels.ropeForward(x, pos, ElsewhereTensors.onCuda(DType.F32, 4), 1f, y),
          "invFreq is on cuda:0 but the op runs on cpu");
      Tensor freed = Tensor.zeros(DType.F32, Device.CPU, 3, 2, 8);
      freed.close();
      expectMessage(() -> Kernels.ropeForward(x, pos, freq, 1f, freed), "y was already freed");
      // straight at the C ABI: a null positions pointer
      assertEquals(NativeStatus.INVALID_ARGUMENT, RopeNative.jsw_rope_fwd(-1, DType.F32.code(), x.address(), 0,
          freq.address(), 3, 2, 8, 1f, y.address()));
      assertTrue(CoreNative.jsw_last_error().contains("jsw_rope_fwd: positions is a null pointer"),
          CoreNative.jsw_last_error());
    }
  }
}
