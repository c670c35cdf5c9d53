package jswift.nn;

import static org.junit.jupiter.api.Assertions.assertNull;

import jswift.tensor.Arena;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Tensor;
import jswift.testing.Assert;
import jswift.testing.Rand;
import jswift.testing.Torch;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@link Ia3Linear} against PEFT's IA3 Linear forward in torch autograd: y = (x ⊙ l) W^T + b for a feedforward
 * module, y = (x W^T + b) ⊙ l otherwise, with the gradients of x and l; and over an NF4 base, the same as over its
 * dequantized dense weight. Tolerances as in {@link DoraLinearTest}.
 */
class Ia3LinearTest {
  private static final int IN = 13, OUT = 9;

  private record Result(float[] y, float[] dx, float[] dl) {}

  private static Tensor f32(float[] v, long... shape) {
    return Tensor.fromFloats(v, DType.F32, Device.CPU, shape);
  }

  private static Result torch(int tokens, float[] x, float[] w, float[] b, float[] l, float[] dy, boolean ff) {
    var tx = Torch.param(x, tokens, IN);
    var tl = Torch.param(l, ff ? IN : OUT);
    var tw = Torch.tensor(w, OUT, IN).t();
    var y = ff ? tx.mul(tl).matmul(tw).add(Torch.tensor(b, OUT)) : tx.matmul(tw).add(Torch.tensor(b, OUT)).mul(tl);
    Torch.dot(y, Torch.tensor(dy, tokens, OUT)).backward();
    return new Result(Torch.floats(y), Torch.floats(tx.grad()), Torch.floats(tl.grad()));
  }

  private static Result run(Linear lin, int tokens, float[] x, float[] dy) {
    try (Arena ar = new Arena()) {
      Tensor tx = ar.allocate(DType.F32, Device.CPU, tokens, IN);
      tx.copyFrom(x);
      Linear.Saved s = new Linear.Saved();
      float[] y = lin.forward(ar, tx, 3, s, true).toFloatArray();
      Tensor tdy = ar.allocate(DType.F32, Device.CPU, tokens, OUT);
      tdy.copyFrom(dy);
      Tensor dx = ar.allocate(DType.F32, Device.CPU, tokens, IN);
      lin.backward(ar, tdy, s, 3, dx, false);
      return new Result(y, dx.toFloatArray(), lin.activeAdapter().ia3Vector().grad().toFloatArray());
    }
  }

  private static void addIa3(Linear lin, float[] l, boolean ff) {
    Parameter v = new Parameter("t.ia3_l", f32(l, l.length));
    lin.addAdapter("i", LoraAdapter.ia3(v, ff));
    lin.setActiveAdapter("i");
    v.setTrainable(true);
  }

  @ParameterizedTest
  @CsvSource({"1, true", "7, true", "1, false", "30, false"})
  void matchesPeftsIa3Linear(int tokens, boolean ff) {
    float[] x = Rand.normal((long) tokens * IN, 1), w = Rand.normal((long) OUT * IN, 2, 0.3f), b = Rand.normal(OUT, 3);
    float[] l = Rand.uniform(ff ? IN : OUT, 4, 0.5f, 1.5f), dy = Rand.normal((long) tokens * OUT, 5);
    try (Linear lin = new Linear("t", new Parameter("t.weight", f32(w, OUT, IN)), new Parameter("t.bias",
        f32(b, OUT)))) {
      addIa3(lin, l, ff);
      Result got = run(lin, tokens, x, dy), want = torch(tokens, x, w, b, l, dy, ff);
      String tag = (ff ? "feedforward" : "output") + " tokens " + tokens;
      Assert.close(tag + " y", got.y, want.y, 1e-5, 1e-5);
      Assert.close(tag + " dx", got.dx, want.dx, 1e-5, 1e-5);
      Assert.close(tag + " dl", got.dl, want.dl, 1e-5, 1e-5);
      assertNull(lin.weight().grad(), "the base stays frozen");
    }
  }

  @ParameterizedTest
  @CsvSource({"3, true", "20, false"})
  void overAnNf4BaseMatchesTheDequantizedDenseLayer(int tokens, boolean ff) {
    float[] x = Rand.normal((long) tokens * IN, 6), w = Rand.normal((long) OUT * IN, 7, 0.3f), b = Rand.normal(OUT, 8);
    float[] l = Rand.uniform(ff ? IN : OUT, 9, 0.5f, 1.5f), dy = Rand.normal((long) tokens * OUT, 10);
    try (Tensor code256 = Nf4Weight.dynamicMap(Device.CPU);
        Linear q = new Linear("t", new Parameter("t.weight", f32(w, OUT, IN)), new Parameter("t.bias", f32(b, OUT)))) {
      q.quantizeNf4(false, code256).close();
      float[] dense;
      try (Arena a = new Arena()) {
        dense = q.quantizedWeight().dequantize(a).toFloatArray();
      }
      addIa3(q, l, ff);
      try (Linear d = new Linear("t", new Parameter("t.weight", f32(dense, OUT, IN)), new Parameter("t.bias",
          f32(b, OUT)))) {
        addIa3(d, l, ff);
        Result got = run(q, tokens, x, dy), want = run(d, tokens, x, dy);
        Assert.close("nf4 y", got.y, want.y, 2e-5, 2e-5);
        Assert.close("nf4 dx", got.dx, want.dx, 2e-5, 2e-5);
        Assert.close("nf4 dl", got.dl, want.dl, 2e-5, 2e-5);
      }
    }
  }
}
