package jswift.nn;

import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jswift.tensor.Arena;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Kernels;
import jswift.tensor.Tensor;
import jswift.testing.Assert;
import jswift.testing.Rand;
import jswift.testing.Torch;
import org.bytedeco.pytorch.ScalarTypeOptional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * A {@link Linear} with a DoRA adapter against PEFT's formulas in torch autograd (fp64), forward and backward for
 * x, A, B, the magnitude, W and b: eval (and lora_dropout 0) y = b + (m / n) z(x); training with dropout
 * y = b + (x - xd) W^T + (m / n) z(xd), z(x) = x W^T + s (x A^T) B^T, n = ||W + s B A||_row a constant
 * (detached), xd = drop(x) with the engine's mask (read back through {@link Kernels#dropout} of ones).
 *
 * <p>Tolerances: every value is an fp32 GEMM or scaling of at most ~13-term sums of O(1) numbers, so 1e-5
 * absolute and relative leaves a margin of ~10 over the fp32 rounding while a missing term or factor is O(0.1).
 */
class DoraLinearTest {
  private static final int IN = 13, OUT = 9, RANK = 3;
  private static final float SCALE = 1.5f;

  private record Case(int tokens, float[] x, float[] w, float[] b, float[] a, float[] bm, float[] m, float[] dy) {
    static Case draw(int tokens, long seed) {
      float[] w = Rand.normal((long) OUT * IN, seed, (float) (1 / Math.sqrt(IN)));
      float[] m = Rand.uniform(OUT, seed + 1, 0.5f, 1.5f);  // m / n far from 1, so both paths matter
      return new Case(tokens, Rand.normal((long) tokens * IN, seed + 2), w, Rand.normal(OUT, seed + 3),
          Rand.normal((long) RANK * IN, seed + 4, (float) (1 / Math.sqrt(IN))), Rand.normal((long) OUT * RANK, seed + 5),
          m, Rand.normal((long) tokens * OUT, seed + 6));
    }
  }

  /** Gradients and output of one run; dm etc. are the increments of accumulated gradients. */
  private record Result(float[] y, float[] dx, float[] da, float[] db, float[] dm, float[] dw, float[] dbias) {}

  private static Result torch(Case c, float[] mask) {
    var x = Torch.param(c.x, c.tokens, IN);
    var w = Torch.param(c.w, OUT, IN);
    var bias = Torch.param(c.b, OUT);
    var a = Torch.param(c.a, RANK, IN);
    var bm = Torch.param(c.bm, OUT, RANK);
    var m = Torch.param(c.m, OUT);
    // n from a separate, gradient-free copy of W + s B A: PEFT's detach.
    var sum = Torch.tensor(c.w, OUT, IN).add(Torch.tensor(c.bm, OUT, RANK).matmul(Torch.tensor(c.a, RANK, IN))
        .mul(Torch.scalar(SCALE)));
    var n = sum.mul(sum).mean(new long[] {-1}, false, new ScalarTypeOptional()).mul(Torch.scalar(IN)).sqrt();
    var g = m.div(n);
    var xd = mask == null ? x : x.mul(Torch.tensor(mask, c.tokens, IN));
    var z = xd.matmul(w.t()).add(xd.matmul(a.t()).matmul(bm.t()).mul(Torch.scalar(SCALE)));
    var y = z.mul(g).add(bias);
    if (mask != null) y = y.add(x.sub(xd).matmul(w.t()));
    Torch.dot(y, Torch.tensor(c.dy, c.tokens, OUT)).backward();
    return new Result(Torch.floats(y), Torch.floats(x.grad()), Torch.floats(a.grad()), Torch.floats(bm.grad()),
        Torch.floats(m.grad()), Torch.floats(w.grad()), Torch.floats(bias.grad()));
  }

  private static Tensor f32(float[] v, long... shape) {
    return Tensor.fromFloats(v, DType.F32, Device.CPU, shape);
  }

  /** A DoRA Linear with everything trainable. */
  private static Linear layer(Case c, float dropout) {
    Parameter w = new Parameter("t.weight", f32(c.w, OUT, IN)), b = new Parameter("t.bias", f32(c.b, OUT));
    Linear l = new Linear("t", w, b);
    LoraAdapter ad = new LoraAdapter(new Parameter("t.lora_A.weight", f32(c.a, RANK, IN)),
        new Parameter("t.lora_B.weight", f32(c.bm, OUT, RANK)), new Parameter("t.lora_magnitude_vector", f32(c.m, OUT)),
        SCALE, dropout);
    l.addAdapter("d", ad);
    l.setActiveAdapter("d");
    for (Parameter p : new Parameter[] {w, b, ad.a(), ad.b(), ad.magnitude()}) p.setTrainable(true);
    return l;
  }

  private static Result run(Linear l, Case c, long seed, boolean training) {
    LoraAdapter ad = l.activeAdapter();
    try (Arena ar = new Arena()) {
      Tensor x = ar.allocate(DType.F32, Device.CPU, c.tokens, IN);
      x.copyFrom(c.x);
      Linear.Saved s = new Linear.Saved();
      Tensor y = l.forward(ar, x, seed, s, training);
      Tensor dy = ar.allocate(DType.F32, Device.CPU, c.tokens, OUT);
      dy.copyFrom(c.dy);
      Tensor dx = ar.allocate(DType.F32, Device.CPU, c.tokens, IN);
      l.backward(ar, dy, s, seed, dx, false);
      return new Result(y.toFloatArray(), dx.toFloatArray(), ad.a().grad().toFloatArray(),
          ad.b().grad().toFloatArray(), ad.magnitude().grad().toFloatArray(), l.weight().grad().toFloatArray(),
          l.bias().grad().toFloatArray());
    }
  }

  private static void expectClose(String tag, Result got, Result want) {
    Assert.close(tag + " y", got.y, want.y, 1e-5, 1e-5);
    Assert.close(tag + " dx", got.dx, want.dx, 1e-5, 1e-5);
    Assert.close(tag + " dA", got.da, want.da, 1e-5, 1e-5);
    Assert.close(tag + " dB", got.db, want.db, 1e-5, 1e-5);
    Assert.close(tag + " dm", got.dm, want.dm, 1e-5, 1e-5);
    Assert.close(tag + " dW", got.dw, want.dw, 1e-5, 1e-5);
    Assert.close(tag + " db", got.dbias, want.dbias, 1e-5, 1e-5);
  }

  private static float[] mask(int tokens, float p, long seed) {
    return Rand.dropoutMask(tokens * IN, p, seed);
  }

  @ParameterizedTest
  @CsvSource({"1, 0.0", "7, 0.0", "7, 0.3", "40, 0.5"})
  void trainingMatchesPeftsForwardAndBackward(int tokens, float p) {
    Case c = Case.draw(tokens, 100 + tokens);
    long seed = 1234;
    float[] mask = p == 0 ? null : mask(tokens, p, seed);
    try (Linear l = layer(c, p)) {
      expectClose("p=" + p, run(l, c, seed, true), torch(c, mask));
    }
  }

  @Test
  void evaluationIgnoresDropout() {
    Case c = Case.draw(7, 7);
    try (Linear l = layer(c, 0.3f); Arena ar = new Arena()) {
      Tensor x = f32(c.x, 7, IN);
      float[] y = l.forward(ar, x, 99, null, false).toFloatArray();
      x.close();
      Assert.close("eval y", y, torch(c, null).y, 1e-5, 1e-5);
    }
  }

  @Test
  void gradientsAccumulateAndFrozenPartsAreLeftAlone() {
    Case c = Case.draw(5, 9);
    Result once = torch(c, null);
    try (Linear l = layer(c, 0f); Arena ar = new Arena()) {
      LoraAdapter ad = l.activeAdapter();
      ad.a().setTrainable(false);
      l.weight().setTrainable(false);
      Tensor x = ar.allocate(DType.F32, Device.CPU, 5, IN);
      x.copyFrom(c.x);
      Tensor dy = ar.allocate(DType.F32, Device.CPU, 5, OUT);
      dy.copyFrom(c.dy);
      for (int step = 0; step < 2; step++) {
        Linear.Saved s = new Linear.Saved();
        l.forward(ar, x, 0, s, true);
        l.backward(ar, dy, s, 0, null, false);  // no dx wanted
      }
      float[] twice = new float[once.dm.length];
      for (int i = 0; i < twice.length; i++) twice[i] = 2 * once.dm[i];
      Assert.close("dm accumulates", ad.magnitude().grad().toFloatArray(), twice, 1e-5, 1e-5);
      assertNull(ad.a().grad());
      // A magnitude made trainable between forward and backward has nothing kept for its gradient.
      ad.magnitude().setTrainable(false);
      Linear.Saved s = new Linear.Saved();
      l.forward(ar, x, 0, s, true);
      ad.magnitude().setTrainable(true);
      IllegalStateException e = assertThrows(IllegalStateException.class, () -> l.backward(ar, dy, s, 0, null, false));
      assertTrue(e.getMessage().contains("t.lora_magnitude_vector"), e.getMessage());
    }
  }
}
