package jswift.nn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jswift.tensor.Arena;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Tensor;
import jswift.testing.Assert;
import jswift.testing.Rand;
import jswift.testing.Torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@link ScaledLoraLinear}: a {@link Linear} with a VeRA adapter against PEFT's {@code vera.Linear} forward in torch
 * autograd, and with an AdaLoRA adapter against PEFT's {@code SVDLinear}. VeRA:
 * y = x W^T + bias + lambda_b ⊙ ((lambda_d ⊙ (drop(x) A^T)) B^T), A and B slices of wider projections, with the
 * gradients of x, lambda_d and lambda_b (A, B and W frozen, as VeRA trains them). AdaLoRA:
 * y = x W^T + bias + s ((E ⊙ (drop(x) A^T)) B^T), s = alpha / (init_r + 1e-5), with the gradients of x, A, B and E.
 * Tolerances as in
 * {@link DoraLinearTest}: fp32 sums of a dozen O(1) terms, 1e-5, where a missing factor is O(0.1).
 */
class ScaledLoraLinearTest {
  private static final int IN = 13, OUT = 9, RANK = 4, MAX_IN = 17, MAX_OUT = 11;

  private record Case(int tokens, float[] x, float[] w, float[] bias, float[] d, float[] lb, float[] dy) {
    static Case draw(int tokens, long seed) {
      return new Case(tokens, Rand.normal((long) tokens * IN, seed), Rand.normal((long) OUT * IN, seed + 1, 0.3f),
          Rand.normal(OUT, seed + 2), Rand.uniform(RANK, seed + 3, 0.5f, 1.5f), Rand.normal(OUT, seed + 4),
          Rand.normal((long) tokens * OUT, seed + 5));
    }
  }

  private record Result(float[] y, float[] dx, float[] dd, float[] dlb) {}

  /** The shared projections every test slices: A [RANK, MAX_IN], B [MAX_OUT, RANK]. */
  private static VeraProjections projections() {
    return VeraProjections.random(7, RANK, MAX_IN, MAX_OUT, DType.F32, Device.CPU);
  }

  private static Result torch(Case c, VeraProjections p, float[] mask) {
    float[] a = p.sliceA(IN).value().toFloatArray(), b = p.sliceB(OUT).value().toFloatArray();
    var x = Torch.param(c.x, c.tokens, IN);
    var d = Torch.param(c.d, RANK);
    var lb = Torch.param(c.lb, OUT);
    var xd = mask == null ? x : x.mul(Torch.tensor(mask, c.tokens, IN));
    var low = xd.matmul(Torch.tensor(a, RANK, IN).t()).mul(d).matmul(Torch.tensor(b, OUT, RANK).t()).mul(lb);
    var y = x.matmul(Torch.tensor(c.w, OUT, IN).t()).add(Torch.tensor(c.bias, OUT)).add(low);
    Torch.dot(y, Torch.tensor(c.dy, c.tokens, OUT)).backward();
    return new Result(Torch.floats(y), Torch.floats(x.grad()), Torch.floats(d.grad()), Torch.floats(lb.grad()));
  }

  private static Tensor f32(float[] v, long... shape) {
    return Tensor.fromFloats(v, DType.F32, Device.CPU, shape);
  }

  private static Linear layer(Case c, VeraProjections p, float dropout) {
    Linear l = new Linear("t", new Parameter("t.weight", f32(c.w, OUT, IN)), new Parameter("t.bias", f32(c.bias, OUT)));
    addVera(l, c, p, dropout);
    return l;
  }

  private static void addVera(Linear l, Case c, VeraProjections p, float dropout) {
    LoraAdapter ad = LoraAdapter.vera(p.sliceA(l.inFeatures()), p.sliceB(l.outFeatures()),
        new Parameter("t.vera_lambda_d", f32(c.d, RANK)), new Parameter("t.vera_lambda_b", f32(c.lb, OUT)), dropout);
    l.addAdapter("v", ad);
    l.setActiveAdapter("v");
    ad.rankScale().setTrainable(true);
    ad.outScale().setTrainable(true);
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
      return new Result(y.toFloatArray(), dx.toFloatArray(), ad.rankScale().grad().toFloatArray(),
          ad.outScale().grad().toFloatArray());
    }
  }

  private static void expectClose(String tag, Result got, Result want, double tol) {
    Assert.close(tag + " y", got.y, want.y, tol, tol);
    Assert.close(tag + " dx", got.dx, want.dx, tol, tol);
    Assert.close(tag + " d lambda_d", got.dd, want.dd, tol, tol);
    Assert.close(tag + " d lambda_b", got.dlb, want.dlb, tol, tol);
  }

  private static float[] mask(int tokens, float p, long seed) {
    return Rand.dropoutMask(tokens * IN, p, seed);
  }

  @ParameterizedTest
  @CsvSource({"1, 0.0", "7, 0.0", "7, 0.3", "40, 0.5"})
  void trainingMatchesPeftsForwardAndBackward(int tokens, float p) {
    Case c = Case.draw(tokens, 300 + tokens);
    long seed = 4321;
    try (VeraProjections proj = projections(); Linear l = layer(c, proj, p)) {
      expectClose("p=" + p, run(l, c, seed, true), torch(c, proj, p == 0 ? null : mask(tokens, p, seed)), 1e-5);
    }
  }

  @Test
  void evaluationIgnoresDropoutAndAFreshAdapterChangesNothing() {
    Case c = Case.draw(6, 11);
    try (VeraProjections proj = projections(); Linear l = layer(c, proj, 0.3f); Arena ar = new Arena()) {
      Tensor x = f32(c.x, 6, IN);
      float[] y = l.forward(ar, x, 99, null, false).toFloatArray();
      Assert.close("eval y", y, torch(c, proj, null).y, 1e-5, 1e-5);
      // lambda_b = 0, VeRA's initialisation: the base layer's output exactly
      l.activeAdapter().outScale().value().zero();
      float[] adapted = l.forward(ar, x, 99, null, false).toFloatArray();
      l.setActiveAdapter(null);
      float[] base = l.forward(ar, x, 99, null, false).toFloatArray();
      x.close();
      Assert.close("lambda_b = 0", adapted, base, 0, 0);
    }
  }

  /** Over an NF4 base, VeRA gives what it gives over the dequantized dense weight (the packed weight's own GEMMs). */
  @ParameterizedTest
  @CsvSource({"2, 0.0", "20, 0.2"})
  void overAnNf4BaseMatchesTheDequantizedDenseLayer(int tokens, float p) {
    Case c = Case.draw(tokens, 500 + tokens);
    try (Tensor code256 = Nf4Weight.dynamicMap(Device.CPU); VeraProjections proj = projections();
        Linear q = new Linear("t", new Parameter("t.weight", f32(c.w, OUT, IN)), new Parameter("t.bias",
            f32(c.bias, OUT)))) {
      q.quantizeNf4(true, code256).close();
      float[] dequantized;
      try (Arena a = new Arena()) {
        dequantized = q.quantizedWeight().dequantize(a).toFloatArray();
      }
      Case dense = new Case(c.tokens, c.x, dequantized, c.bias, c.d, c.lb, c.dy);
      addVera(q, c, proj, p);
      try (Linear d = layer(dense, proj, p)) {
        expectClose("nf4 p=" + p, run(q, c, 5, true), run(d, dense, 5, true), 2e-5);
      }
    }
  }

  @Test
  void frozenVectorsGetNoGradientAndGradientsAccumulate() {
    Case c = Case.draw(5, 21);
    try (VeraProjections proj = projections(); Linear l = layer(c, proj, 0f); Arena ar = new Arena()) {
      Result want = torch(c, proj, null);
      LoraAdapter ad = l.activeAdapter();
      ad.rankScale().setTrainable(false);
      Tensor x = f32(c.x, 5, IN);
      Tensor dy = f32(c.dy, 5, OUT);
      for (int step = 0; step < 2; step++) {
        Linear.Saved s = new Linear.Saved();
        l.forward(ar, x, 0, s, true);
        l.backward(ar, dy, s, 0, null, false);
      }
      float[] twice = new float[OUT];
      for (int i = 0; i < OUT; i++) twice[i] = 2 * want.dlb[i];
      Assert.close("d lambda_b accumulates", ad.outScale().grad().toFloatArray(), twice, 1e-5, 1e-5);
      assertEquals(null, ad.rankScale().grad());
      x.close();
      dy.close();
    }
  }

  @Test
  void projectionsKeepPeftsKaimingBoundAndRefuseLayersWiderThanThem() {
    try (VeraProjections p = projections()) {
      float bound = (float) Math.sqrt(6.0 / MAX_IN);
      float max = 0;
      for (float v : p.a().value().toFloatArray()) max = Math.max(max, Math.abs(v));
      assertTrue(max <= bound && max > 0.8 * bound, "|vera_A| max " + max + " vs bound " + bound);
      // A[:, :IN] is the first IN columns of each row
      float[] full = p.a().value().toFloatArray(), slice = p.sliceA(IN).value().toFloatArray();
      assertEquals(full[MAX_IN + 3], slice[IN + 3]);
      assertTrue(p.sliceA(IN) == p.sliceA(IN), "one slice per width, shared by the layers of that width");
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> p.sliceB(MAX_OUT + 1));
      assertTrue(e.getMessage().contains("vera_B"), e.getMessage());
    }
  }

  private record AdaResult(float[] y, float[] dx, float[] da, float[] db, float[] de) {}

  private static AdaResult adaTorch(Case c, float[] a, float[] b, float[] e, float s, float[] mask) {
    var x = Torch.param(c.x, c.tokens, IN);
    var ta = Torch.param(a, RANK, IN);
    var tb = Torch.param(b, OUT, RANK);
    var te = Torch.param(e, RANK);
    var xd = mask == null ? x : x.mul(Torch.tensor(mask, c.tokens, IN));
    var low = xd.matmul(ta.t()).mul(te).matmul(tb.t()).mul(Torch.scalar(s));
    var y = x.matmul(Torch.tensor(c.w, OUT, IN).t()).add(Torch.tensor(c.bias, OUT)).add(low);
    Torch.dot(y, Torch.tensor(c.dy, c.tokens, OUT)).backward();
    return new AdaResult(Torch.floats(y), Torch.floats(x.grad()), Torch.floats(ta.grad()), Torch.floats(tb.grad()),
        Torch.floats(te.grad()));
  }

  @ParameterizedTest
  @CsvSource({"1, 0.0", "9, 0.0", "9, 0.3"})
  void adaLoraMatchesPeftsSvdLinear(int tokens, float p) {
    Case c = Case.draw(tokens, 700 + tokens);
    float[] a = Rand.normal((long) RANK * IN, 701, 0.3f), b = Rand.normal((long) OUT * RANK, 702, 0.3f);
    float[] e = Rand.normal(RANK, 703, 1f);
    e[1] = 0;  // a pruned triplet still has gradients for E (not for its A row and B column)
    float s = (float) (32 / (12 + 1e-5));
    long seed = 99;
    try (Linear l = new Linear("t", new Parameter("t.weight", f32(c.w, OUT, IN)), new Parameter("t.bias",
        f32(c.bias, OUT))); Arena ar = new Arena()) {
      LoraAdapter ad = LoraAdapter.adaLora(new Parameter("t.lora_A", f32(a, RANK, IN)),
          new Parameter("t.lora_B", f32(b, OUT, RANK)), new Parameter("t.lora_E", f32(e, RANK)), s, p);
      l.addAdapter("x", ad);
      l.setActiveAdapter("x");
      for (Parameter q : ad.ownParameters()) q.setTrainable(true);
      assertEquals(3, ad.ownParameters().size());
      Tensor x = f32(c.x, tokens, IN), dy = f32(c.dy, tokens, OUT);
      Tensor dx = ar.allocate(DType.F32, Device.CPU, tokens, IN);
      Linear.Saved saved = new Linear.Saved();
      float[] y = l.forward(ar, x, seed, saved, true).toFloatArray();
      l.backward(ar, dy, saved, seed, dx, false);
      AdaResult want = adaTorch(c, a, b, e, s, p == 0 ? null : mask(tokens, p, seed));
      String tag = "AdaLoRA p=" + p;
      Assert.close(tag + " y", y, want.y, 1e-5, 1e-5);
      Assert.close(tag + " dx", dx.toFloatArray(), want.dx, 1e-5, 1e-5);
      Assert.close(tag + " dA", ad.a().grad().toFloatArray(), want.da, 1e-5, 1e-5);
      Assert.close(tag + " dB", ad.b().grad().toFloatArray(), want.db, 1e-5, 1e-5);
      Assert.close(tag + " dE", ad.rankScale().grad().toFloatArray(), want.de, 1e-5, 1e-5);
      x.close();
      dy.close();
    }
  }
}
