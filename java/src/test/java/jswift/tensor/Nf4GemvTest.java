package jswift.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jswift.bindings.CoreNative;
import jswift.bindings.Nf4Native;
import jswift.testing.Rand;
import jswift.testing.Torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The fused NF4 GEMV against an independent fp64 reference: the weight is dequantized here from the packed bytes
 * (high nibble first) and the fp32 scales (recovered from the 8-bit codes with double quantization), and libtorch
 * multiplies in fp64. Odd in (rows straddling bytes and absmax blocks), rows 1..4, bias on and off, every float
 * dtype; then the Kernels checks and the C ABI's.
 */
class Nf4GemvTest {
  private static final int BS = 64;

  private record Weight(Tensor packed, Tensor absmax, Tensor q, Tensor nested, Tensor code256, float offset,
      double[] scales) {}

  /** Quantizes a random [out, in] weight with jswift (the quantizer has its own tests) and reads back its scales. */
  private static Weight quantize(Arena a, int out, int in, boolean dq, long seed) {
    long n = (long) out * in, blocks = (n + BS - 1) / BS;
    Tensor w = a.allocate(DType.F32, Device.CPU, n);
    w.copyFrom(Rand.normal(n, seed, 0.05f));
    Tensor packed = a.allocate(DType.U8, Device.CPU, (n + 1) / 2);
    Tensor absmax = a.allocate(DType.F32, Device.CPU, blocks);
    Kernels.nf4Quantize(w, BS, packed, absmax);
    double[] scales = new double[(int) blocks];
    float[] am = absmax.toFloatArray();
    if (!dq) {
      for (int b = 0; b < blocks; b++) scales[b] = am[b];
      return new Weight(packed, absmax, null, null, null, 0f, scales);
    }
    Tensor q = a.allocate(DType.U8, Device.CPU, blocks);
    Tensor nested = a.allocate(DType.F32, Device.CPU, (blocks + 255) / 256);
    Tensor off = a.allocate(DType.F32, Device.CPU, 1);
    Kernels.quantizeAbsmax8bit(absmax, q, nested, off);
    float[] map = Kernels.dynamicMapSigned();
    byte[] qb = q.toByteArray();
    float[] nb = nested.toFloatArray();
    float offset = off.toFloatArray()[0];
    for (int b = 0; b < blocks; b++) scales[b] = (float) (map[qb[b] & 0xFF] * nb[b / 256]) + offset;
    Tensor code256 = a.allocate(DType.F32, Device.CPU, 256);
    code256.copyFrom(map);
    return new Weight(packed, null, q, nested, code256, offset, scales);
  }

  /** The dense weight [out, in] from the bytes: level(nibble(e)) * scale(e / 64), e = o * in + i. */
  private static float[] dequantize(Weight w, int out, int in) {
    byte[] p = w.packed.toByteArray();
    float[] levels = Kernels.nf4Codebook();
    float[] dense = new float[out * in];
    for (int e = 0; e < dense.length; e++) {
      int b = p[e / 2] & 0xFF, nib = e % 2 == 0 ? b >> 4 : b & 15;
      dense[e] = (float) (levels[nib] * w.scales[e / BS]);  // the fp32 product, as bitsandbytes dequantizes
    }
    return dense;
  }

  @ParameterizedTest
  @CsvSource({"1, 128, 33, false, false, f32", "2, 67, 19, true, true, f32", "3, 896, 40, true, false, f32",
      "4, 131, 7, false, true, f32", "1, 67, 19, true, true, bf16", "4, 96, 50, false, true, f16",
      "3, 1, 5, true, false, f32"})
  void matchesDequantizeThenMatmul(int rows, int in, int out, boolean dq, boolean withBias, String dt) {
    DType dtype = DType.valueOf(dt.toUpperCase());
    try (Arena a = new Arena()) {
      Weight w = quantize(a, out, in, dq, 31L * in + rows);
      float[] xs = Rand.normal((long) rows * in, rows + 7L, 1f), bs = Rand.normal(out, 5L, 1f);
      Tensor x = a.allocate(dtype, Device.CPU, rows, in);
      x.copyFrom(xs);
      Tensor bias = withBias ? a.allocate(dtype, Device.CPU, out) : null;
      if (bias != null) bias.copyFrom(bs);
      Tensor y = a.allocate(dtype, Device.CPU, rows, out);
      y.copyFrom(new float[rows * out]);
      if (dq) {
        Kernels.nf4GemvDoubleQuant(x, w.packed, w.q, w.nested, w.code256, w.offset, BS, bias, y);
      } else {
        Kernels.nf4Gemv(x, w.packed, w.absmax, BS, bias, y);
      }
      // fp64 reference on the values jswift actually saw (x and bias rounded to the storage dtype).
      var ref = Torch.tensor(x.toFloatArray(), rows, in).matmul(Torch.tensor(dequantize(w, out, in), out, in).t());
      if (bias != null) ref = ref.add(Torch.tensor(bias.toFloatArray(), out));
      float[] want = Torch.floats(ref), got = y.toFloatArray();
      // fp32 accumulation of `in` products of O(1) x O(0.05) values: errors ~1e-6 absolute; bf16/f16 outputs add
      // the store rounding (2^-9 / 2^-12 relative).
      double rtol = dtype == DType.F32 ? 1e-5 : dtype == DType.BF16 ? 8e-3 : 1e-3;
      for (int k = 0; k < got.length; k++)
        assertTrue(Math.abs(got[k] - want[k]) <= 1e-5 + rtol * Math.abs(want[k]),
            "y[" + k + "] = " + got[k] + ", want " + want[k]);
    }
  }

  @Test
  void rejectsBadArguments() {
    try (Arena a = new Arena()) {
      Weight w = quantize(a, 8, 64, false, 1);
      Tensor x = a.allocate(DType.F32, Device.CPU, 1, 64), y = a.allocate(DType.F32, Device.CPU, 1, 8);
      Kernels.nf4Gemv(x, w.packed, w.absmax, BS, null, y);  // the valid call
      Tensor x5 = a.allocate(DType.F32, Device.CPU, 9, 64), y5 = a.allocate(DType.F32, Device.CPU, 9, 8);
      var e = assertThrows(IllegalArgumentException.class, () -> Kernels.nf4Gemv(x5, w.packed, w.absmax, BS, null, y5));
      assertTrue(e.getMessage().contains("rows"), e.getMessage());
      Tensor yWrong = a.allocate(DType.F32, Device.CPU, 1, 9);  // out 9 needs 288 packed bytes
      assertThrows(IllegalArgumentException.class, () -> Kernels.nf4Gemv(x, w.packed, w.absmax, BS, null, yWrong));
      Tensor yBf16 = a.allocate(DType.BF16, Device.CPU, 1, 8);
      assertThrows(IllegalArgumentException.class, () -> Kernels.nf4Gemv(x, w.packed, w.absmax, BS, null, yBf16));
      Tensor badBias = a.allocate(DType.F32, Device.CPU, 7);
      assertThrows(IllegalArgumentException.class, () -> Kernels.nf4Gemv(x, w.packed, w.absmax, BS, badBias, y));
      assertThrows(IllegalArgumentException.class, () -> Kernels.nf4Gemv(x, w.absmax, w.absmax, BS, null, y));
      Tensor freed = Tensor.allocate(DType.F32, Device.CPU, 1, 64);
      freed.close();
      e = assertThrows(IllegalArgumentException.class, () -> Kernels.nf4Gemv(freed, w.packed, w.absmax, BS, null, y));
      assertTrue(e.getMessage().contains("freed"), e.getMessage());
      // Straight at the C ABI: both scale kinds at once is refused with a message, not a crash.
      int status = Nf4Native.jsw_nf4_gemv(Device.CPU.index(), DType.F32.code(), x.address(), 1, 64, w.packed.address(),
          w.absmax.address(), w.packed.address(), w.absmax.address(), w.absmax.address(), 0f, 8, BS, 0L, y.address());
      assertEquals(NativeStatus.INVALID_ARGUMENT, status);
      assertTrue(CoreNative.jsw_last_error().contains("exactly one"), CoreNative.jsw_last_error());
    }
  }
}
