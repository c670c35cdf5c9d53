package jswift.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jswift.bindings.CoreNative;
import jswift.bindings.Nf4Native;
import jswift.testing.Rand;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * NF4 in the bitsandbytes layout: hand-computed bytes, an independent Java implementation of bitsandbytes'
 * quantizer (its CUDA decision tree, its x * (1 / absmax) scaling, its high-nibble-first packing, its 8-bit
 * dynamic-map search), the dynamic map itself, and double quantization. Codes must match bit for bit;
 * dequantized values must be within 1 ulp of the fp32 product level * absmax (one rounding on both sides, so in
 * practice they are identical).
 */
class Nf4Test {
  /** bitsandbytes' NF4 levels, as printed in get_4bit_type and its CUDA LUT. */
  private static final float[] NF4 = {-1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
      -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f, 0.07958029955625534f,
      0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f, 0.44070982933044434f, 0.5626170039176941f,
      0.7229568362236023f, 1.0f};

  // ---- an independent reference of bitsandbytes' algorithm ----

  /** dQuantizeNF4: bitsandbytes' binary decision tree over the midpoints, `x > threshold` at every node. */
  private static int bnbNf4(float x) {
    if (x > 0.03979014977812767f) {
      if (x > 0.3893125355243683f) {
        if (x > 0.6427869200706482f) return x > 0.8614784181118011f ? 15 : 14;
        return x > 0.5016634166240692f ? 13 : 12;
      }
      if (x > 0.2035212516784668f) return x > 0.2920137718319893f ? 11 : 10;
      return x > 0.1202552504837513f ? 9 : 8;
    }
    if (x > -0.33967943489551544f) {
      if (x > -0.13791173323988914f) return x > -0.045525018125772476f ? 7 : 6;
      return x > -0.23460740596055984f ? 5 : 4;
    }
    if (x > -0.6106329262256622f) return x > -0.4599952697753906f ? 3 : 2;
    return x > -0.8480964004993439f ? 1 : 0;
  }

  private record Quantized(byte[] packed, float[] absmax) {}

  /** kQuantizeBlockwise for NF4: a zero-padded last block, absmax, x * (1 / absmax), two codes per byte. */
  private static Quantized bnbQuantize(float[] x, int blocksize) {
    int n = x.length, blocks = (n + blocksize - 1) / blocksize;
    float[] absmax = new float[blocks];
    int[] codes = new int[n + 1];
    for (int b = 0; b < blocks; b++) {
      float m = 0f;
      for (int i = b * blocksize; i < Math.min(n, (b + 1) * blocksize); i++) m = Math.max(m, Math.abs(x[i]));
      absmax[b] = m;
      float inv = 1.0f / m;
      for (int i = b * blocksize; i < (b + 1) * blocksize && i < n + 1; i++)
        codes[i] = bnbNf4((i < n ? x[i] : 0f) * inv);
    }
    byte[] packed = new byte[(n + 1) / 2];
    for (int k = 0; k < packed.length; k++) packed[k] = (byte) ((codes[2 * k] << 4) | codes[2 * k + 1]);
    return new Quantized(packed, absmax);
  }

  /** kQuantizeBlockwise's dQuantize<0> on the dynamic map: 7-step binary search, then the nearer neighbour. */
  private static int bnbDynamic(float[] code, float x) {
    int pivot = 127, upperPivot = 255, lowerPivot = 0;
    float lower = -1f, upper = 1f, val = code[pivot];
    for (int step = 64; step > 0; step >>= 1) {
      if (x > val) {
        lowerPivot = pivot;
        lower = val;
        pivot += step;
      } else {
        upperPivot = pivot;
        upper = val;
        pivot -= step;
      }
      val = code[pivot];
    }
    if (upperPivot == 255) upper = code[255];
    if (lowerPivot == 0) lower = code[0];
    if (x > val) return x > (upper + val) * 0.5f ? upperPivot : pivot;
    return x < (lower + val) * 0.5f ? lowerPivot : pivot;
  }

  /**
   * create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8) in fp32 as PyTorch evaluates it on x86:
   * torch.linspace(0.1, 1, 2^i + 1) (start + step*k below the halfway index, end - step*(steps-1-k) above it,
   * each a fused multiply-add in PyTorch's AVX2/AVX512 kernels), means (b[k] + b[k+1]) / 2, times +-10^(i-6).
   */
  private static float[] bnbDynamicMap() {
    float[] data = new float[256];
    int n = 0;
    for (int i = 0; i < 7; i++) {
      int steps = (1 << i) + 1, halfway = steps / 2;
      float start = 0.1f, end = 1.0f, step = (end - start) / (float) (steps - 1);
      float[] b = new float[steps];
      for (int k = 0; k < steps; k++)
        b[k] = k < halfway ? Math.fma(step, (float) k, start) : Math.fma(-step, (float) (steps - k - 1), end);
      float scale = (float) Math.pow(10.0, i - 6);
      for (int k = 0; k + 1 < steps; k++) {
        float mean = (b[k] + b[k + 1]) / 2.0f;
        data[n++] = scale * mean;
        data[n++] = -scale * mean;
      }
    }
    data[n++] = 0f;
    data[n++] = 1f;
    assertEquals(256, n);
    java.util.Arrays.sort(data);
    return data;
  }

  // ---- jswift calls ----

  private static Quantized quantize(float[] x, DType dtype, int blocksize) {
    int n = x.length;
    try (Arena a = new Arena()) {
      Tensor tx = a.allocate(dtype, Device.CPU, n);
      tx.copyFrom(x);
      Tensor packed = a.allocate(DType.U8, Device.CPU, (n + 1) / 2);
      Tensor absmax = a.allocate(DType.F32, Device.CPU, (n + blocksize - 1) / blocksize);
      Kernels.nf4Quantize(tx, blocksize, packed, absmax);
      return new Quantized(packed.toByteArray(), absmax.toFloatArray());
    }
  }

  private static float[] dequantize(Quantized q, int n, int blocksize, DType dtype) {
    try (Arena a = new Arena()) {
      Tensor packed = a.allocate(DType.U8, Device.CPU, q.packed.length);
      packed.copyFrom(q.packed);
      Tensor absmax = a.allocate(DType.F32, Device.CPU, q.absmax.length);
      absmax.copyFrom(q.absmax);
      Tensor out = a.allocate(dtype, Device.CPU, n);
      Kernels.nf4Dequantize(packed, absmax, blocksize, out);
      return out.toFloatArray();
    }
  }

  private static int nibble(byte[] packed, int i) {
    int b = packed[i / 2] & 0xFF;
    return i % 2 == 0 ? b >> 4 : b & 15;
  }

  // ---- tests ----

  @Test
  void codebookIsBitsandbytesNf4() {
    assertArrayEquals(NF4, Kernels.nf4Codebook());
  }

  @Test
  void goldenBytes() {
    // blocksize 4, n = 7: [1, -1, 0, 0.5] (absmax 1) -> 15, 0, 7, 12 (0.4407 is nearer to 0.5 than 0.5626);
    // [-0.5, 0.1, 0.3] (absmax 0.5) scaled by 2 -> -1: 0, 0.2: 9 (0.1609), 0.6: 13 (0.5626), padding 0: 7.
    Quantized q = quantize(new float[] {1f, -1f, 0f, 0.5f, -0.5f, 0.1f, 0.3f}, DType.F32, 4);
    assertArrayEquals(new byte[] {(byte) 0xF0, (byte) 0x7C, (byte) 0x09, (byte) 0xD7}, q.packed);
    assertArrayEquals(new float[] {1f, 0.5f}, q.absmax);
    assertArrayEquals(new float[] {1f, -1f, 0f, 0.44070982933044434f, -0.5f, 0.16093020141124725f * 0.5f,
        0.5626170039176941f * 0.5f}, dequantize(q, 7, 4, DType.F32));
    // One partial block (n = 3 < blocksize 64): absmax 2; -1 -> 0, 0.5 -> 12, 0.125 -> 9, padding -> 7.
    Quantized partial = quantize(new float[] {-2f, 1f, 0.25f}, DType.F32, 64);
    assertArrayEquals(new byte[] {(byte) 0x0C, (byte) 0x97}, partial.packed);
    assertArrayEquals(new float[] {2f}, partial.absmax);
    // On a threshold exactly: the lower code (bitsandbytes tests x > threshold); one ulp above: the upper code.
    float t = 0.03979014977812767f;
    Quantized ties = quantize(new float[] {1f, t, Math.nextUp(t), -t}, DType.F32, 4);
    assertArrayEquals(new byte[] {(byte) 0xF7, (byte) 0x87}, ties.packed);
  }

  @ParameterizedTest(name = "n={0} blocksize={1} {2}")
  @CsvSource({"1, 64, F32", "63, 64, F32", "4097, 64, F32", "4097, 64, BF16", "1000, 128, F16", "333, 7, F32",
      "70001, 4096, BF16"})
  void matchesIndependentBitsandbytesReference(int n, int blocksize, DType dtype) {
    float[] x = Rand.normal(n, n + blocksize);
    if (n > 200) java.util.Arrays.fill(x, 64, 64 + blocksize, 0f); // a zero block where the blocksize allows
    try (Tensor rounded = Tensor.fromFloats(x, dtype, Device.CPU, n)) {
      x = rounded.toFloatArray(); // the reference sees the stored values
    }
    Quantized want = bnbQuantize(x, blocksize);
    Quantized got = quantize(x, dtype, blocksize);
    assertArrayEquals(want.absmax, got.absmax, "absmax");
    assertArrayEquals(want.packed, got.packed, "packed codes");
    float[] back = dequantize(got, n, blocksize, DType.F32);
    for (int i = 0; i < n; i++) {
      float value = NF4[nibble(got.packed, i)] * got.absmax[i / blocksize];
      assertEquals(value, back[i], Math.ulp(value), "dequantized element " + i);
    }
    float[] back16 = dequantize(got, n, blocksize, DType.BF16);
    try (Tensor once = Tensor.fromFloats(back, DType.BF16, Device.CPU, n)) {
      assertArrayEquals(once.toFloatArray(), back16, "bf16 output is the fp32 value rounded once");
    }
  }

  @Test
  void dynamicMapIsBitsandbytesSignedMap() {
    float[] code = Kernels.dynamicMapSigned();
    assertEquals(256, code.length);
    for (int i = 1; i < 256; i++) assertTrue(code[i - 1] < code[i], "strictly increasing at " + i);
    assertTrue(code[0] >= -1f && code[255] == 1f, "within [-1, 1], 1 included");
    assertEquals(0f, code[127], "zero sits at index 127");
    // bnb appends 0 and 1.0 to 127 positive means and their negatives: the negatives mirror the positives.
    for (int k = 0; k < 127; k++) assertEquals(-code[254 - k], code[k], "mirror of " + k);
    // Hand-checked from the formula: the largest mean of the 10^0 decade is (1 - 0.9/128) = 0.99296875; the
    // smallest magnitude is 10^-6 * (0.1 + 1) / 2 = 5.5e-7 (fp32: 1e-6f times 0.55f); 0.12109375 = 31/256 and
    // 0.05078125 = 13/256 are exact means of the 10^0 and 10^-1 decades.
    assertEquals(0.99296875f, code[254]);
    assertEquals(1e-6f * ((0.1f + 1.0f) / 2.0f), code[128]);
    assertEquals(0.12109375f, code[192]);
    assertEquals(-0.05078125f, code[81]);
    // Values read off a map saved by bitsandbytes (x86 PyTorch), including entries whose last bit depends on
    // linspace's fused multiply-add.
    assertEquals(-0.09578125923871994f, code[65]);
    assertEquals(-0.07609374821186066f, code[72]);
    assertEquals(0.7398437261581421f, code[236]);
    assertEquals(0.0003812500217463821f, code[137]);
    assertArrayEquals(bnbDynamicMap(), code, "the whole map, rebuilt independently");
  }

  @ParameterizedTest(name = "blocks={0}")
  @CsvSource({"1", "255", "256", "1001"})
  void doubleQuantizationRoundTrip(int blocks) {
    float[] code = Kernels.dynamicMapSigned();
    int blocksize = 64, n = blocks * blocksize - 11;
    float[] w = Rand.normal(n, blocks);
    Quantized q = quantize(w, DType.F32, blocksize);
    try (Arena a = new Arena()) {
      Tensor absmax = a.allocate(DType.F32, Device.CPU, blocks);
      absmax.copyFrom(q.absmax);
      Tensor qa = a.allocate(DType.U8, Device.CPU, blocks);
      Tensor nested = a.allocate(DType.F32, Device.CPU, (blocks + 255) / 256);
      Tensor offsetT = a.allocate(DType.F32, Device.CPU, 1);
      Kernels.quantizeAbsmax8bit(absmax, qa, nested, offsetT);
      byte[] codes = qa.toByteArray();
      float[] nestedAbsmax = nested.toFloatArray();
      float offset = offsetT.toFloatArray()[0];

      // Independent reference: the fp64 mean (group sums of 256, then their total, in order), then bnb's
      // blockwise 8-bit quantization of absmax - offset with the dynamic map.
      double total = 0;
      for (int g = 0; g * 256 < blocks; g++) {
        double s = 0;
        for (int b = g * 256; b < Math.min(blocks, (g + 1) * 256); b++) s += q.absmax[b];
        total += s;
      }
      assertEquals((float) (total / blocks), offset, "offset = mean(absmax)");
      for (int g = 0; g * 256 < blocks; g++) {
        float m = 0;
        for (int b = g * 256; b < Math.min(blocks, (g + 1) * 256); b++) m = Math.max(m, Math.abs(q.absmax[b] - offset));
        assertEquals(m, nestedAbsmax[g], "nested absmax of group " + g);
        for (int b = g * 256; b < Math.min(blocks, (g + 1) * 256); b++)
          assertEquals(bnbDynamic(code, (q.absmax[b] - offset) * (1f / m)), codes[b] & 0xFF, "8-bit code " + b);
      }

      // Recovered absmax: within half the widest gap of the map (0.00703 near +-1) times the group scale.
      float[] recovered = new float[blocks];
      for (int b = 0; b < blocks; b++) {
        recovered[b] = code[codes[b] & 0xFF] * nestedAbsmax[b / 256] + offset;
        assertEquals(q.absmax[b], recovered[b], 0.00704f * nestedAbsmax[b / 256] + 1e-6f, "recovered absmax " + b);
      }
      // Dequantization straight from the 8-bit statistics = dequantization with the recovered absmax.
      float[] plain = dequantize(new Quantized(q.packed, recovered), n, blocksize, DType.F32);
      Tensor packed = a.allocate(DType.U8, Device.CPU, q.packed.length);
      packed.copyFrom(q.packed);
      Tensor code256 = a.allocate(DType.F32, Device.CPU, 256);
      code256.copyFrom(code);
      Tensor out = a.allocate(DType.F32, Device.CPU, n);
      Kernels.nf4DequantizeDoubleQuant(packed, qa, nested, code256, offset, blocksize, out);
      assertArrayEquals(plain, out.toFloatArray());
    }
  }

  @Test
  void rejectsBadArgumentsBeforeNativeCode() {
    try (Arena a = new Arena()) {
      Tensor x = a.zeros(DType.F32, Device.CPU, 10);
      Tensor packed = a.zeros(DType.U8, Device.CPU, 5);
      Tensor absmax2 = a.zeros(DType.F32, Device.CPU, 2);
      IllegalArgumentException e =
          assertThrows(IllegalArgumentException.class, () -> Kernels.nf4Quantize(x, 4, packed, absmax2));
      assertTrue(e.getMessage().contains("absmax must have 3 elements"), e.getMessage());
      Tensor shortPacked = a.zeros(DType.U8, Device.CPU, 4);
      Tensor absmax3 = a.zeros(DType.F32, Device.CPU, 3);
      e = assertThrows(IllegalArgumentException.class, () -> Kernels.nf4Quantize(x, 4, shortPacked, absmax3));
      assertTrue(e.getMessage().contains("packed must have 5 elements"), e.getMessage());
      Tensor packedI8 = a.zeros(DType.I8, Device.CPU, 5);
      e = assertThrows(IllegalArgumentException.class, () -> Kernels.nf4Quantize(x, 4, packedI8, absmax3));
      assertTrue(e.getMessage().contains("packed must be uint8"), e.getMessage());
      e = assertThrows(IllegalArgumentException.class, () -> Kernels.nf4Quantize(x, 0, packed, absmax3));
      assertTrue(e.getMessage().contains("blocksize must be > 0"), e.getMessage());
      Tensor intOut = a.zeros(DType.I32, Device.CPU, 10);
      e = assertThrows(IllegalArgumentException.class, () -> Kernels.nf4Dequantize(packed, absmax3, 4, intOut));
      assertTrue(e.getMessage().contains("out must be f32, bf16 or f16"), e.getMessage());
      Tensor freed = Tensor.zeros(DType.F32, Device.CPU, 1);
      freed.close();
      Tensor q = a.zeros(DType.U8, Device.CPU, 3);
      Tensor nested = a.zeros(DType.F32, Device.CPU, 1);
      e = assertThrows(IllegalArgumentException.class, () -> Kernels.quantizeAbsmax8bit(absmax3, q, nested, freed));
      assertTrue(e.getMessage().contains("offset was already freed"), e.getMessage());
      Tensor shortCode = a.zeros(DType.F32, Device.CPU, 255);
      Tensor out = a.zeros(DType.F32, Device.CPU, 10);
      e = assertThrows(IllegalArgumentException.class,
          () -> Kernels.nf4DequantizeDoubleQuant(packed, q, nested, shortCode, 0f, 4, out));
      assertTrue(e.getMessage().contains("code256 must have 256 elements"), e.getMessage());
    }
  }

  @Test
  void cAbiRejectsNullPointersAndMissingDevices() {
    try (Arena a = new Arena()) {
      Tensor x = a.zeros(DType.F32, Device.CPU, 8);
      Tensor packed = a.zeros(DType.U8, Device.CPU, 4);
      int status = Nf4Native.jsw_nf4_quantize(-1, DType.F32.code(), x.address(), 8, 4, packed.address(), 0);
      assertEquals(NativeStatus.INVALID_ARGUMENT, status);
      assertTrue(CoreNative.jsw_last_error().contains("absmax is a null pointer"), CoreNative.jsw_last_error());
      status = Nf4Native.jsw_nf4_dequantize(CoreNative.jsw_cuda_device_count(), DType.F32.code(), packed.address(),
          x.address(), 8, 4, x.address());
      assertEquals(NativeStatus.NO_DEVICE, status, CoreNative.jsw_last_error());
    }
  }
}
