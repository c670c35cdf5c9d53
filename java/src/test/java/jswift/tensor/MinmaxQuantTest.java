package jswift.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jswift.bindings.CoreNative;
import jswift.bindings.MinmaxQuantNative;
import jswift.testing.Rand;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

/**
 * Q-GaLore's min-max group quantization through {@link Kernels}: codes and dequantized values against a plain-Java
 * transcription of Q-GaLore's _quantize (fp32, round half to even), bf16 input, and bad arguments at the Kernels
 * level and straight at the C ABI. (Stochastic rounding's statistics are tested natively, minmax_quant_test.cpp.)
 */
class MinmaxQuantTest {
  /** Q-GaLore's quantize-dequantize of one group, in fp32 as its torch code computes it. */
  static float[] reference(float[] x, int group, int bits) {
    float qmax = (1 << bits) - 1;
    float[] out = new float[x.length];
    for (int lo = 0; lo < x.length; lo += group) {
      int hi = Math.min(x.length, lo + group);
      float mn = Float.POSITIVE_INFINITY, mx = Float.NEGATIVE_INFINITY;
      for (int i = lo; i < hi; i++) {
        mn = Math.min(mn, x[i]);
        mx = Math.max(mx, x[i]);
      }
      float scale = Math.max(mx - mn, 1e-5f) / qmax;
      float zero = Math.min(qmax, Math.max(0f, (float) Math.rint(-mn / scale)));
      for (int i = lo; i < hi; i++) {
        float code = Math.min(qmax, Math.max(0f, (float) Math.rint(x[i] / scale) + zero));
        out[i] = (code - zero) * scale;
      }
    }
    return out;
  }

  // Exact equality: the same fp32 operations in the same order; a random fp32 x / scale lands within an ulp of a
  // .5 tie with probability ~1e-7 per value, and these seeds are fixed.
  @ParameterizedTest(name = "n={0} group={1} bits={2} {3}")
  @CsvSource({"1, 256, 4, F32", "1001, 256, 4, F32", "1001, 7, 8, F32", "4096, 256, 8, BF16", "333, 64, 4, BF16"})
  void matchesQGaLoresFormulas(int n, int group, int bits, DType dtype) {
    float[] x = Rand.normal(n, n + group + bits);
    try (Arena a = new Arena()) {
      Tensor t = a.zeros(dtype, Device.CPU, n);
      t.copyFrom(x);
      float[] stored = t.toFloatArray();   // what a bf16 input holds
      long groups = (n + group - 1) / group;
      Tensor codes = a.zeros(DType.U8, Device.CPU, Kernels.minmaxCodeBytes(n, bits));
      Tensor scales = a.zeros(DType.F32, Device.CPU, groups), zeros = a.zeros(DType.F32, Device.CPU, groups);
      Kernels.minmaxQuantize(t, group, bits, false, 0, codes, scales, zeros);
      Tensor back = a.zeros(DType.F32, Device.CPU, n);
      Kernels.minmaxDequantize(codes, scales, zeros, group, bits, back);
      assertArrayEquals(reference(stored, group, bits), back.toFloatArray(), 0f);
    }
  }

  @Test
  void stochasticRoundingIsSeededAndLandsOnANeighbouringCode() {
    float[] x = Rand.normal(2048, 5);
    try (Arena a = new Arena()) {
      Tensor t = a.zeros(DType.F32, Device.CPU, 2048);
      t.copyFrom(x);
      Tensor c1 = a.zeros(DType.U8, Device.CPU, 2048), c2 = a.zeros(DType.U8, Device.CPU, 2048),
          c3 = a.zeros(DType.U8, Device.CPU, 2048), near = a.zeros(DType.U8, Device.CPU, 2048);
      Tensor s = a.zeros(DType.F32, Device.CPU, 8), z = a.zeros(DType.F32, Device.CPU, 8);
      Kernels.minmaxQuantize(t, 256, 8, true, 42, c1, s, z);
      Kernels.minmaxQuantize(t, 256, 8, true, 42, c2, s, z);
      Kernels.minmaxQuantize(t, 256, 8, true, 43, c3, s, z);
      Kernels.minmaxQuantize(t, 256, 8, false, 0, near, s, z);
      byte[] b1 = c1.toByteArray(), b3 = c3.toByteArray(), bn = near.toByteArray();
      assertArrayEquals(b1, c2.toByteArray(), "same seed, same codes");
      int differ = 0;
      for (int i = 0; i < b1.length; i++) {
        differ += b1[i] != b3[i] ? 1 : 0;
        assertTrue(Math.abs((b1[i] & 255) - (bn[i] & 255)) <= 1, "a neighbour of the nearest code at " + i);
      }
      assertTrue(differ > 512, "another seed redraws (" + differ + " of 2048 differ)");
    }
  }

  @Test
  void badArgumentsNameTheProblem() {
    try (Arena a = new Arena()) {
      Tensor x = a.zeros(DType.F32, Device.CPU, 10);
      Tensor codes = a.zeros(DType.U8, Device.CPU, 5), scales = a.zeros(DType.F32, Device.CPU, 3),
          zeros = a.zeros(DType.F32, Device.CPU, 3);
      var e = assertThrows(IllegalArgumentException.class,
          () -> Kernels.minmaxQuantize(x, 4, 3, false, 0, codes, scales, zeros));
      assertTrue(e.getMessage().contains("bits must be 4 or 8"), e.getMessage());
      e = assertThrows(IllegalArgumentException.class, () -> Kernels.minmaxQuantize(x, 4, 8, false, 0, codes, scales, zeros));
      assertTrue(e.getMessage().contains("codes must have 10 elements"), e.getMessage());
      Tensor i8 = a.zeros(DType.I8, Device.CPU, 5);
      e = assertThrows(IllegalArgumentException.class, () -> Kernels.minmaxQuantize(x, 4, 4, false, 0, i8, scales, zeros));
      assertTrue(e.getMessage().contains("codes must be uint8"), e.getMessage());
      e = assertThrows(IllegalArgumentException.class, () -> Kernels.minmaxQuantize(x, 0, 4, false, 0, codes, scales, zeros));
      assertTrue(e.getMessage().contains("groupSize must be > 0"), e.getMessage());
      Tensor ints = a.zeros(DType.I32, Device.CPU, 10);
      e = assertThrows(IllegalArgumentException.class, () -> Kernels.minmaxDequantize(codes, scales, zeros, 4, 4, ints));
      assertTrue(e.getMessage().contains("out must be f32, bf16 or f16"), e.getMessage());
      Tensor freed = Tensor.zeros(DType.F32, Device.CPU, 3);
      freed.close();
      e = assertThrows(IllegalArgumentException.class,
          () -> Kernels.minmaxQuantize(x, 4, 4, false, 0, codes, scales, freed));
      assertTrue(e.getMessage().contains("zeros was already freed"), e.getMessage());
    }
  }

  @Test
  void cAbiRejectsBadBitsNullPointersAndMissingDevices() {
    try (Arena a = new Arena()) {
      Tensor x = a.zeros(DType.F32, Device.CPU, 8);
      Tensor codes = a.zeros(DType.U8, Device.CPU, 8), s = a.zeros(DType.F32, Device.CPU, 2);
      int status = MinmaxQuantNative.jsw_minmax_quantize(-1, DType.F32.code(), x.address(), 8, 4, 5, 0, 0,
          codes.address(), s.address(), s.address());
      assertEquals(NativeStatus.INVALID_ARGUMENT, status);
      assertTrue(CoreNative.jsw_last_error().contains("bits must be 4 or 8"), CoreNative.jsw_last_error());
      status = MinmaxQuantNative.jsw_minmax_quantize(-1, DType.F32.code(), x.address(), 8, 4, 8, 1, 7,
          codes.address(), 0, s.address());
      assertEquals(NativeStatus.INVALID_ARGUMENT, status);
      assertTrue(CoreNative.jsw_last_error().contains("scales is a null pointer"), CoreNative.jsw_last_error());
      status = MinmaxQuantNative.jsw_minmax_dequantize(CoreNative.jsw_cuda_device_count(), DType.F32.code(),
          codes.address(), s.address(), s.address(), 8, 4, 8, x.address());
      assertEquals(NativeStatus.NO_DEVICE, status, CoreNative.jsw_last_error());
    }
  }
}
