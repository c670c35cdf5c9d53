package jswift.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jswift.tensor.Arena;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Tensor;
import jswift.testing.Assert;
import jswift.testing.Rand;
import jswift.testing.Torch;
import jswift.tuner.PeftLayout;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * MiSS ({@link MissTiles}, {@link LoraAdapter#miss}) against PEFT's MissLinear forward in torch autograd:
 * y = x W^T + bias + sum(pad(drop(x)).reshape(tokens, in' / r, r), dim=-2) @ miss_block, in' the input width
 * zero-padded to a multiple of r, with the gradients of x and of the block. Tolerance 2e-5 (fp32 sums of a dozen
 * O(1) terms against float64; a wrong group or a missing pad is O(0.1)).
 */
class MissLinearTest {
  private static final int IN = 20, OUT = 9;

  private record Result(float[] y, float[] dx, float[] dBlock) {}

  private static Result torchMiss(float[] x, int tokens, float[] w, float[] bias, float[] block, int r, float[] mask,
      float[] dy) {
    var tx = Torch.param(x, tokens, IN);
    var tm = Torch.param(block, r, OUT);
    var xd = mask == null ? tx : tx.mul(Torch.tensor(mask, tokens, IN));
    int padded = (IN + r - 1) / r * r;
    var xp = torch.cat(new org.bytedeco.pytorch.TensorVector(xd, Torch.tensor(new float[tokens * (padded - IN)],
        tokens, padded - IN)), 1);
    var pooled = xp.reshape(tokens, padded / r, r).sum(new long[] {1});
    var y = tx.matmul(Torch.tensor(w, OUT, IN).t()).add(Torch.tensor(bias, OUT)).add(pooled.matmul(tm));
    Torch.dot(y, Torch.tensor(dy, tokens, OUT)).backward();
    return new Result(Torch.floats(y), Torch.floats(tx.grad()), Torch.floats(tm.grad()));
  }

  private static Tensor f32(float[] v, long... shape) {
    return Tensor.fromFloats(v, DType.F32, Device.CPU, shape);
  }

  private static Linear missLayer(MissTiles tiles, float[] w, float[] bias, float[] block, int r, float dropout) {
    Linear l = new Linear("t", new Parameter("t.weight", f32(w, OUT, IN)), new Parameter("t.bias", f32(bias, OUT)));
    Parameter b = new Parameter("t.miss_block", f32(PeftLayout.transpose(block, r, OUT), OUT, r));
    l.addAdapter("m", LoraAdapter.miss(tiles.forWidth(IN), b, dropout));
    l.setActiveAdapter("m");
    b.setTrainable(true);
    return l;
  }

  @ParameterizedTest
  @CsvSource({"1, 4, 0.0", "7, 6, 0.0", "7, 6, 0.3", "30, 3, 0.5", "5, 20, 0.0", "5, 32, 0.0"})
  void layerMatchesPeftsMissLinear(int tokens, int r, float p) {
    float[] x = Rand.normal(tokens * IN, 1 + tokens), w = Rand.normal(OUT * IN, 2, 0.3f), bias = Rand.normal(OUT, 3),
        block = Rand.normal(r * OUT, 4), dy = Rand.normal(tokens * OUT, 5);
    long seed = 77;
    try (MissTiles tiles = new MissTiles(r, DType.F32, Device.CPU); Linear l = missLayer(tiles, w, bias, block, r, p);
        Arena ar = new Arena()) {
      Linear.Saved s = new Linear.Saved();
      Tensor y = l.forward(ar, f32(x, tokens, IN), seed, s, true);
      Tensor dx = ar.allocate(DType.F32, Device.CPU, tokens, IN);
      l.backward(ar, f32(dy, tokens, OUT), s, seed, dx, false);
      float[] dBlock = PeftLayout.transpose(l.activeAdapter().b().grad().toFloatArray(), OUT, r);
      Result want = torchMiss(x, tokens, w, bias, block, r, p == 0 ? null : Rand.dropoutMask(tokens * IN, p, seed), dy);
      Assert.close("y", y.toFloatArray(), want.y, 2e-5, 2e-5);
      Assert.close("dx", dx.toFloatArray(), want.dx, 2e-5, 2e-5);
      Assert.close("d miss_block", dBlock, want.dBlock, 2e-5, 2e-5);
      assertNull(l.activeAdapter().a().grad(), "the tiles are frozen");
    }
  }

  @Test
  void tilesAreSharedPerWidthAndOwnedByTheCache() {
    try (MissTiles tiles = new MissTiles(4, DType.F32, Device.CPU);
        Linear l = missLayer(tiles, new float[OUT * IN], new float[OUT], new float[4 * OUT], 4, 0f)) {
      assertTrue(tiles.forWidth(IN) == l.activeAdapter().a(), "one A per width");
      assertEquals(1, l.activeAdapter().ownParameters().size(), "the block alone is the adapter's own");
      assertArrayEquals(new float[] {1, 0, 0, 1, 0, 0, 1, 0, 1, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 1, 0},
          MissTiles.values(3, 7), "A[j, q] = 1 where q mod 3 = j (7 inputs)");
    }
  }
}
