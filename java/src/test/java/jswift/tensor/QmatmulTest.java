package jswift.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jswift.bindings.CoreNative;
import jswift.bindings.QmatmulNative;
import jswift.testing.Rand;
import jswift.testing.Torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The dequant-to-tile GEMM ({@link Kernels#nf4Matmul}, {@link Kernels#nf4MatmulDoubleQuant},
 * {@link Kernels#gptqMatmul}, {@link Kernels#awqMatmul}) and the GPTQ GEMV ({@link Kernels#gptqGemv}) against libtorch in fp64 on a dense W
 * unpacked here from the packed bytes / words (an implementation independent of the kernels): the forward x W^T
 * and the frozen backward dy W, with beta, for rows 1, 5 and 67 and shapes that are no multiple of the kernels'
 * panels or vector widths; then the argument checks of Kernels and of the C ABI.
 */
class QmatmulTest {
  private static final int BS = 64;

  private enum Format { NF4, GPTQ, AWQ }

  /** A packed weight and the fp32 dense W [out, in] it stands for (groupSize: AWQ's). */
  private record Packed(Format format, int out, int in, Tensor[] parts, float offset, int bits, long groupSize,
      float[] dense) {}

  private static Packed nf4(Arena a, int out, int in, boolean dq, long seed) {
    long n = (long) out * in, blocks = (n + BS - 1) / BS;
    Tensor w = a.allocate(DType.F32, Device.CPU, n);
    w.copyFrom(Rand.normal(n, seed, 0.05f));
    Tensor packed = a.allocate(DType.U8, Device.CPU, (n + 1) / 2);
    Tensor absmax = a.allocate(DType.F32, Device.CPU, blocks);
    Kernels.nf4Quantize(w, BS, packed, absmax);
    float[] scales = absmax.toFloatArray();
    Tensor[] parts = {packed, absmax};
    float offset = 0f;
    if (dq) {
      Tensor q = a.allocate(DType.U8, Device.CPU, blocks);
      Tensor nested = a.allocate(DType.F32, Device.CPU, (blocks + 255) / 256);
      Tensor off = a.allocate(DType.F32, Device.CPU, 1);
      Kernels.quantizeAbsmax8bit(absmax, q, nested, off);
      float[] map = Kernels.dynamicMapSigned();
      byte[] qb = q.toByteArray();
      float[] nb = nested.toFloatArray();
      offset = off.toFloatArray()[0];
      for (int b = 0; b < blocks; b++) scales[b] = (float) (map[qb[b] & 0xFF] * nb[b / 256]) + offset;
      Tensor code256 = a.allocate(DType.F32, Device.CPU, 256);
      code256.copyFrom(map);
      parts = new Tensor[] {packed, q, nested, code256};
    }
    byte[] p = packed.toByteArray();
    float[] levels = Kernels.nf4Codebook();
    float[] dense = new float[out * in];
    for (int e = 0; e < dense.length; e++) {
      int b = p[e / 2] & 0xFF;
      dense[e] = levels[e % 2 == 0 ? b >> 4 : b & 15] * scales[e / BS];  // bitsandbytes' fp32 product
    }
    return new Packed(Format.NF4, out, in, parts, offset, 4, 0, dense);
  }

  /** Random GPTQ codes, zeros, f16 scales and an act-order (shuffled) g_idx, packed per FORMATS.md. */
  private static Packed gptq(Arena a, int out, int in, int bits, int groups, long seed) {
    int p = 32 / bits, maxq = (1 << bits) - 1;
    int[] codes = Rand.ints((long) out * in, seed, 0, maxq + 1), zeros = Rand.ints((long) groups * out, seed + 1, 0,
        maxq + 1);
    Tensor scales = a.allocate(DType.F16, Device.CPU, groups, out);
    scales.copyFrom(Rand.uniform((long) groups * out, seed + 2, 0.001f, 0.05f));
    float[] s = scales.toFloatArray();  // the values an f16 holds
    int[] gIdx = new int[in], perm = Rand.ints(in, seed + 3, 0, in);
    for (int k = 0; k < in; k++) gIdx[k] = k * groups / in;
    for (int k = in - 1; k > 0; k--) {
      int j = perm[k] % (k + 1), t = gIdx[k];
      gIdx[k] = gIdx[j];
      gIdx[j] = t;
    }
    int[] qweight = new int[in / p * out], qzeros = new int[groups * out / p];
    for (int c = 0; c < out; c++)
      for (int k = 0; k < in; k++) qweight[(k / p) * out + c] |= codes[c * in + k] << (bits * (k % p));
    for (int g = 0; g < groups; g++)
      for (int c = 0; c < out; c++)
        qzeros[g * (out / p) + c / p] |= ((zeros[g * out + c] - 1) & maxq) << (bits * (c % p));
    float[] dense = new float[out * in];
    for (int c = 0; c < out; c++)
      for (int k = 0; k < in; k++)
        dense[c * in + k] = s[gIdx[k] * out + c] * (codes[c * in + k] - zeros[gIdx[k] * out + c]);
    Tensor qw = a.allocate(DType.I32, Device.CPU, in / p, out), qz = a.allocate(DType.I32, Device.CPU, groups, out / p);
    Tensor gi = a.allocate(DType.I32, Device.CPU, in);
    qw.copyFrom(qweight);
    qz.copyFrom(qzeros);
    gi.copyFrom(gIdx);
    return new Packed(Format.GPTQ, out, in, new Tensor[] {qw, qz, scales, gi}, 0f, bits, 0, dense);
  }

  /**
   * Random AWQ codes, zeros and f16 scales, packed as jswift.h's AWQ layout comment states it (the pack
   * direction: nibble i of word [k, j] holds output 8j + ORDER[i]; the kernels decode with the inverse).
   */
  private static Packed awq(Arena a, int out, int in, int groupSize, long seed) {
    int[] order = {0, 2, 4, 6, 1, 3, 5, 7};
    int groups = in / groupSize, words = out / 8;
    int[] codes = Rand.ints((long) in * out, seed, 0, 16), zeros = Rand.ints((long) groups * out, seed + 1, 0, 16);
    Tensor scales = a.allocate(DType.F16, Device.CPU, groups, out);
    scales.copyFrom(Rand.uniform((long) groups * out, seed + 2, 0.001f, 0.05f));
    float[] s = scales.toFloatArray();  // the values an f16 holds
    int[] qweight = new int[in * words], qzeros = new int[groups * words];
    for (int j = 0; j < words; j++)
      for (int i = 0; i < 8; i++) {
        int c = 8 * j + order[i];
        for (int k = 0; k < in; k++) qweight[k * words + j] |= codes[k * out + c] << (4 * i);
        for (int g = 0; g < groups; g++) qzeros[g * words + j] |= zeros[g * out + c] << (4 * i);
      }
    float[] dense = new float[out * in];
    for (int c = 0; c < out; c++)
      for (int k = 0; k < in; k++) {
        int g = k / groupSize;
        dense[c * in + k] = s[g * out + c] * (codes[k * out + c] - zeros[g * out + c]);
      }
    Tensor qw = a.allocate(DType.I32, Device.CPU, in, words), qz = a.allocate(DType.I32, Device.CPU, groups, words);
    qw.copyFrom(qweight);
    qz.copyFrom(qzeros);
    return new Packed(Format.AWQ, out, in, new Tensor[] {qw, qz, scales}, 0f, 4, groupSize, dense);
  }

  private static void matmul(Packed w, Tensor x, boolean backward, float beta, Tensor y) {
    Tensor[] t = w.parts;
    if (w.format == Format.AWQ) {
      Kernels.awqMatmul(x, t[0], t[1], t[2], w.groupSize, backward, beta, y);
    } else if (w.format == Format.GPTQ) {
      Kernels.gptqMatmul(x, t[0], t[1], t[2], t[3], w.bits, backward, beta, y);
    } else if (t.length == 2) {
      Kernels.nf4Matmul(x, t[0], t[1], BS, backward, beta, y);
    } else {
      Kernels.nf4MatmulDoubleQuant(x, t[0], t[1], t[2], t[3], w.offset, BS, backward, beta, y);
    }
  }

  /**
   * Compares y = x W^T (or x W) + beta y0 with libtorch fp64: within rtol of sum |x||W| + |beta y0| per output
   * (fp32: the GEMM's summation order, far inside 1e-5; bf16: one output rounding, 2^-8 relative).
   */
  private static void check(Arena a, Packed w, int rows, boolean backward, float beta, DType dtype) {
    int xc = backward ? w.out : w.in, yc = backward ? w.in : w.out;
    Tensor x = a.allocate(dtype, Device.CPU, rows, xc), y = a.allocate(dtype, Device.CPU, rows, yc);
    x.copyFrom(Rand.normal((long) rows * xc, rows + 17L, 1f));
    float[] y0 = new float[rows * yc];
    java.util.Arrays.fill(y0, Float.NaN);  // beta = 0 must not read y
    if (beta != 0f) y0 = Rand.normal((long) rows * yc, rows + 19L, 1f);
    y.copyFrom(y0);
    y0 = y.toFloatArray();
    matmul(w, x, backward, beta, y);
    var tx = Torch.tensor(x.toFloatArray(), rows, xc);
    var tw = Torch.tensor(w.dense, w.out, w.in);
    var op = backward ? tw : tw.t();
    var ref = tx.matmul(op);
    var mag = tx.abs().matmul(op.abs());
    if (beta != 0f) {
      var ty0 = Torch.tensor(y0, rows, yc).mul(Torch.scalar(beta));
      ref = ref.add(ty0);
      mag = mag.add(ty0.abs());
    }
    float[] want = Torch.floats(ref), m = Torch.floats(mag), got = y.toFloatArray();
    double rtol = dtype == DType.F32 ? 1e-5 : dtype == DType.BF16 ? 8e-3 : 1e-3;  // f16: 2^-11
    for (int k = 0; k < got.length; k++)
      assertTrue(Math.abs(got[k] - want[k]) <= 1e-6 + rtol * m[k], (backward ? "backward" : "forward") + " rows "
          + rows + " " + dtype + ": y[" + k + "] = " + got[k] + ", want " + want[k]);
  }

  @ParameterizedTest
  @CsvSource({"1, false, 0, f32", "5, true, 0.5, f32", "67, false, 0.5, bf16", "67, true, 0, f32",
      "5, false, 0, bf16"})
  void nf4MatchesTorch(int rows, boolean dq, float beta, String dt) {
    try (Arena a = new Arena()) {
      Packed w = nf4(a, 37, 67, dq, rows + 3L);  // odd in: rows start mid-byte and mid-block
      for (boolean backward : new boolean[] {false, true})
        check(a, w, rows, backward, beta, DType.valueOf(dt.toUpperCase()));
    }
  }

  @ParameterizedTest
  @CsvSource({"1, 4, 0, f32", "5, 2, 0.5, f32", "67, 8, 0, bf16", "67, 4, 0.5, f32", "5, 8, 0.5, bf16"})
  void gptqMatchesTorch(int rows, int bits, float beta, String dt) {
    try (Arena a = new Arena()) {
      Packed w = gptq(a, 48, 80, bits, 5, rows + bits);
      for (boolean backward : new boolean[] {false, true})
        check(a, w, rows, backward, beta, DType.valueOf(dt.toUpperCase()));
    }
  }

  /** Group sizes 8 (several groups) and 40 (one group per row); odd group count 5 at 8. */
  @ParameterizedTest
  @CsvSource({"1, 8, 0, f32", "5, 40, 0.5, f32", "67, 8, 0, bf16", "67, 40, 0.5, f32", "5, 8, 0.5, f16"})
  void awqMatchesTorch(int rows, int groupSize, float beta, String dt) {
    try (Arena a = new Arena()) {
      Packed w = awq(a, 24, 40, groupSize, rows + groupSize);
      for (boolean backward : new boolean[] {false, true})
        check(a, w, rows, backward, beta, DType.valueOf(dt.toUpperCase()));
    }
  }

  /**
   * 4112 inputs make 240-row panels, so 496 outputs are three panels (and the backward accumulates them); AWQ at
   * 4096 inputs: 256-row panels, 520 outputs = 256 + 256 + 8.
   */
  @Test
  void severalPanelsMatchTorch() {
    try (Arena a = new Arena()) {
      Packed w = gptq(a, 496, 4112, 4, 32, 9);
      check(a, w, 3, false, 0f, DType.F32);
      check(a, w, 3, true, 0.5f, DType.F32);
      Packed q = awq(a, 520, 4096, 128, 11);
      check(a, q, 3, false, 0.5f, DType.F32);
      check(a, q, 3, true, 0f, DType.F32);
    }
  }

  @ParameterizedTest
  @CsvSource({"1, 4, true, f32", "2, 2, false, f32", "3, 8, true, bf16", "8, 4, false, f16", "4, 8, false, f32"})
  void gptqGemvMatchesTorch(int rows, int bits, boolean withBias, String dt) {
    DType dtype = DType.valueOf(dt.toUpperCase());
    try (Arena a = new Arena()) {
      // 36 outputs at 8 bits: four channels past the last 8-wide vector block.
      Packed w = gptq(a, bits == 8 ? 36 : 32, 96, bits, 3, rows * 7L + bits);
      Tensor x = a.allocate(dtype, Device.CPU, rows, w.in), y = a.allocate(dtype, Device.CPU, rows, w.out);
      x.copyFrom(Rand.normal((long) rows * w.in, rows, 1f));
      Tensor bias = withBias ? a.allocate(dtype, Device.CPU, w.out) : null;
      if (bias != null) bias.copyFrom(Rand.normal(w.out, 2L, 1f));
      Tensor[] t = w.parts;
      Kernels.gptqGemv(x, t[0], t[1], t[2], t[3], w.bits, bias, y);
      var tx = Torch.tensor(x.toFloatArray(), rows, w.in);
      var tw = Torch.tensor(w.dense, w.out, w.in).t();
      var ref = tx.matmul(tw);
      var mag = tx.abs().matmul(tw.abs());
      if (bias != null) {
        var tb = Torch.tensor(bias.toFloatArray(), w.out);
        ref = ref.add(tb);
        mag = mag.add(tb.abs());
      }
      float[] want = Torch.floats(ref), m = Torch.floats(mag), got = y.toFloatArray();
      // fp32 accumulation (within 1e-5 of sum |x w|); bf16 / f16 outputs add one rounding (2^-8 / 2^-11).
      double rtol = dtype == DType.F32 ? 1e-5 : dtype == DType.BF16 ? 8e-3 : 1e-3;
      for (int k = 0; k < got.length; k++)
        assertTrue(Math.abs(got[k] - want[k]) <= 1e-6 + rtol * m[k], "y[" + k + "] = " + got[k] + ", want " + want[k]);
    }
  }

  @Test
  void rejectsBadArguments() {
    try (Arena a = new Arena()) {
      Packed n = nf4(a, 8, 64, false, 1);
      Packed g = gptq(a, 8, 64, 4, 2, 2);
      Tensor x = a.allocate(DType.F32, Device.CPU, 2, 64), y = a.allocate(DType.F32, Device.CPU, 2, 8);
      Kernels.nf4Matmul(x, n.parts[0], n.parts[1], BS, false, 0f, y);  // the valid calls
      Kernels.gptqMatmul(x, g.parts[0], g.parts[1], g.parts[2], g.parts[3], 4, false, 0f, y);
      Kernels.gptqMatmul(y, g.parts[0], g.parts[1], g.parts[2], g.parts[3], 4, true, 0f, x);
      Tensor yWide = a.allocate(DType.F32, Device.CPU, 2, 9);
      assertThrows(IllegalArgumentException.class,
          () -> Kernels.nf4Matmul(x, n.parts[0], n.parts[1], BS, false, 0f, yWide));
      Tensor yRows = a.allocate(DType.F32, Device.CPU, 3, 8);
      var e = assertThrows(IllegalArgumentException.class,
          () -> Kernels.nf4Matmul(x, n.parts[0], n.parts[1], BS, false, 0f, yRows));
      assertTrue(e.getMessage().contains("rows"), e.getMessage());
      Tensor yBf16 = a.allocate(DType.BF16, Device.CPU, 2, 8);
      assertThrows(IllegalArgumentException.class,
          () -> Kernels.gptqMatmul(x, g.parts[0], g.parts[1], g.parts[2], g.parts[3], 4, false, 0f, yBf16));
      e = assertThrows(IllegalArgumentException.class,
          () -> Kernels.gptqMatmul(x, g.parts[0], g.parts[1], g.parts[2], g.parts[3], 3, false, 0f, y));
      assertTrue(e.getMessage().contains("bits"), e.getMessage());
      e = assertThrows(IllegalArgumentException.class,
          () -> Kernels.gptqMatmul(x, g.parts[1], g.parts[0], g.parts[2], g.parts[3], 4, false, 0f, y));
      assertTrue(e.getMessage().contains("qweight"), e.getMessage());
      Tensor x9 = a.allocate(DType.F32, Device.CPU, 9, 64), y9 = a.allocate(DType.F32, Device.CPU, 9, 8);
      e = assertThrows(IllegalArgumentException.class,
          () -> Kernels.gptqGemv(x9, g.parts[0], g.parts[1], g.parts[2], g.parts[3], 4, null, y9));
      assertTrue(e.getMessage().contains("rows"), e.getMessage());
      Tensor freed = Tensor.allocate(DType.F32, Device.CPU, 2, 64);
      freed.close();
      e = assertThrows(IllegalArgumentException.class,
          () -> Kernels.nf4Matmul(freed, n.parts[0], n.parts[1], BS, false, 0f, y));
      assertTrue(e.getMessage().contains("freed"), e.getMessage());
      // A g_idx value outside the groups reaches the native check (Kernels does not scan g_idx).
      Tensor badIdx = a.allocate(DType.I32, Device.CPU, 64);
      int[] bad = new int[64];
      bad[63] = 2;
      badIdx.copyFrom(bad);
      var ne = assertThrows(RuntimeException.class,
          () -> Kernels.gptqMatmul(x, g.parts[0], g.parts[1], g.parts[2], badIdx, 4, false, 0f, y));
      assertTrue(ne.getMessage().contains("g_idx[63]"), ne.getMessage());
      // Straight at the C ABI: trans 2 is refused with a message, not a crash.
      int status = QmatmulNative.jsw_nf4_matmul(Device.CPU.index(), DType.F32.code(), x.address(), 2, 2,
          n.parts[0].address(), n.parts[1].address(), 0L, 0L, 0L, 0f, 8, 64, BS, 0f, y.address());
      assertEquals(NativeStatus.INVALID_ARGUMENT, status);
      assertTrue(CoreNative.jsw_last_error().contains("trans"), CoreNative.jsw_last_error());
    }
  }

  @Test
  void awqRejectsBadArguments() {
    try (Arena a = new Arena()) {
      Packed w = awq(a, 16, 64, 32, 3);
      Tensor[] t = w.parts;
      Tensor x = a.allocate(DType.F32, Device.CPU, 2, 64), y = a.allocate(DType.F32, Device.CPU, 2, 16);
      Kernels.awqMatmul(x, t[0], t[1], t[2], 32, false, 0f, y);  // the valid calls
      Kernels.awqMatmul(y, t[0], t[1], t[2], 32, true, 0f, x);
      var e = assertThrows(IllegalArgumentException.class,
          () -> Kernels.awqMatmul(x, t[0], t[1], t[2], 24, false, 0f, y));
      assertTrue(e.getMessage().contains("groupSize"), e.getMessage());
      Tensor y12 = a.allocate(DType.F32, Device.CPU, 2, 12);
      e = assertThrows(IllegalArgumentException.class,
          () -> Kernels.awqMatmul(x, t[0], t[1], t[2], 32, false, 0f, y12));
      assertTrue(e.getMessage().contains("multiple of 8"), e.getMessage());
      e = assertThrows(IllegalArgumentException.class,
          () -> Kernels.awqMatmul(x, t[1], t[0], t[2], 32, false, 0f, y));
      assertTrue(e.getMessage().contains("qweight"), e.getMessage());
      Tensor yBf16 = a.allocate(DType.BF16, Device.CPU, 2, 16);
      assertThrows(IllegalArgumentException.class,
          () -> Kernels.awqMatmul(x, t[0], t[1], t[2], 32, false, 0f, yBf16));
      Tensor freedScales = Tensor.allocate(DType.F16, Device.CPU, 2, 16);
      freedScales.close();
      e = assertThrows(IllegalArgumentException.class,
          () -> Kernels.awqMatmul(x, t[0], t[1], freedScales, 32, false, 0f, y));
      assertTrue(e.getMessage().contains("freed"), e.getMessage());
      // Straight at the C ABI: a group size that does not divide in is refused with a message, not a crash.
      int status = QmatmulNative.jsw_awq_matmul(Device.CPU.index(), DType.F32.code(), x.address(), 2, 0,
          t[0].address(), t[1].address(), t[2].address(), 16, 64, 24, 0f, y.address());
      assertEquals(NativeStatus.INVALID_ARGUMENT, status);
      assertTrue(CoreNative.jsw_last_error().contains("group_size"), CoreNative.jsw_last_error());
    }
  }
}
