package jswift.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jswift.bindings.GptqNative;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Kernels;
import jswift.tensor.Tensor;
import jswift.testing.Rand;
import jswift.testing.Torch;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * GPTQ "gptq" v1 checkpoints: hand-computed words of the packer (field order, the zero - 1 offset, 8-bit
 * bytes), the dequantization kernel against libtorch unpacking the same words with its own shifts and gathering
 * scales through a shuffled (act-order) g_idx, and the quantizer: its round-to-nearest codes against an
 * independent Java quantizer, quantize -> pack -> dequantize reproducing the quantizer's values bit for bit, and
 * GPTQ's layer output error on the calibration data (computed by libtorch in fp64) below round-to-nearest's.
 */
class GptqTest {
  private static final Device CPU = Device.CPU;

  // ---- layout goldens, computed on paper ----

  @Test
  void packsTheLowestFieldFirstAlongTheInputDim() {
    // out = 2, in = 8 (one word per output at 4 bits): output 0 has codes 0..7, output 1 codes 15, 14, ..., 8.
    int[] codes = {0, 1, 2, 3, 4, 5, 6, 7, 15, 14, 13, 12, 11, 10, 9, 8};
    int[] qweight = GptqLayout.packWeight(codes, 8, 2, 4);
    assertArrayEquals(new int[] {0x76543210, 0x89ABCDEF}, qweight);
    assertArrayEquals(codes, GptqLayout.unpackWeight(qweight, 8, 2, 4));
    // 8 bits: four per word, input 4r + j in byte j; in = 8 gives two words per output.
    int[] codes8 = {1, 2, 3, 4, 200, 201, 202, 203};
    assertArrayEquals(new int[] {0x04030201, 0xCBCAC9C8}, GptqLayout.packWeight(codes8, 8, 1, 8));
  }

  @Test
  void storesZeroMinusOneAlongTheOutputDim() {
    // Symmetric 4-bit zeros are 8 and are stored as 7: the familiar 0x77777777 words.
    int[] sym = new int[16];
    java.util.Arrays.fill(sym, 8);
    assertArrayEquals(new int[] {0x77777777, 0x77777777}, GptqLayout.packZeros(sym, 1, 16, 4));
    // Two groups, out = 8: group 0 zeros 1..8 -> fields 0..7 (output c in bits 4c), group 1 all 15 -> 14 = 0xE.
    int[] zeros = {1, 2, 3, 4, 5, 6, 7, 8, 15, 15, 15, 15, 15, 15, 15, 15};
    int[] qzeros = GptqLayout.packZeros(zeros, 2, 8, 4);
    assertArrayEquals(new int[] {0x76543210, 0xEEEEEEEE}, qzeros);
    assertArrayEquals(zeros, GptqLayout.unpackZeros(qzeros, 2, 8, 4));
    // 8-bit symmetric zero 128 -> 0x7F per byte.
    int[] z8 = {128, 128, 128, 128};
    assertArrayEquals(new int[] {0x7F7F7F7F}, GptqLayout.packZeros(z8, 1, 4, 8));
    // A zero of 0 has no v1 encoding.
    var e = assertThrows(IllegalArgumentException.class, () -> GptqLayout.packZeros(new int[8], 1, 8, 4));
    assertTrue(e.getMessage().contains("zero point 0 of group 0, output 0 is outside [1, 15]"), e.getMessage());
  }

  @Test
  void dequantizesAnActOrderLayerOnPaper() {
    // in = 16, out = 8, 4 bits, groups 2, g_idx alternating 1, 0, ...: output 0 has codes 0..15, zero 8 and scale
    // 0.5 in group 0, zero 3 and scale 0.25 in group 1. Even inputs are group 1: W[0, k] = 0.25 (k - 3); odd
    // inputs group 0: 0.5 (k - 8). Other outputs: code 0, zero 1, scale 1: -1.
    int[] codes = new int[8 * 16], zeros = new int[2 * 8], gIdx = new int[16];
    float[] scales = new float[2 * 8];
    java.util.Arrays.fill(zeros, 1);
    java.util.Arrays.fill(scales, 1f);
    for (int k = 0; k < 16; k++) {
      codes[k] = k;
      gIdx[k] = (k + 1) % 2;
    }
    zeros[0] = 8;
    scales[0] = 0.5f;
    zeros[8] = 3;
    scales[8] = 0.25f;
    int[] qzeros = GptqLayout.packZeros(zeros, 2, 8, 4);
    assertArrayEquals(new int[] {0x00000007, 0x00000002}, qzeros);
    float[] w = dequantizePacked(GptqLayout.packWeight(codes, 16, 8, 4), qzeros, scales, gIdx, 16, 8, 2, 4, DType.F32);
    for (int k = 0; k < 16; k++) assertEquals(k % 2 == 0 ? 0.25f * (k - 3) : 0.5f * (k - 8), w[k], "W[0, " + k + "]");
    for (int i = 16; i < w.length; i++) assertEquals(-1f, w[i]);
    // A field of all ones (a foreign packer's wrapped zero - 1 of a zero 0) reads as zero 0, as AutoGPTQ's
    // (stored + 1) & 15 does: output 1's group-0 field becomes 0xF, so W[1, odd k] = 1 * (0 - 0) = 0.
    qzeros[0] |= 0xF0;
    w = dequantizePacked(GptqLayout.packWeight(codes, 16, 8, 4), qzeros, scales, gIdx, 16, 8, 2, 4, DType.F32);
    for (int k = 1; k < 16; k += 2) assertEquals(0f, w[16 + k], "W[1, " + k + "]");
    assertEquals(0, GptqLayout.unpackZeros(qzeros, 2, 8, 4)[1]);
  }

  // ---- the kernel against libtorch ----

  @ParameterizedTest
  @CsvSource({"4, 64, 24, 1, false", "4, 136, 40, 5, true", "8, 96, 20, 3, true", "2, 64, 16, 2, true",
      "8, 8, 4, 1, false"})
  void dequantizationMatchesLibtorch(int bits, int in, int out, int groups, boolean shuffled) {
    int maxq = (1 << bits) - 1;
    int[] codes = Rand.ints((long) in * out, in + bits, 0, maxq + 1);
    int[] zeros = Rand.ints((long) groups * out, out + bits, 1, maxq + 1);
    float[] scales = f16Values(Rand.uniform((long) groups * out, 7, 0.001f, 0.05f));
    int[] gIdx = new int[in];
    for (int k = 0; k < in; k++) gIdx[k] = (int) ((long) k * groups / in);
    if (shuffled) shuffle(gIdx, 11);
    int[] qweight = GptqLayout.packWeight(codes, in, out, bits);
    int[] qzeros = GptqLayout.packZeros(zeros, groups, out, bits);

    // libtorch: unpack the words with its own shifts and masks, gather per input, W = (q - ((z + 1) & mask)) * s.
    long p = 32 / bits;
    var mask = Torch.longs(new long[] {maxq}, 1);
    var shifts = Torch.longs(java.util.stream.LongStream.range(0, p).map(j -> j * bits).toArray(), 1, p, 1);
    var q = Torch.longs(unsigned(qweight), in / p, 1, out).bitwise_right_shift(shifts)
        .bitwise_and(mask).reshape(in, out);
    var zShifts = Torch.longs(java.util.stream.LongStream.range(0, p).map(j -> j * bits).toArray(), 1, 1, p);
    var z = Torch.longs(unsigned(qzeros), groups, out / p, 1).bitwise_right_shift(zShifts)
        .bitwise_and(mask).add(Torch.longs(new long[] {1}, 1)).bitwise_and(mask).reshape(groups, out);
    var g = Torch.longs(java.util.Arrays.stream(gIdx).asLongStream().toArray(), in);
    var s = Torch.tensor(scales, groups, out);
    var ref = q.sub(z.index_select(0, g)).to(torch.ScalarType.Double).mul(s.index_select(0, g)).t();
    float[] want = Torch.floats(ref);

    // The products of an f16 scale and a small integer are exact in fp64, so one fp32 rounding on each side:
    // bit-identical. bf16 / f16 outputs are that value rounded once more.
    float[] got = dequantizePacked(qweight, qzeros, scales, gIdx, in, out, groups, bits, DType.F32);
    assertArrayEquals(want, got);
    for (DType dt : new DType[] {DType.BF16, DType.F16}) {
      float[] half = dequantizePacked(qweight, qzeros, scales, gIdx, in, out, groups, bits, dt);
      try (Tensor r = Tensor.fromFloats(want, dt, CPU, want.length)) {
        assertArrayEquals(r.toFloatArray(), half, dt + " rounds the fp32 value once");
      }
    }
  }

  // ---- the quantizer ----

  @Test
  void roundToNearestMatchesAnIndependentQuantizer() {
    int out = 6, in = 40;
    float[] w = Rand.normal((long) out * in, 3, 0.1f);
    for (int i = 0; i < in; i++) w[in + i] = Math.abs(w[in + i]);  // row 1 is non-negative: asym zero 0 -> 1
    for (int bits : new int[] {4, 8})
      for (int gs : new int[] {16, -1})
        for (boolean sym : new boolean[] {true, false}) {
          Quantized q = quantize(w, null, out, in, bits, gs, sym, false);
          int gsz = gs == -1 ? in : gs, maxq = (1 << bits) - 1;
          for (int r = 0; r < out; r++)
            for (int g0 = 0; g0 < in; g0 += gsz) {
              float xmin = 0f, xmax = 0f;
              for (int k = g0; k < Math.min(in, g0 + gsz); k++) {
                xmin = Math.min(xmin, w[r * in + k]);
                xmax = Math.max(xmax, w[r * in + k]);
              }
              if (sym) {
                xmax = Math.max(Math.abs(xmin), xmax);
                if (xmin < 0) xmin = -xmax;
              }
              float scale = f16Values(new float[] {(xmax - xmin) / maxq})[0];
              int zero = sym ? (maxq + 1) / 2 : Math.max(1, (int) Math.rint(-xmin / scale));
              int gi = g0 / gsz;
              String at = "bits " + bits + " gs " + gs + " sym " + sym + " row " + r + " group " + gi;
              assertEquals(scale, q.scales[gi * out + r], at);
              assertEquals(zero, q.zeros[gi * out + r], at);
              for (int k = g0; k < Math.min(in, g0 + gsz); k++) {
                int code = (int) Math.max(0, Math.min(maxq, Math.rint(w[r * in + k] / scale) + zero));
                assertEquals(code, q.codes[r * in + k], at + " input " + k);
                assertEquals(scale * (code - zero), q.w[r * in + k], at + " value " + k);
              }
            }
        }
  }

  @ParameterizedTest
  @CsvSource({"4, 128, false, true", "4, 32, true, false", "4, 64, true, true", "4, -1, false, false",
      "8, 128, true, true", "8, 32, false, false"})
  void gptqRoundTripsAndBeatsRoundToNearest(int bits, int groupSize, boolean descAct, boolean sym) {
    int out = 24, in = 160, n = 384;  // in is not a multiple of the 128-column batch
    float[] x = correlated(n, in, 21), w = Rand.normal((long) out * in, 22, 0.05f);
    float[] h = hessian(x, n, in);
    Quantized g = quantize(w, h, out, in, bits, groupSize, sym, descAct);
    Quantized r = quantize(w, null, out, in, bits, groupSize, sym, false);
    int groups = groupSize == -1 ? 1 : (in + groupSize - 1) / groupSize;
    for (Quantized q : new Quantized[] {g, r}) {
      float[] back = dequantizePacked(GptqLayout.packWeight(q.codes, in, out, bits),
          GptqLayout.packZeros(q.zeros, groups, out, bits), q.scales, q.gIdx, in, out, groups, bits, DType.F32);
      assertArrayEquals(q.w, back, "quantize -> pack -> dequantize reproduces the quantized values");
    }
    boolean monotone = true;
    for (int k = 1; k < in; k++) monotone &= g.gIdx[k] >= g.gIdx[k - 1];
    assertEquals(!descAct || groupSize == -1, monotone, "g_idx is non-monotone exactly with act-order groups");
    double eg = outputError(x, w, g.w, n, in, out), er = outputError(x, w, r.w, n, in, out);
    // GPTQ minimises exactly this error (given the Hessian); on correlated inputs it is ~20-30% below RTN's.
    assertTrue(eg < 0.9 * er, "GPTQ output error " + eg + " is not below 0.9 x RTN's " + er);
  }

  // ---- bad input ----

  @Test
  void badArgumentsGiveClearErrors() {
    try (Tensor qw = Tensor.zeros(DType.I32, CPU, 2, 8); Tensor qz = Tensor.zeros(DType.I32, CPU, 1, 1);
        Tensor sc = Tensor.zeros(DType.F16, CPU, 1, 8); Tensor gi = Tensor.zeros(DType.I32, CPU, 16);
        Tensor w = Tensor.zeros(DType.F32, CPU, 8, 16); Tensor wrong = Tensor.zeros(DType.F32, CPU, 1, 8)) {
      var e = assertThrows(IllegalArgumentException.class, () -> Kernels.gptqDequantize(qw, qz, wrong, gi, 4, w));
      assertTrue(e.getMessage().contains("scales must be float16"), e.getMessage());
      e = assertThrows(IllegalArgumentException.class, () -> Kernels.gptqDequantize(qw, qz, sc, gi, 3, w));
      assertTrue(e.getMessage().contains("bits must be 2, 4 or 8, got 3"), e.getMessage());
      e = assertThrows(IllegalArgumentException.class, () -> Kernels.gptqDequantize(qz, qw, sc, gi, 4, w));
      assertTrue(e.getMessage().contains("qweight must have shape [2, 8]"), e.getMessage());
      Tensor freed = Tensor.zeros(DType.I32, CPU, 16);
      freed.close();
      e = assertThrows(IllegalArgumentException.class, () -> Kernels.gptqDequantize(qw, qz, sc, freed, 4, w));
      assertTrue(e.getMessage().contains("gIdx was already freed"), e.getMessage());
      gi.copyFrom(new int[] {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9});
      RuntimeException n = assertThrows(RuntimeException.class, () -> Kernels.gptqDequantize(qw, qz, sc, gi, 4, w));
      assertTrue(n.getMessage().contains("g_idx[15] = 9 is outside [0, 1)"), n.getMessage());
      // Straight at the C ABI: a null qweight is refused with a status, not a crash.
      int status = GptqNative.jsw_gptq_dequantize(CPU.index(), DType.F32.code(), 0L, qz.address(), sc.address(),
          gi.address(), 16, 8, 4, 1, w.address());
      assertEquals(1, status, "JSW_ERR_INVALID_ARGUMENT");
    }
  }

  // ---- helpers ----

  private record Quantized(float[] w, int[] codes, float[] scales, int[] zeros, int[] gIdx) {}

  private static Quantized quantize(float[] w, float[] h, int out, int in, int bits, int groupSize, boolean sym,
      boolean descAct) {
    int groups = groupSize == -1 ? 1 : (in + groupSize - 1) / groupSize;
    try (Tensor tw = Tensor.fromFloats(w, DType.F32, CPU, out, in);
        Tensor th = h == null ? null : Tensor.fromFloats(h, DType.F32, CPU, in, in);
        Tensor codes = Tensor.allocate(DType.I32, CPU, out, in); Tensor s = Tensor.allocate(DType.F32, CPU, groups, out);
        Tensor z = Tensor.allocate(DType.I32, CPU, groups, out); Tensor g = Tensor.allocate(DType.I32, CPU, in)) {
      Kernels.gptqQuantize(tw, th, bits, groupSize, sym, descAct, 0.01f, codes, s, z, g);
      return new Quantized(tw.toFloatArray(), codes.toIntArray(), s.toFloatArray(), z.toIntArray(), g.toIntArray());
    }
  }

  private static float[] hessian(float[] x, int n, int in) {
    try (Tensor tx = Tensor.fromFloats(x, DType.F32, CPU, n, in); Tensor h = Tensor.zeros(DType.F32, CPU, in, in)) {
      Kernels.gptqHessianAdd(tx.narrow(0, n / 2), h, 0);
      Kernels.gptqHessianAdd(tx.narrow(n / 2, n - n / 2), h, n / 2);
      return h.toFloatArray();
    }
  }

  /** ||X W^T - X Q^T||^2 in fp64 by libtorch. */
  private static double outputError(float[] x, float[] w, float[] q, int n, int in, int out) {
    var d = Torch.tensor(x, n, in).matmul(Torch.tensor(w, out, in).sub(Torch.tensor(q, out, in)).t());
    return d.mul(d).sum().item_double();
  }

  /** Activations with unequal channel scales and neighbouring channels correlated, as real hidden states are. */
  private static float[] correlated(int n, int in, long seed) {
    float[] z = Rand.normal((long) n * in, seed, 1f), x = new float[n * in];
    for (int t = 0; t < n; t++)
      for (int i = 0; i < in; i++)
        x[t * in + i] = z[t * in + i] * (0.2f + i % 7) + 0.5f * z[t * in + (i + 1) % in];
    return x;
  }

  private static float[] dequantize(int[] codes, int[] zeros, float[] scales, int[] gIdx, int in, int out, int groups,
      int bits, DType dtype) {
    return dequantizePacked(GptqLayout.packWeight(codes, in, out, bits), GptqLayout.packZeros(zeros, groups, out, bits),
        scales, gIdx, in, out, groups, bits, dtype);
  }

  private static float[] dequantizePacked(int[] qweight, int[] qzeros, float[] scales, int[] gIdx, int in, int out,
      int groups, int bits, DType dtype) {
    int p = 32 / bits;
    try (Tensor qw = Tensor.fromInts(qweight, CPU, in / p, out); Tensor qz = Tensor.fromInts(qzeros, CPU, groups, out / p);
        Tensor s = Tensor.fromFloats(scales, DType.F16, CPU, groups, out); Tensor g = Tensor.fromInts(gIdx, CPU, in);
        Tensor w = Tensor.fromFloats(filled(out * in, Float.NaN), dtype, CPU, out, in)) {
      Kernels.gptqDequantize(qw, qz, s, g, bits, w);
      return w.toFloatArray();
    }
  }

  private static float[] filled(int n, float v) {
    float[] a = new float[n];
    java.util.Arrays.fill(a, v);
    return a;
  }

  private static float[] f16Values(float[] v) {
    try (Tensor t = Tensor.fromFloats(v, DType.F16, CPU, v.length)) {
      return t.toFloatArray();
    }
  }

  private static long[] unsigned(int[] words) {
    long[] r = new long[words.length];
    for (int i = 0; i < words.length; i++) r[i] = words[i] & 0xFFFFFFFFL;
    return r;
  }

  private static void shuffle(int[] a, long seed) {
    java.util.Random rnd = new java.util.Random(seed);
    for (int i = a.length - 1; i > 0; i--) {
      int j = rnd.nextInt(i + 1), t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
  }
}
