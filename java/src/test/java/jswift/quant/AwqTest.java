package jswift.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jswift.bindings.AwqNative;
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
 * AutoAWQ "GEMM" checkpoints: hand-computed words of the packer (the [0, 2, 4, 6, 1, 3, 5, 7] interleave along the
 * output dim, raw zero points), hand-computed quantizer codes (half-to-even ties, a non-negative group whose zero
 * clamps to 0), the quantizer against an independent reference, quantize -> pack -> unpack -> dequantize (the
 * kernel) reproducing the reference's codes and values bit for bit for several group sizes and odd shapes, the
 * kernel against libtorch unpacking the same words with its own shifts, and bad arguments.
 */
class AwqTest {
  private static final Device CPU = Device.CPU;

  // ---- layout goldens, computed on paper ----

  @Test
  void packsEightOutputsPerWordInAutoAwqsInterleavedOrder() {
    // out = 16, in = 2. Input 0: output c has code c; input 1: code 15 everywhere. Nibble i of a word holds
    // output ORDER[i] = 0, 2, 4, 6, 1, 3, 5, 7 (+ 8j), so word [0, 0] reads, from nibble 7 down to nibble 0,
    // 7 5 3 1 6 4 2 0 = 0x75316420, and word [0, 1] (outputs 8..15) 0xFDB9ECA8. qweight is [in, out / 8].
    int[] codes = new int[32];
    for (int c = 0; c < 16; c++) {
      codes[c * 2] = c;
      codes[c * 2 + 1] = 15;
    }
    int[] qweight = AwqLayout.packWeight(codes, 2, 16);
    assertArrayEquals(new int[] {0x75316420, 0xFDB9ECA8, -1, -1}, qweight);
    assertArrayEquals(codes, AwqLayout.unpackWeight(qweight, 2, 16));
  }

  @Test
  void storesRawZeroPointsInTheSameOrder() {
    // Two groups, out = 8: group 0 zeros 1..8 (output c: c + 1), so nibbles 0..7 hold 1 3 5 7 2 4 6 8 ->
    // 0x86427531; group 1 zeros 0: stored as 0 (no GPTQ-style zero - 1 offset).
    int[] zeros = {1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 0};
    int[] qzeros = AwqLayout.packZeros(zeros, 2, 8);
    assertArrayEquals(new int[] {0x86427531, 0}, qzeros);
    assertArrayEquals(zeros, AwqLayout.unpackZeros(qzeros, 2, 8));
    var e = assertThrows(IllegalArgumentException.class, () -> AwqLayout.packZeros(new int[] {16, 0, 0, 0, 0, 0, 0, 0}, 1, 8));
    assertTrue(e.getMessage().contains("zero point 16 of group 0, output 0 is outside [0, 15]"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> AwqLayout.packWeight(new int[12], 1, 12));
    assertTrue(e.getMessage().contains("out = 12 is not a multiple of 8"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> AwqLayout.groupSize(128, 96));
    assertTrue(e.getMessage().contains("in = 96 is not a multiple of group_size 128"), e.getMessage());
    assertEquals(96, AwqLayout.groupSize(-1, 96));
  }

  @Test
  void quantizerGoldens() {
    // One output, in = 12, groups of 4 (three groups):
    // [-1, 0, 0.5, 2]: scale = 3 / 15 = 0.2 -> f16 0.199951171875; zero = -round(-1 / s) = round(5.0012) = 5;
    //   codes round(w / s) + 5 = 0, 5, 8 (2.5006 -> 3), 15 (10.0024 -> 10).
    // [0, 2.5, 3.5, 15]: scale 1, zero 0; ties go to even: 2.5 -> 2, 3.5 -> 4.
    // [1, 2, 3, 16]: scale 1; zero = -round(1) = -1 clamps to 0, so 16 clamps to code 15 (AutoAWQ loses the top).
    float[] w = {-1f, 0f, 0.5f, 2f, 0f, 2.5f, 3.5f, 15f, 1f, 2f, 3f, 16f};
    AwqQuantizer.Result r = AwqQuantizer.quantize(w, 1, 12, 4);
    assertArrayEquals(new int[] {0, 5, 8, 15, 0, 2, 4, 15, 1, 2, 3, 15}, r.codes());
    assertArrayEquals(new int[] {5, 0, 0}, r.zeros());
    assertArrayEquals(new float[] {0.199951171875f, 1f, 1f}, r.scales());
    float s = 0.199951171875f;
    assertArrayEquals(new float[] {-5 * s, 0, 3 * s, 10 * s, 0, 2, 4, 15, 1, 2, 3, 15}, r.values());
  }

  // ---- round trip through the packed layout and the kernel ----

  @ParameterizedTest
  @CsvSource({"8, 32, 32", "24, 128, 32", "16, 192, 64", "40, 256, 128", "8, 96, -1", "56, 64, 16"})
  void quantizePackUnpackDequantizeIsTheReference(int out, int in, int groupSize) {
    float[] w = Rand.normal((long) out * in, out + in, 0.05f);
    for (int k = 0; k < in; k++) w[k] = Math.abs(w[k]) + 0.01f;  // row 0 non-negative: zero clamps to 0
    AwqQuantizer.Result q = AwqQuantizer.quantize(w, out, in, groupSize);
    int gs = groupSize == -1 ? in : groupSize, groups = in / gs;

    // Independent reference (AutoAWQ's pseudo_quantize_tensor written out per group, f16 scale): codes and zeros
    // bit-exact, values the fp32 product of the scale and the integer.
    int[] codes = new int[out * in];
    float[] values = new float[out * in];
    for (int c = 0; c < out; c++)
      for (int g = 0; g < groups; g++) {
        float[] grp = java.util.Arrays.copyOfRange(w, c * in + g * gs, c * in + (g + 1) * gs);
        float hi = grp[0], lo = grp[0];
        for (float v : grp) {
          hi = Math.max(hi, v);
          lo = Math.min(lo, v);
        }
        float scale = f16(Math.max(hi - lo, 1e-5f) / 15f);
        int zero = (int) Math.max(0, Math.min(15, -Math.rint(lo / scale)));
        assertEquals(scale, q.scales()[g * out + c], "scale of row " + c + " group " + g);
        assertEquals(zero, q.zeros()[g * out + c], "zero of row " + c + " group " + g);
        for (int k = 0; k < gs; k++) {
          int code = (int) Math.max(0, Math.min(15, Math.rint(grp[k] / scale) + zero));
          codes[c * in + g * gs + k] = code;
          values[c * in + g * gs + k] = (float) ((double) scale * (code - zero));
        }
      }
    assertArrayEquals(codes, q.codes());
    assertArrayEquals(values, q.values());
    assertEquals(0, q.zeros()[0], "a non-negative group's zero clamps to 0");

    int[] qweight = AwqLayout.packWeight(q.codes(), in, out), qzeros = AwqLayout.packZeros(q.zeros(), groups, out);
    assertArrayEquals(codes, AwqLayout.unpackWeight(qweight, in, out));
    assertArrayEquals(q.zeros(), AwqLayout.unpackZeros(qzeros, groups, out));
    // The kernel reads the packed words back to the reference values (exact: an f16 times a small integer is
    // exact in fp64, so both sides round once to fp32 from the same real number).
    assertArrayEquals(values, dequantize(qweight, qzeros, q.scales(), in, out, gs, DType.F32));
  }

  @ParameterizedTest
  @CsvSource({"64, 24, 32", "200, 72, 40", "96, 8, 96"})
  void dequantizationMatchesLibtorch(int in, int out, int gs) {
    int groups = in / gs;
    int[] codes = Rand.ints((long) in * out, in + 1, 0, 16);
    int[] zeros = Rand.ints((long) groups * out, out + 2, 0, 16);
    float[] scales = f16(Rand.uniform((long) groups * out, 7, 0.001f, 0.05f));
    int[] qweight = AwqLayout.packWeight(codes, in, out), qzeros = AwqLayout.packZeros(zeros, groups, out);

    // libtorch: shift every word by the nibble of each of its 8 outputs (4 * [0, 4, 1, 5, 2, 6, 3, 7]), mask,
    // repeat each group's zeros and scales over its inputs, W^T = (q - z) * s.
    long[] shifts = {0, 16, 4, 20, 8, 24, 12, 28};
    var group = Torch.longs(java.util.stream.LongStream.range(0, in).map(k -> k / gs).toArray(), in);
    var mask = Torch.longs(new long[] {15}, 1);
    var q = Torch.longs(unsigned(qweight), in, out / 8, 1).bitwise_right_shift(Torch.longs(shifts, 1, 1, 8))
        .bitwise_and(mask).reshape(in, out);
    var z = Torch.longs(unsigned(qzeros), groups, out / 8, 1).bitwise_right_shift(Torch.longs(shifts, 1, 1, 8))
        .bitwise_and(mask).reshape(groups, out).index_select(0, group);
    var s = Torch.tensor(scales, groups, out).index_select(0, group);
    float[] want = Torch.floats(q.sub(z).to(torch.ScalarType.Double).mul(s).t());

    assertArrayEquals(want, dequantize(qweight, qzeros, scales, in, out, gs, DType.F32));
    for (DType dt : new DType[] {DType.BF16, DType.F16}) {
      try (Tensor r = Tensor.fromFloats(want, dt, CPU, want.length)) {
        assertArrayEquals(r.toFloatArray(), dequantize(qweight, qzeros, scales, in, out, gs, dt),
            dt + " rounds the fp32 value once");
      }
    }
  }

  // ---- the fused GEMV ----

  @ParameterizedTest
  @CsvSource({"1, 200, 72, 40, true", "2, 64, 24, 32, false", "3, 128, 320, 64, true", "4, 96, 8, 96, true"})
  void gemvMatchesLibtorchAndTheDensePathOfLinear(int rows, int in, int out, int gs, boolean withBias) {
    int groups = in / gs;
    int[] qweight = AwqLayout.packWeight(Rand.ints((long) in * out, in + 3, 0, 16), in, out);
    int[] qzeros = AwqLayout.packZeros(Rand.ints((long) groups * out, out + 4, 0, 16), groups, out);
    float[] scales = f16(Rand.uniform((long) groups * out, 8, 0.001f, 0.05f));
    float[] x = Rand.normal((long) rows * in, rows, 1f), b = Rand.normal(out, 9, 0.5f);
    // libtorch in fp64: x W^T + b with W the (bit-exact, tested above) dequantized weight.
    float[] w = dequantize(qweight, qzeros, scales, in, out, gs, DType.F32);
    var ref = Torch.tensor(x, rows, in).matmul(Torch.tensor(w, out, in).t());
    if (withBias) ref = ref.add(Torch.tensor(b, out));
    float[] want = Torch.floats(ref);
    try (Tensor qw = Tensor.fromInts(qweight, CPU, in, out / 8); Tensor qz = Tensor.fromInts(qzeros, CPU, groups, out / 8);
        Tensor sc = Tensor.fromFloats(scales, DType.F16, CPU, groups, out);
        Tensor xt = Tensor.fromFloats(x, DType.F32, CPU, rows, in); Tensor bt = Tensor.fromFloats(b, DType.F32, CPU, out);
        Tensor y = Tensor.allocate(DType.F32, CPU, rows, out)) {
      Kernels.awqGemv(xt, qw, qz, sc, gs, withBias ? bt : null, y);
      // fp32 accumulation of `in` products (|sum| ~ 1): a few ulp of the running sums, far below 1e-5.
      assertClose(want, y.toFloatArray(), 1e-5f);
    }
    // Through Linear: one row takes the GEMV, the same row among 5 (more than the GEMV takes) the dense path.
    try (Tensor qw = Tensor.fromInts(qweight, CPU, in, out / 8); Tensor qz = Tensor.fromInts(qzeros, CPU, groups, out / 8);
        Tensor sc = Tensor.fromFloats(scales, DType.F16, CPU, groups, out);
        jswift.nn.Linear l = new jswift.nn.Linear("p", new jswift.nn.AwqWeight("p", out, in, gs, DType.F32, qw, qz, sc),
            null); jswift.tensor.Arena a = new jswift.tensor.Arena();
        Tensor x1 = Tensor.fromFloats(java.util.Arrays.copyOf(x, in), DType.F32, CPU, 1, in);
        Tensor x5 = Tensor.fromFloats(repeat(x, in, 5), DType.F32, CPU, 5, in)) {
      float[] one = l.forward(a, x1, 0, null, false).toFloatArray();
      float[] dense = l.forward(a, x5, 0, null, false).toFloatArray();
      assertClose(java.util.Arrays.copyOf(dense, out), one, 1e-5f);
    }
  }

  // ---- bad arguments ----

  @Test
  void badArgumentsAreRefusedWithTheirNames() {
    try (Tensor qw = Tensor.zeros(DType.I32, CPU, 32, 2); Tensor qz = Tensor.zeros(DType.I32, CPU, 1, 2);
        Tensor sc = Tensor.zeros(DType.F16, CPU, 1, 16); Tensor w = Tensor.allocate(DType.F32, CPU, 16, 32);
        Tensor wrongOut = Tensor.allocate(DType.F32, CPU, 12, 32); Tensor sc32 = Tensor.zeros(DType.F32, CPU, 1, 16);
        Tensor qwShort = Tensor.zeros(DType.I32, CPU, 16, 2); Tensor wInt = Tensor.allocate(DType.I32, CPU, 16, 32)) {
      Kernels.awqDequantize(qw, qz, sc, 32, w);  // the valid call
      assertMessage(() -> Kernels.awqDequantize(qw, qz, sc, 12, w), "groupSize must be > 0 and divide in (32)");
      assertMessage(() -> Kernels.awqDequantize(qw, qz, sc, 32, wrongOut), "out (12) must be a multiple of 8");
      assertMessage(() -> Kernels.awqDequantize(qw, qz, sc32, 32, w), "scales");
      assertMessage(() -> Kernels.awqDequantize(qwShort, qz, sc, 32, w), "qweight");
      assertMessage(() -> Kernels.awqDequantize(qw, qz, sc, 32, wInt), "w");
      Tensor freed = Tensor.zeros(DType.I32, CPU, 1, 2);
      freed.close();
      assertMessage(() -> Kernels.awqDequantize(qw, freed, sc, 32, w), "qzeros");
    }
    try (Tensor qw = Tensor.zeros(DType.I32, CPU, 32, 2); Tensor qz = Tensor.zeros(DType.I32, CPU, 1, 2);
        Tensor sc = Tensor.zeros(DType.F16, CPU, 1, 16); Tensor x5 = Tensor.zeros(DType.F32, CPU, 5, 32);
        Tensor y5 = Tensor.allocate(DType.F32, CPU, 5, 16); Tensor x = Tensor.zeros(DType.F32, CPU, 1, 32);
        Tensor y = Tensor.allocate(DType.F32, CPU, 1, 16); Tensor bf = Tensor.zeros(DType.BF16, CPU, 16)) {
      Kernels.awqGemv(x, qw, qz, sc, 32, null, y);  // the valid call
      var e = assertThrows(IllegalArgumentException.class, () -> Kernels.awqGemv(x5, qw, qz, sc, 32, null, y5));
      assertTrue(e.getMessage().contains("x has 5 rows; the GEMV takes 1..4"), e.getMessage());
      e = assertThrows(IllegalArgumentException.class, () -> Kernels.awqGemv(x, qw, qz, sc, 32, bf, y));
      assertTrue(e.getMessage().contains("awqGemv") && e.getMessage().contains("bias"), e.getMessage());
      assertTrue(AwqNative.jsw_awq_gemv(-1, DType.F32.code(), x5.address(), 5, 32, qw.address(), qz.address(),
          sc.address(), 16, 32, 0L, y5.address()) != 0, "5 rows are refused natively");
    }
    // Straight at the C ABI: the native checks hold without the Java ones.
    int status = AwqNative.jsw_awq_dequantize(-1, DType.F32.code(), 8, 8, 8, 16, 12, 8, 8);
    assertTrue(status != 0, "out = 12 is refused natively");
    try (Tensor qw = Tensor.zeros(DType.I32, CPU, 16, 1); Tensor qz = Tensor.zeros(DType.I32, CPU, 2, 1);
        Tensor sc = Tensor.zeros(DType.F16, CPU, 2, 8); Tensor w = Tensor.allocate(DType.F32, CPU, 8, 16)) {
      assertTrue(AwqNative.jsw_awq_dequantize(-1, DType.F32.code(), qw.address(), qz.address(), sc.address(), 16, 8, 5,
          w.address()) != 0, "group_size 5 does not divide in = 16");
      assertEquals(0, AwqNative.jsw_awq_dequantize(-1, DType.F32.code(), qw.address(), qz.address(), sc.address(), 16,
          8, 8, w.address()));
    }
  }

  // ---- helpers ----

  private static void assertMessage(org.junit.jupiter.api.function.Executable call, String part) {
    var e = assertThrows(IllegalArgumentException.class, call);
    assertTrue(e.getMessage().contains("awqDequantize") && e.getMessage().contains(part), e.getMessage());
  }

  /** The first row of x (rows of n values), `times` times. */
  private static float[] repeat(float[] x, int n, int times) {
    float[] r = new float[n * times];
    for (int i = 0; i < times; i++) System.arraycopy(x, 0, r, i * n, n);
    return r;
  }

  private static void assertClose(float[] want, float[] got, float tol) {
    assertEquals(want.length, got.length);
    for (int i = 0; i < want.length; i++)
      assertTrue(Math.abs(got[i] - want[i]) <= tol * (1 + Math.abs(want[i])), "[" + i + "] " + got[i] + " vs " + want[i]);
  }

  static float[] dequantize(int[] qweight, int[] qzeros, float[] scales, long in, long out, long gs, DType dtype) {
    long groups = in / gs;
    try (Tensor qw = Tensor.fromInts(qweight, CPU, in, out / 8); Tensor qz = Tensor.fromInts(qzeros, CPU, groups, out / 8);
        Tensor sc = Tensor.fromFloats(scales, DType.F16, CPU, groups, out); Tensor w = Tensor.allocate(dtype, CPU, out, in)) {
      Kernels.awqDequantize(qw, qz, sc, gs, w);
      return w.toFloatArray();
    }
  }

  private static float f16(float v) {
    return f16(new float[] {v})[0];
  }

  private static float[] f16(float[] v) {
    try (Tensor t = Tensor.fromFloats(v, DType.F16, CPU, v.length)) {
      return t.toFloatArray();
    }
  }

  private static long[] unsigned(int[] words) {
    long[] r = new long[words.length];
    for (int i = 0; i < words.length; i++) r[i] = words[i] & 0xFFFFFFFFL;
    return r;
  }
}
