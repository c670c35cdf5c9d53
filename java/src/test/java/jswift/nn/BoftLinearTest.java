package jswift.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import jswift.tensor.Arena;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Kernels;
import jswift.tensor.Tensor;
import jswift.testing.Assert;
import jswift.testing.Rand;
import jswift.testing.Torch;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@link BoftLinear} against PEFT's BOFT Linear forward written out in torch autograd (float64): boft_R's Cayley
 * transform by {@code linalg.solve}, the block-diagonal factors, the permutation matrices of PEFT's
 * block_butterfly_perm, the rotated and scaled weight (W R^T) * s and F.linear, with the gradients of x, boft_R and
 * boft_s; an NF4 base like its dequantized dense weight; the identity at initialisation; the block dropout.
 */
class BoftLinearTest {
  private static final int IN = 16, OUT = 9;

  private record Result(float[] y, float[] dx, float[] dr, float[] ds) {}

  private static Tensor f32(float[] v, long... shape) {
    return Tensor.fromFloats(v, DType.F32, Device.CPU, shape);
  }

  /** PEFT's block_butterfly_perm, transcribed step by step (arange / evens / odds / cat), for the oracle. */
  private static long[] peftPermutation(int n, int b, int r, int nButterflyFactor) {
    long[] indices = new long[n];
    for (int i = 0; i < n; i++) indices[i] = i;
    if (nButterflyFactor == 0) return indices;
    int blockSize = n / b;
    double step = (double) blockSize / r;
    List<Integer> seq = new ArrayList<>();
    for (int e = 0; e < step; e += 2) seq.add(e);
    for (int o = 1; o < step; o += 2) seq.add(o);
    long[] sorted = new long[blockSize];
    for (int i = 0; i < seq.size(); i++)
      for (int k = 0; k < r; k++) sorted[i * r + k] = (long) seq.get(i) * r + k;
    long[] out = new long[n];
    for (int c = 0; c < n; c += blockSize)
      for (int k = 0; k < blockSize; k++) out[c + k] = indices[c + (int) sorted[k]];
    return out;
  }

  private static Result torch(int tokens, float[] x, float[] w, float[] b, float[] r, float[] s, float[] dy, int n,
      int h) {
    int d = IN / h;
    var tx = Torch.param(x, tokens, IN);
    var tr = Torch.param(r, n, d, h, h);
    var ts = Torch.param(s, OUT, 1);
    var rv = tr.view(n * d, h, h);
    var skew = rv.sub(rv.transpose(1, 2)).mul(Torch.scalar(0.5));
    var eye = Torch.tensor(identity(h), 1, h, h).expand(n * d, h, h);
    var q = torch.linalg_solve(eye.add(skew), eye.sub(skew), false).view(n, d, h, h);  // Q (I + S) = I - S
    org.bytedeco.pytorch.Tensor rotation = null;
    for (int i = 0; i < n; i++) {
      var bd = Torch.tensor(new float[IN * IN], IN, IN);
      for (int j = 0; j < d; j++) bd.narrow(0, (long) j * h, h).narrow(1, (long) j * h, h).copy_(q.get(i).get(j));
      long[] perm = peftPermutation(IN, d >> i, h / 2, n - 1);
      float[] pm = new float[IN * IN];
      for (int a = 0; a < IN; a++) pm[a * IN + (int) perm[a]] = 1;  // perm2mat: P[i, idx] = 1
      var p = Torch.tensor(pm, IN, IN);
      var m = p.matmul(bd.matmul(p.t()));
      rotation = rotation == null ? m : m.matmul(rotation);
    }
    var tw = Torch.tensor(w, OUT, IN);
    var rotated = rotation.matmul(tw.t()).t().mul(ts);
    var y = torch.linear(tx, rotated, Torch.tensor(b, OUT));
    Torch.dot(y, Torch.tensor(dy, tokens, OUT)).backward();
    return new Result(Torch.floats(y), Torch.floats(tx.grad()), Torch.floats(tr.grad()), Torch.floats(ts.grad()));
  }

  private static float[] identity(int h) {
    float[] e = new float[h * h];
    for (int i = 0; i < h; i++) e[i * h + i] = 1;
    return e;
  }

  private static Result run(Linear lin, int tokens, float[] x, float[] dy, boolean training) {
    try (Arena ar = new Arena()) {
      Tensor tx = ar.allocate(DType.F32, Device.CPU, tokens, IN);
      tx.copyFrom(x);
      Linear.Saved saved = new Linear.Saved();
      float[] y = lin.forward(ar, tx, 3, saved, training).toFloatArray();
      Tensor tdy = ar.allocate(DType.F32, Device.CPU, tokens, OUT);
      tdy.copyFrom(dy);
      Tensor dx = ar.allocate(DType.F32, Device.CPU, tokens, IN);
      lin.backward(ar, tdy, saved, 3, dx, false);
      BoftRotation rot = lin.activeAdapter().boft();
      return new Result(y, dx.toFloatArray(), rot.blocks().grad().toFloatArray(), rot.scale().grad().toFloatArray());
    }
  }

  private static BoftRotation addBoft(Linear lin, float[] r, float[] s, int n, int h, float dropout) {
    Parameter pr = new Parameter("t.boft_R", f32(r, n, IN / h, h, h)), ps = new Parameter("t.boft_s", f32(s, OUT));
    BoftRotation rot = new BoftRotation(pr, ps, IN, dropout);
    lin.addAdapter("b", LoraAdapter.boft(rot));
    lin.setActiveAdapter("b");
    pr.setTrainable(true);
    ps.setTrainable(true);
    return rot;
  }

  private static Linear dense(float[] w, float[] b) {
    return new Linear("t", new Parameter("t.weight", f32(w, OUT, IN)), new Parameter("t.bias", f32(b, OUT)));
  }

  @ParameterizedTest
  @CsvSource({"1, 1, 4", "7, 1, 4", "5, 2, 4", "3, 3, 2", "4, 2, 8", "2, 1, 16"})
  void matchesPeftsBoftLinear(int tokens, int factors, int h) {
    float[] x = Rand.normal((long) tokens * IN, 1), w = Rand.normal((long) OUT * IN, 2, 0.3f), b = Rand.normal(OUT, 3);
    float[] r = Rand.normal((long) factors * IN * h, 4, 0.4f), s = Rand.uniform(OUT, 5, 0.5f, 1.5f);
    float[] dy = Rand.normal((long) tokens * OUT, 6);
    try (Linear lin = dense(w, b)) {
      addBoft(lin, r, s, factors, h, 0);
      Result got = run(lin, tokens, x, dy, true), want = torch(tokens, x, w, b, r, s, dy, factors, h);
      String tag = factors + " factors of " + (IN / h) + " blocks of " + h + ", tokens " + tokens;
      Assert.close(tag + " y", got.y, want.y, 1e-5, 1e-5);
      Assert.close(tag + " dx", got.dx, want.dx, 1e-5, 1e-5);
      Assert.close(tag + " dboft_R", got.dr, want.dr, 2e-5, 2e-5);
      Assert.close(tag + " dboft_s", got.ds, want.ds, 1e-5, 1e-5);
      assertNull(lin.weight().grad(), "the base stays frozen");
    }
  }

  @Test
  void butterflyPermutationIsPefts() {
    // 16 inputs, 2 chunks of 8, runs of 2 taken even runs first: 0 1 4 5 2 3 6 7 | 8 9 12 13 10 11 14 15
    assertArrayEquals(new int[] {0, 1, 4, 5, 2, 3, 6, 7, 8, 9, 12, 13, 10, 11, 14, 15},
        BoftRotation.butterflyPermutation(16, 2, 2));
    for (int[] c : new int[][] {{16, 4, 2}, {16, 2, 4}, {32, 4, 2}, {64, 2, 8}, {24, 3, 2}}) {
      long[] want = peftPermutation(c[0], c[1], c[2], 1);
      int[] got = BoftRotation.butterflyPermutation(c[0], c[1], c[2]);
      for (int i = 0; i < want.length; i++) assertTrue(want[i] == got[i], java.util.Arrays.toString(c) + " at " + i);
    }
  }

  @Test
  void startsAsTheBaseLayer() {
    int tokens = 4, h = 4;
    float[] x = Rand.normal((long) tokens * IN, 7), w = Rand.normal((long) OUT * IN, 8, 0.3f), b = Rand.normal(OUT, 9);
    float[] ones = new float[OUT];
    java.util.Arrays.fill(ones, 1f);
    try (Linear lin = dense(w, b); Arena ar = new Arena()) {
      Tensor tx = f32(x, tokens, IN);
      float[] base = lin.forward(ar, tx, 0, null, false).toFloatArray();
      addBoft(lin, new float[2 * IN * h], ones, 2, h, 0);
      assertArrayEquals(base, lin.forward(ar, tx, 0, null, false).toFloatArray(), "boft_R = 0, boft_s = 1");
      tx.close();
    }
  }

  @Test
  void overAnNf4BaseMatchesTheDequantizedDenseLayer() {
    int tokens = 6, n = 2, h = 4;
    float[] x = Rand.normal((long) tokens * IN, 10), w = Rand.normal((long) OUT * IN, 11, 0.3f), b = Rand.normal(OUT, 12);
    float[] r = Rand.normal((long) n * IN * h, 13, 0.4f), s = Rand.uniform(OUT, 14, 0.5f, 1.5f);
    float[] dy = Rand.normal((long) tokens * OUT, 15);
    try (Tensor code256 = Nf4Weight.dynamicMap(Device.CPU); Linear q = dense(w, b)) {
      q.quantizeNf4(false, code256).close();
      float[] deq;
      try (Arena a = new Arena()) {
        deq = q.quantizedWeight().dequantize(a).toFloatArray();
      }
      addBoft(q, r, s, n, h, 0);
      try (Linear d = dense(deq, b)) {
        addBoft(d, r, s, n, h, 0);
        Result got = run(q, tokens, x, dy, true), want = run(d, tokens, x, dy, true);
        Assert.close("nf4 y", got.y, want.y, 2e-5, 2e-5);
        Assert.close("nf4 dx", got.dx, want.dx, 2e-5, 2e-5);
        Assert.close("nf4 dboft_R", got.dr, want.dr, 2e-5, 2e-5);
        Assert.close("nf4 dboft_s", got.ds, want.ds, 2e-5, 2e-5);
      }
    }
  }

  @Test
  void blockDropoutReplacesBlocksInTrainingOnly() {
    int tokens = 3, n = 1, h = 2;
    float[] x = Rand.normal((long) tokens * IN, 16), w = Rand.normal((long) OUT * IN, 17, 0.3f), b = new float[OUT];
    float[] r = Rand.normal((long) n * IN * h, 18, 0.8f), s = Rand.uniform(OUT, 19, 0.5f, 1.5f);
    try (Linear drop = dense(w, b); Linear keep = dense(w, b); Arena ar = new Arena()) {
      addBoft(drop, r, s, n, h, 0.5f);
      addBoft(keep, r, s, n, h, 0);
      Tensor tx = f32(x, tokens, IN);
      float[] eval = drop.forward(ar, tx, 5, null, false).toFloatArray();
      assertArrayEquals(keep.forward(ar, tx, 5, null, false).toFloatArray(), eval, "no dropout outside training");
      Kernels.setDropoutStep(Device.CPU, 1);
      float[] step1 = drop.forward(ar, tx, 5, null, true).toFloatArray();
      assertArrayEquals(step1, drop.forward(ar, tx, 5, null, true).toFloatArray(), "same step, same blocks");
      Kernels.setDropoutStep(Device.CPU, 2);
      float[] step2 = drop.forward(ar, tx, 5, null, true).toFloatArray();
      Kernels.setDropoutStep(Device.CPU, 0);
      assertFalse(java.util.Arrays.equals(step1, eval), "half the blocks are the identity in training");
      assertFalse(java.util.Arrays.equals(step1, step2), "another step drops other blocks");
      // What a dropped block does: with every block of the one factor at the identity the layer is s ⊙ (x W^T).
      BoftRotation rot = drop.activeAdapter().boft();
      try (Arena a2 = new Arena()) {
        Tensor flags = rot.dropoutFlags(a2, 5, 2, Device.CPU);
        int[] f = flags.toIntArray();
        assertTrue(java.util.Arrays.stream(f).sum() == IN / h / 2, "int(p D) blocks dropped: " + java.util.Arrays.toString(f));
      }
      tx.close();
    }
  }

  @Test
  void refusesBlocksThatDoNotFitTheLayer() {
    try (Linear lin = dense(new float[OUT * IN], new float[OUT])) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new BoftRotation(
          new Parameter("t.boft_R", f32(new float[3 * 3 * 5], 1, 5, 3, 3)), new Parameter("t.boft_s", f32(new float[OUT],
              OUT)), IN, 0));
      assertTrue(e.getMessage().contains("t.boft_R"), e.getMessage());
      IllegalArgumentException shape = assertThrows(IllegalArgumentException.class,
          () -> BoftRotation.shape("model.layers.0.mlp.down_proj", 18, 4, 0, 1));
      assertTrue(shape.getMessage().contains("down_proj") && shape.getMessage().contains("divisible"),
          shape.getMessage());
      assertThrows(IllegalArgumentException.class, () -> BoftRotation.shape("m", 16, 4, 0, 4), "4 x 2^3 > 16");
      assertArrayEquals(new int[] {2, 4, 4}, BoftRotation.shape("m", 16, 4, 0, 2));
      assertArrayEquals(new int[] {1, 2, 8}, BoftRotation.shape("m", 16, 0, 2, 1));
    }
  }
}
