package jswift.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jswift.tensor.Arena;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Tensor;
import jswift.testing.Assert;
import jswift.testing.Rand;
import jswift.testing.Torch;
import org.bytedeco.pytorch.GeneratorOptional;
import org.bytedeco.pytorch.LongArrayRefOptional;
import org.bytedeco.pytorch.StringViewOptional;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * FourierFT ({@link FourierBases}, {@link FourierLinear}) against PEFT's own recipe run in libtorch: the locations
 * from {@code torch.randperm(out * in, generator=manual_seed(seed))[:n]}, ΔW = {@code torch.fft.ifft2(dense,
 * norm=...).real * scaling} of the dense spectrum, y = x W^T + bias + F.linear(x, ΔW), with the gradients of x and
 * of the coefficients through torch's autograd of ifft2. Tolerances: fp32 sums of up to 2n = 80 terms of size
 * O(1) against float64, 2e-5; a wrong sign or location is O(0.1).
 */
class FourierLinearTest {
  private static final int IN = 20, OUT = 12;

  /** torch.randperm(size, generator=torch.Generator().manual_seed(seed)), whole. */
  private static long[] torchRandperm(long size, long seed) {
    Torch.load();
    var g = torch.createCPUGenerator(seed);
    var p = torch.randperm(size, new GeneratorOptional(g));
    long[] out = new long[(int) size];
    new org.bytedeco.javacpp.LongPointer(p.contiguous().data_ptr_long()).get(out);
    return out;
  }

  @ParameterizedTest
  @CsvSource({"10, 0", "240, 777", "1000, 42", "2, 5", "1, 3", "4294967297, 9"})
  void locationsAreTorchsRandperm(long size, long seed) {
    if (size > 1_000_000) {  // a seed beyond 32 bits: torch keeps the low 32 bits, as TorchCpuRandom does
      assertArrayEquals(new TorchCpuRandom(seed).randpermPrefix(300, 300), torchRandperm(300, seed));
      return;
    }
    long[] want = torchRandperm(size, seed);
    for (int count : new int[] {0, 1, (int) size / 2, (int) size}) {
      long[] prefix = new long[count];
      System.arraycopy(want, 0, prefix, 0, count);
      assertArrayEquals(prefix, new TorchCpuRandom(seed).randpermPrefix(size, count), size + " / " + count);
    }
  }

  @Test
  void randpermOfTenFromSeedZeroIsTorchsPublishedOne() {
    // torch.manual_seed(0); torch.randperm(10) -> tensor([4, 1, 7, 5, 3, 9, 0, 8, 6, 2])
    assertArrayEquals(new long[] {4, 1, 7, 5, 3, 9, 0, 8, 6, 2}, new TorchCpuRandom(0).randpermPrefix(10, 10));
  }

  @Test
  void refusesWhatTorchDrawsOtherwiseOrPeftRefuses() {
    var e = assertThrows(IllegalArgumentException.class,
        () -> new TorchCpuRandom(1).randpermPrefix(TorchCpuRandom.RANDPERM_32BIT_LIMIT, 4));
    assertTrue(e.getMessage().contains("64-bit"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> FourierBases.locations(OUT, IN, OUT * IN, 777));
    assertTrue(e.getMessage().contains("n_frequency must be in [1, 239]"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> FourierBases.scale("none", 1, 2, 2));
  }

  /** PEFT's get_delta_weight in torch: ifft2 of the dense spectrum, real part, times scaling ([out, in], float64). */
  private static org.bytedeco.pytorch.Tensor torchDelta(org.bytedeco.pytorch.Tensor c, long[] locations, String norm,
      double scaling) {
    var dense = Torch.tensor(new float[OUT * IN], OUT * IN).index_add(0, Torch.longs(locations, locations.length), c);
    // The norm's bytes must outlive the call: StringViewOptional(String) views a temporary that is gone by then.
    var normBytes = new org.bytedeco.javacpp.BytePointer(norm);
    var spectrum = torch.fft_ifft2(dense.view(OUT, IN), new LongArrayRefOptional(), new long[] {-2, -1},
        new StringViewOptional(normBytes));
    java.lang.ref.Reference.reachabilityFence(normBytes);
    return torch.real(spectrum).mul(Torch.scalar(scaling));
  }

  @ParameterizedTest
  @CsvSource({"backward, 150, 40", "ortho, 1.5, 17", "forward, 0.01, 239"})
  void basesReproducePeftsInverseFourierTransform(String norm, double scaling, int n) {
    long[] loc = FourierBases.locations(OUT, IN, n, 777);
    float[] c = Rand.normal(n, 3);
    float[][] ab = FourierBases.factors(OUT, IN, loc);
    double s = FourierBases.scale(norm, scaling, OUT, IN);
    float[] delta = new float[OUT * IN];
    for (int p = 0; p < OUT; p++)
      for (int q = 0; q < IN; q++) {
        double sum = 0;
        for (int k = 0; k < 2 * n; k++) sum += ab[1][p * 2 * n + k] * (double) c[k % n] * ab[0][k * IN + q];
        delta[p * IN + q] = (float) (s * sum);
      }
    float[] want = Torch.floats(torchDelta(Torch.tensor(c, n), loc, norm, scaling));
    Assert.close(norm + " ΔW", delta, want, 2e-5 * Math.max(1, scaling * s * n), 1e-4);
  }

  private record Result(float[] y, float[] dx, float[] dc) {}

  private static Result torchLayer(float[] x, int tokens, float[] w, float[] bias, float[] c, long[] loc, float[] dy,
      double scaling) {
    var tx = Torch.param(x, tokens, IN);
    var tc = Torch.param(c, c.length);
    var y = tx.matmul(Torch.tensor(w, OUT, IN).t()).add(Torch.tensor(bias, OUT))
        .add(tx.matmul(torchDelta(tc, loc, "backward", scaling).t()));
    Torch.dot(y, Torch.tensor(dy, tokens, OUT)).backward();
    return new Result(Torch.floats(y), Torch.floats(tx.grad()), Torch.floats(tc.grad()));
  }

  private static Tensor f32(float[] v, long... shape) {
    return Tensor.fromFloats(v, DType.F32, Device.CPU, shape);
  }

  private static Linear fourierLayer(FourierBases bases, float[] w, float[] bias, float[] c, double scaling) {
    Linear l = new Linear("t", new Parameter("t.weight", f32(w, OUT, IN)), new Parameter("t.bias", f32(bias, OUT)));
    LoraAdapter ad = LoraAdapter.fourier(new Parameter("t.fourierft_spectrum", f32(c, c.length)),
        bases.pair(OUT, IN, c.length), (float) FourierBases.scale("backward", scaling, OUT, IN));
    l.addAdapter("f", ad);
    l.setActiveAdapter("f");
    ad.spectrum().setTrainable(true);
    return l;
  }

  private static Result run(Linear l, float[] x, int tokens, float[] dy) {
    try (Arena ar = new Arena()) {
      Linear.Saved s = new Linear.Saved();
      Tensor y = l.forward(ar, f32(x, tokens, IN), 0, s, true);
      Tensor dx = ar.allocate(DType.F32, Device.CPU, tokens, IN);
      l.backward(ar, f32(dy, tokens, OUT), s, 0, dx, false);
      return new Result(y.toFloatArray(), dx.toFloatArray(), l.activeAdapter().spectrum().grad().toFloatArray());
    }
  }

  /** Both ways to compute the layer (the rank-2n path and ΔW formed), each forced, and the one picked by cost. */
  @ParameterizedTest
  @CsvSource({"1, 30, 150, false", "1, 30, 150, true", "9, 40, 300, false", "9, 40, 300, true", "33, 7, 1000, false",
      "33, 7, 1000, true", "33, 7, 1000, ", "2, 100, 10, "})
  void layerMatchesPeftsFourierFtLinearForwardAndBackward(int tokens, int n, double scaling, Boolean materialized) {
    float[] x = Rand.normal(tokens * IN, 10 + tokens), w = Rand.normal(OUT * IN, 11, 0.3f), bias = Rand.normal(OUT, 12),
        c = Rand.normal(n, 13), dy = Rand.normal(tokens * OUT, 14);
    FourierLinear.forceMaterialized = materialized;
    try (FourierBases bases = new FourierBases(777, DType.F32, Device.CPU);
        Linear l = fourierLayer(bases, w, bias, c, scaling)) {
      Result got = run(l, x, tokens, dy);
      Result want = torchLayer(x, tokens, w, bias, c, FourierBases.locations(OUT, IN, n, 777), dy, scaling);
      Assert.close("y", got.y, want.y, 2e-5, 2e-5);
      Assert.close("dx", got.dx, want.dx, 2e-5, 2e-5);
      Assert.close("dc", got.dc, want.dc, 2e-5, 2e-5);
    } finally {
      FourierLinear.forceMaterialized = null;
    }
  }

  @Test
  void theCheaperPathIsPicked() {
    // (tokens, 2n, 2U: twice the distinct rows, at most 2 out, in, out)
    assertTrue(FourierLinear.materialize(2048, 4000, 512, 256, 256), "a 256-wide layer at n = 2000");
    assertFalse(FourierLinear.materialize(2048, 4000, 7000, 4096, 4096), "a 4096-wide layer at n = 2000, 2048 tokens");
    assertTrue(FourierLinear.materialize(32768, 4000, 7000, 4096, 4096), "... but 32768 tokens");
    assertFalse(FourierLinear.materialize(1, 4000, 512, 256, 256), "decode");
  }

  @Test
  void zeroCoefficientsChangeNothingAndFrozenOnesGetNoGradient() {
    int tokens = 5, n = 30;
    float[] x = Rand.normal(tokens * IN, 1), w = Rand.normal(OUT * IN, 2), bias = Rand.normal(OUT, 3),
        dy = Rand.normal(tokens * OUT, 4);
    try (FourierBases bases = new FourierBases(777, DType.F32, Device.CPU);
        Linear l = fourierLayer(bases, w, bias, new float[n], 150); Arena ar = new Arena()) {
      float[] adapted = l.forward(ar, f32(x, tokens, IN), 0, null, false).toFloatArray();
      l.setActiveAdapter(null);
      float[] base = l.forward(ar, f32(x, tokens, IN), 0, null, false).toFloatArray();
      assertArrayEquals(base, adapted);
      l.setActiveAdapter("f");
      LoraAdapter ad = l.activeAdapter();
      ad.spectrum().setTrainable(false);
      Linear.Saved s = new Linear.Saved();
      l.forward(ar, f32(x, tokens, IN), 0, s, true);
      Tensor dx = ar.allocate(DType.F32, Device.CPU, tokens, IN);
      l.backward(ar, f32(dy, tokens, OUT), s, 0, dx, false);
      assertNull(ad.spectrum().grad());
      assertEquals(1, ad.ownParameters().size(), "only the spectrum is the adapter's own, the bases are shared");
      assertTrue(bases.pair(OUT, IN, n).a() == ad.a(), "one basis pair per shape and n");
    }
  }
}
