package jswift.nn;

import static org.junit.jupiter.api.Assertions.assertTrue;

import jswift.tensor.Arena;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Kernels;
import jswift.tensor.Tensor;
import jswift.testing.Assert;
import jswift.testing.Rand;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * A {@link Linear} over a packed weight (NF4 plain / double-quant, GPTQ, AWQ) computes its products from the packed
 * form (dequant-to-tile GEMM, fused GEMV for decode, {@link QuantizedLora} beside a plain LoRA adapter): its
 * output and every gradient (dx, dA, dB, the bias) must equal those of the same Linear over the dense
 * dequantized weight, which runs the dense GEMM / the fused LoRA kernel (tested against libtorch elsewhere), with
 * the same dropout mask. And the point of it: the largest temporary of a forward + backward stays far below the
 * dense weight's size.
 *
 * <p>Tolerance 2e-5 absolute and relative (f32): both sides multiply the same fp32 weight values and differ only
 * in GEMM summation order and blocking over in = 144 (or out = 48) terms of O(0.1-1) products, ~1e-6; a missing
 * term, a wrong mask or scale would be O(0.01-1).
 */
class LinearQuantizedTest {
  private static final int IN = 144, OUT = 48, RANK = 4;  // in not a multiple of the NF4 block: rows start mid-block

  private static Tensor f32(float[] v, long... shape) {
    return Tensor.fromFloats(v, DType.F32, Device.CPU, shape);
  }

  /** A GPTQ weight of random words (every word is a valid packing), f16 scales and an act-order g_idx. */
  private static GptqWeight gptq(String name, int out, int in, int bits, int groups, long seed) {
    int p = 32 / bits;
    Tensor qweight = Tensor.fromInts(words(in / p * out, seed), Device.CPU, in / p, out);
    Tensor qzeros = Tensor.fromInts(words(groups * out / p, seed + 1), Device.CPU, groups, out / p);
    // |q - z| < 2^bits: scales of 0.2..1 / 2^bits keep the weights O(0.1-1) at every width.
    float unit = 1f / (1 << bits);
    Tensor scales = Tensor.fromFloats(Rand.uniform((long) groups * out, seed + 2, 0.2f * unit, unit), DType.F16,
        Device.CPU, groups, out);
    int[] perm = Rand.ints(in, seed + 3, 0, groups);
    Tensor gIdx = Tensor.fromInts(perm, Device.CPU, in);
    return new GptqWeight(name, out, in, bits, DType.F32, qweight, qzeros, scales, gIdx);
  }

  /** An AWQ weight of random words (every word is a valid packing of 8 codes) and f16 scales. */
  private static AwqWeight awq(String name, int out, int in, int groupSize, long seed) {
    int groups = in / groupSize;
    Tensor qweight = Tensor.fromInts(words(in * out / 8, seed), Device.CPU, in, out / 8);
    Tensor qzeros = Tensor.fromInts(words(groups * out / 8, seed + 1), Device.CPU, groups, out / 8);
    // |q - z| < 16: scales of 0.2..1 / 16 keep the weights O(0.1-1).
    Tensor scales = Tensor.fromFloats(Rand.uniform((long) groups * out, seed + 2, 0.2f / 16, 1f / 16), DType.F16,
        Device.CPU, groups, out);
    return new AwqWeight(name, out, in, groupSize, DType.F32, qweight, qzeros, scales);
  }

  private static int[] words(int n, long seed) {
    java.util.Random r = new java.util.Random(seed);
    int[] v = new int[n];
    for (int i = 0; i < n; i++) v[i] = r.nextInt();
    return v;
  }

  /**
   * The layer under test: "nf4", "nf4dq", "gptq<bits>" or "awq" (group 48, or 128 when in is larger) base, bias,
   * and optionally a trainable LoRA adapter.
   */
  private static Linear quantized(String kind, Tensor code256, int out, int in, long seed) {
    Tensor b = f32(Rand.normal(out, seed, 1f), out);
    if (kind.equals("awq"))
      return new Linear("q", awq("q", out, in, in > IN ? 128 : 48, seed), new Parameter("q.bias", b));
    if (kind.startsWith("gptq"))
      return new Linear("q", gptq("q", out, in, Integer.parseInt(kind.substring(4)), 3, seed),
          new Parameter("q.bias", b));
    Tensor w = f32(Rand.normal((long) out * in, seed + 1, 0.1f), out, in);
    Linear l = new Linear("q", new Parameter("q.weight", w), new Parameter("q.bias", b));
    l.quantizeNf4(kind.equals("nf4dq"), code256).close();
    return l;
  }

  /** The same layer over its dequantized (dense, frozen) weight. */
  private static Linear dense(Linear q) {
    Tensor w = Tensor.allocate(DType.F32, Device.CPU, q.outFeatures(), q.inFeatures());
    try (Arena a = new Arena()) {
      w.copyFrom(q.quantizedWeight().dequantize(a));
    }
    Tensor b = f32(q.bias().value().toFloatArray(), q.outFeatures());
    return new Linear("d", new Parameter("d.weight", w), new Parameter("d.bias", b));
  }

  private static void addAdapter(Linear l, long seed, float dropout) {
    long in = l.inFeatures(), out = l.outFeatures();
    LoraAdapter ad = new LoraAdapter(new Parameter("a", f32(Rand.normal(RANK * in, seed, 0.3f), RANK, in)),
        new Parameter("b", f32(Rand.normal(out * RANK, seed + 1, 0.3f), out, RANK)), 2.0f, dropout);
    l.addAdapter("x", ad);
    l.setActiveAdapter("x");
    ad.a().setTrainable(true);
    ad.b().setTrainable(true);
    l.bias().setTrainable(true);
  }

  private record Result(float[] y, float[] dx, float[] da, float[] db, float[] dbias) {}

  private static Result run(Linear l, int tokens, long seed, boolean training) {
    try (Arena ar = new Arena()) {
      Tensor x = ar.allocate(DType.F32, Device.CPU, tokens, l.inFeatures());
      x.copyFrom(Rand.normal(tokens * l.inFeatures(), seed, 1f));
      Linear.Saved s = new Linear.Saved();
      Tensor y = l.forward(ar, x, 77L, s, training);
      Tensor dy = ar.allocate(DType.F32, Device.CPU, tokens, l.outFeatures());
      dy.copyFrom(Rand.normal(tokens * l.outFeatures(), seed + 1, 1f));
      Tensor dx = ar.allocate(DType.F32, Device.CPU, tokens, l.inFeatures());
      l.backward(ar, dy, s, 77L, dx, false);
      LoraAdapter ad = l.activeAdapter();
      return new Result(y.toFloatArray(), dx.toFloatArray(), ad == null ? null : ad.a().grad().toFloatArray(),
          ad == null ? null : ad.b().grad().toFloatArray(),
          l.bias().isTrainable() ? l.bias().grad().toFloatArray() : null);
    }
  }

  private static void expectSame(String tag, Result got, Result want) {
    Assert.close(tag + " y", got.y, want.y, 2e-5, 2e-5);
    Assert.close(tag + " dx", got.dx, want.dx, 2e-5, 2e-5);
    if (want.da != null) {
      Assert.close(tag + " dA", got.da, want.da, 2e-5, 2e-5);
      Assert.close(tag + " dB", got.db, want.db, 2e-5, 2e-5);
      Assert.close(tag + " dbias", got.dbias, want.dbias, 2e-5, 2e-5);
    }
  }

  @ParameterizedTest
  @CsvSource({"nf4, 1, false, 0", "nf4dq, 5, true, 0.2", "gptq4, 67, true, 0.3", "gptq2, 3, true, 0",
      "gptq8, 5, false, 0", "nf4, 67, false, 0", "gptq4, 2, false, 0", "awq, 67, true, 0.3", "awq, 5, false, 0",
      "awq, 3, true, 0", "nf4, 1, true, 0", "nf4dq, 4, true, 0.2", "gptq4, 1, true, 0.1",
      // the CPU's GEMVs in slices of the kernel's rows (8; AWQ 4)
      "awq, 13, false, 0", "awq, 16, true, 0.2", "gptq4, 12, true, 0", "nf4dq, 16, false, 0"})
  void matchesTheDequantizedDensePath(String kind, int tokens, boolean lora, float dropout) {
    try (Tensor code256 = Nf4Weight.dynamicMap(Device.CPU); Linear q = quantized(kind, code256, OUT, IN, tokens);
        Linear d = dense(q)) {
      if (lora) {
        addAdapter(q, 5, dropout);
        addAdapter(d, 5, dropout);
      }
      String tag = kind + " tokens " + tokens + (lora ? " lora p=" + dropout : "");
      expectSame(tag, run(q, tokens, 9, true), run(d, tokens, 9, true));
      if (lora && dropout > 0) expectSame(tag + " eval", run(q, tokens, 10, false), run(d, tokens, 10, false));
    }
  }

  /**
   * Activation checkpointing over a packed base: the layer's first forward keeps xa = drop(x) A^T in the step's
   * arena and the recomputed forward reuses it. The recomputation then gives what the first forward gave and the
   * backward the gradients of an ordinary forward + backward; and it really reuses xa: with A changed between the
   * two forwards, the recomputed output is still the first one (recomputing xa would change it).
   */
  @ParameterizedTest
  @CsvSource({"nf4dq, 0.2", "gptq4, 0.3", "awq, 0", "nf4, 0.1"})
  void recomputationReusesTheCheckpointedXa(String kind, float dropout) {
    int tokens = 7;
    try (Tensor code256 = Nf4Weight.dynamicMap(Device.CPU); Linear q = quantized(kind, code256, OUT, IN, 2);
        Arena step = new Arena()) {
      addAdapter(q, 8, dropout);
      Result plain = run(q, tokens, 13, true);
      q.activeAdapter().a().grad().copyFrom(new float[RANK * IN]);
      q.activeAdapter().b().grad().copyFrom(new float[OUT * RANK]);
      q.bias().grad().copyFrom(new float[OUT]);

      Tensor x = step.allocate(DType.F32, Device.CPU, tokens, IN);
      x.copyFrom(Rand.normal(tokens * IN, 13, 1f));
      Linear.Saved s = new Linear.Saved();
      s.keepXaIn(step);
      float[] first;
      try (Arena layer = new Arena()) {  // the checkpointed forward's activations die with its arena
        first = q.forward(layer, x, 77L, s, true).toFloatArray();
      }
      Assert.close(kind + " checkpointed forward", first, plain.y, 0, 0);
      Tensor a = q.activeAdapter().aValue();
      float[] aValues = a.toFloatArray();
      try (Arena layer = new Arena()) {
        Tensor dy = layer.allocate(DType.F32, Device.CPU, tokens, OUT);
        dy.copyFrom(Rand.normal(tokens * OUT, 14, 1f));
        Tensor dx = layer.allocate(DType.F32, Device.CPU, tokens, IN);
        float[] recomputed = q.forward(layer, x, 77L, s, true).toFloatArray();
        Assert.close(kind + " recomputed forward", recomputed, plain.y, 0, 0);
        q.backward(layer, dy, s, 77L, dx, false);
        Assert.close(kind + " dx", dx.toFloatArray(), plain.dx, 0, 0);
        Assert.close(kind + " dA", q.activeAdapter().a().grad().toFloatArray(), plain.da, 0, 0);
        Assert.close(kind + " dB", q.activeAdapter().b().grad().toFloatArray(), plain.db, 0, 0);

        Linear.Saved s2 = new Linear.Saved();
        s2.keepXaIn(step);
        q.forward(layer, x, 77L, s2, true);
        float[] changed = aValues.clone();
        for (int i = 0; i < changed.length; i++) changed[i] *= 2f;
        a.copyFrom(changed);
        float[] reused = q.forward(layer, x, 77L, s2, true).toFloatArray();
        Assert.close(kind + " the recomputation reads the kept xa, not A", reused, plain.y, 0, 0);
        a.copyFrom(aValues);
      }
    }
  }

  /**
   * Inference with the adapter unmerged (no saved activations, no dropout) on decode-shaped inputs: the packed
   * weight's GEMV plus the adapter's term in one call ({@link jswift.tensor.Kernels#loraDelta}) must give what the
   * dense layer's fused LoRA kernel gives.
   */
  @ParameterizedTest
  @CsvSource({"nf4, 1", "nf4dq, 4", "gptq4, 2", "awq, 3", "nf4, 5"})
  void inferenceWithAnUnmergedAdapterMatchesTheDensePath(String kind, int tokens) {
    try (Tensor code256 = Nf4Weight.dynamicMap(Device.CPU); Linear q = quantized(kind, code256, OUT, IN, tokens);
        Linear d = dense(q); Arena ar = new Arena()) {
      addAdapter(q, 6, 0.3f);
      addAdapter(d, 6, 0.3f);
      Tensor x = ar.allocate(DType.F32, Device.CPU, 1, tokens, IN);
      x.copyFrom(Rand.normal((long) tokens * IN, 12, 1f));
      float[] got = q.forward(ar, x, 5L, null, false).toFloatArray();
      float[] want = d.forward(ar, x, 5L, null, false).toFloatArray();
      Assert.close(kind + " tokens " + tokens + " inference", got, want, 2e-5, 2e-5);
    }
  }

  /**
   * Peak host bytes allocated during one LoRA forward + backward over the packed weight, above what was allocated
   * before (the native allocator counts tensors and kernel scratch alike), against the dense fp32 weight: the
   * dense path would allocate all of it (plus the packed weight's own bytes are not counted: they exist before).
   * The tile is 4 MiB (1 Mi fp32 values); the weights are 32 MiB; activations are under 1 MiB.
   */
  @ParameterizedTest
  @CsvSource({"nf4dq, 16384, 512", "gptq4, 4096, 2048", "awq, 4096, 2048"})
  void largestTemporaryIsFarBelowTheDenseWeight(String kind, int out, int in) {
    try (Tensor code256 = Nf4Weight.dynamicMap(Device.CPU); Linear q = quantized(kind, code256, out, in, 3)) {
      addAdapter(q, 4, 0.1f);
      long denseBytes = 4L * out * in;
      long before = Kernels.memoryStats(Device.CPU)[0];
      Kernels.resetPeakMemory(Device.CPU);
      run(q, 8, 11, true);
      long peak = Kernels.memoryStats(Device.CPU)[2] - before;
      assertTrue(peak < denseBytes / 4, kind + ": peak temporary " + peak + " bytes, dense weight " + denseBytes);
      assertTrue(peak >= 4L << 20, kind + ": the 4 MiB tile should be the largest temporary, peak " + peak);
    }
  }
}
