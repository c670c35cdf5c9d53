package jswift.tensor;

import static jswift.tensor.EmbeddingTest.expectMessage;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jswift.bindings.CoreNative;
import jswift.bindings.DoraNative;
import jswift.testing.Assert;
import jswift.testing.Rand;
import jswift.testing.Torch;
import org.bytedeco.pytorch.ScalarTypeOptional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The DoRA helpers (rowNorm, scaleRowsCols, sumRowsMul) composed as DoRA composes them, against torch autograd in
 * fp64: the weight norm n = ||W||_row, the output scaling y = z * (m / n) with n a constant (PEFT detaches it),
 * its backward dz = dy * m / n and dm = sum_t dy * z / n, and the merged weight (m / n)[:, None] * W; and
 * dropout, forward and backward, against torch with the fused LoRA kernel's mask (the same hash must drop the same
 * elements).
 *
 * <p>Tolerances: every op is one fp32 pass (sums of at most ~130 terms of magnitude ~1, or two or three
 * roundings of a product), so results sit within a few ulps plus ~1e-6 of summation error of the fp64 values;
 * 1e-5 relative / 1e-6 absolute leaves a margin of 10 while a wrong index or a missing factor is O(1). bf16
 * storage rounds the output once (relative 2^-9), hence 4e-3 relative there.
 */
class DoraOpsTest {
  private static Tensor floats(Arena ar, float[] v, long... shape) {
    Tensor t = ar.allocate(DType.F32, Device.CPU, shape);
    t.copyFrom(v);
    return t;
  }

  /** ||row|| of a [rows, cols] fp64 torch tensor, as [rows]. */
  private static org.bytedeco.pytorch.Tensor torchRowNorm(org.bytedeco.pytorch.Tensor x, long cols) {
    return x.mul(x).mean(new long[] {-1}, false, new ScalarTypeOptional()).mul(Torch.scalar(cols)).sqrt();
  }

  @ParameterizedTest
  @CsvSource({"1, 1", "1, 64", "7, 80", "33, 131", "5, 4096", "3, 13", "300, 7"})
  void rowNormMatchesTorch(int rows, int cols) {
    float[] x = Rand.normal((long) rows * cols, 1);
    float[] want = Torch.floats(torchRowNorm(Torch.tensor(x, rows, cols), cols));
    float[] wantInv = new float[rows];
    for (int r = 0; r < rows; r++) wantInv[r] = (float) (1.0 / want[r]);
    try (Arena ar = new Arena()) {
      Tensor norm = ar.allocate(DType.F32, Device.CPU, rows), inv = ar.allocate(DType.F32, Device.CPU, rows);
      Kernels.fill(norm, Float.NaN);
      Kernels.fill(inv, Float.NaN);
      Kernels.rowNorm(floats(ar, x, rows, cols), norm, inv);
      Assert.close("norm", norm.toFloatArray(), want, 1e-6, 1e-5);
      Assert.close("inv norm", inv.toFloatArray(), wantInv, 1e-6, 1e-5);
    }
  }

  @ParameterizedTest
  @CsvSource({"1, 1, 1", "1, 5, 64", "7, 21, 33", "40, 100, 131", "3, 7, 13"})
  void doraScalingForwardBackwardAndMergeMatchTorch(int tokens, int out, int in) {
    float[] z = Rand.normal((long) tokens * out, 11);  // x W^T + s (x A^T) B^T, whatever produced it
    float[] w = Rand.normal((long) out * in, 12, (float) (1 / Math.sqrt(in)));  // W + s B A
    float[] m = Rand.uniform(out, 13, 0.5f, 1.5f);
    float[] dy = Rand.normal((long) tokens * out, 14);
    float[] dm0 = Rand.normal(out, 15);  // the magnitude gradient accumulates: start from non-zero values

    var tw = Torch.tensor(w, out, in);
    var tn = torchRowNorm(tw, in);  // a constant: no gradient flows through the norm
    var tz = Torch.param(z, tokens, out);
    var tm = Torch.param(m, out);
    var factor = tm.div(tn);
    var ty = tz.mul(factor);
    Torch.dot(ty, Torch.tensor(dy, tokens, out)).backward();
    var merged = tw.mul(factor.detach().unsqueeze(1));

    try (Arena ar = new Arena()) {
      Tensor jw = floats(ar, w, out, in), jz = floats(ar, z, tokens, out), jm = floats(ar, m, out);
      Tensor jdy = floats(ar, dy, tokens, out);
      Tensor inv = ar.allocate(DType.F32, Device.CPU, out);
      Kernels.rowNorm(jw, null, inv);
      Tensor g = ar.allocate(DType.F32, Device.CPU, out);  // m / n, a vector product as a one-row scaling
      Kernels.scaleRowsCols(jm.view(1, out), null, inv, g.view(1, out));
      Tensor y = ar.allocate(DType.F32, Device.CPU, tokens, out);
      Kernels.scaleRowsCols(jz, null, g, y);
      Assert.close("y", y.toFloatArray(), Torch.floats(ty), 1e-6, 1e-5);
      Tensor dz = ar.allocate(DType.F32, Device.CPU, tokens, out);
      Kernels.scaleRowsCols(jdy, null, g, dz);
      Assert.close("dz", dz.toFloatArray(), Torch.floats(tz.grad()), 1e-6, 1e-5);
      Tensor zn = ar.allocate(DType.F32, Device.CPU, tokens, out);  // z / n, what the backward keeps
      Kernels.scaleRowsCols(jz, null, inv, zn);
      Tensor dm = floats(ar, dm0, out);
      Kernels.sumRowsMul(jdy, zn, dm);
      float[] want = Torch.floats(tm.grad());
      for (int i = 0; i < out; i++) want[i] += dm0[i];
      Assert.close("dm", dm.toFloatArray(), want, 1e-5, 1e-5);
      // The merge: W' = (m / n)[:, None] * W, in place.
      Kernels.scaleRowsCols(jw, g, null, jw);
      Assert.close("merged", jw.toFloatArray(), Torch.floats(merged), 1e-6, 1e-5);
    }
  }

  @Test
  void dropoutMatchesTorchWithTheLoraKernelsMask() {
    int tokens = 23, in = 19;
    float p = 0.4f;
    long seed = 99;
    float[] mask = loraMask(tokens, in, p, seed);
    float[] x = Rand.normal((long) tokens * in, 31), dy = Rand.normal((long) tokens * in, 32);
    var tx = Torch.param(x, tokens, in);
    var ty = tx.mul(Torch.tensor(mask, tokens, in));
    Torch.dot(ty, Torch.tensor(dy, tokens, in)).backward();
    try (Arena ar = new Arena()) {
      Tensor jx = floats(ar, x, tokens, in), y = ar.allocate(DType.F32, Device.CPU, tokens, in);
      Kernels.dropout(jx, p, seed, y);
      // one fp32 product per element
      Assert.close("dropped x", y.toFloatArray(), Torch.floats(ty), 0, 1e-7);
      Tensor jdy = floats(ar, dy, tokens, in);
      Kernels.dropout(jdy, p, seed, jdy);  // the backward, in place
      Assert.close("dx", jdy.toFloatArray(), Torch.floats(tx.grad()), 0, 1e-7);
      int kept = 0;
      for (float m : mask) kept += m != 0 ? 1 : 0;
      assertTrue(kept > 0 && kept < mask.length, "the mask keeps some and drops some: " + kept);
    }
  }

  /** The fused LoRA kernel's multipliers (0 or 1/(1-p)): xa = drop(1) I with W = 0 and A = B = I. */
  private static float[] loraMask(int tokens, int in, float p, long seed) {
    float[] eye = new float[in * in], ones = new float[tokens * in];
    for (int i = 0; i < in; i++) eye[i * in + i] = 1f;
    java.util.Arrays.fill(ones, 1f);
    try (Arena ar = new Arena()) {
      Tensor y = ar.allocate(DType.F32, Device.CPU, tokens, in), xa = ar.allocate(DType.F32, Device.CPU, tokens, in);
      Kernels.loraForward(floats(ar, ones, tokens, in), ar.zeros(DType.F32, Device.CPU, in, in), null,
          floats(ar, eye, in, in), floats(ar, eye, in, in), 1f, p, seed, y, xa);
      return xa.toFloatArray();
    }
  }

  @Test
  void bf16StorageRoundsOnce() {
    int rows = 9, cols = 40;
    float[] x = Rand.normal((long) rows * cols, 21);
    float[] rs = Rand.uniform(rows, 22, 0.5f, 2f), cs = Rand.uniform(cols, 23, -2f, 2f);
    try (Arena ar = new Arena()) {
      Tensor jx = ar.allocate(DType.BF16, Device.CPU, rows, cols);
      jx.copyFrom(x);
      float[] xr = jx.toFloatArray();  // the stored (rounded) inputs are what torch sees
      Tensor y = ar.allocate(DType.BF16, Device.CPU, rows, cols);
      Kernels.scaleRowsCols(jx, floats(ar, rs, rows), floats(ar, cs, cols), y);
      var want = Torch.tensor(xr, rows, cols).mul(Torch.tensor(rs, rows).unsqueeze(1)).mul(Torch.tensor(cs, cols));
      Assert.close("scaled bf16", y.toFloatArray(), Torch.floats(want), 1e-6, 4e-3);
      Tensor norm = ar.allocate(DType.F32, Device.CPU, rows);
      Kernels.rowNorm(jx, norm, null);  // bf16 in, fp32 sums and result: only fp32 summation error
      Assert.close("norm of bf16", norm.toFloatArray(), Torch.floats(torchRowNorm(Torch.tensor(xr, rows, cols), cols)),
          1e-6, 1e-5);
      Tensor dv = ar.zeros(DType.F32, Device.CPU, cols);
      Kernels.sumRowsMul(jx, y, dv);
      var prod = Torch.tensor(xr, rows, cols).mul(Torch.tensor(y.toFloatArray(), rows, cols));
      Assert.close("sumRowsMul of bf16", dv.toFloatArray(),
          Torch.floats(prod.mean(new long[] {0}, false, new ScalarTypeOptional()).mul(Torch.scalar(rows))), 1e-5, 1e-5);
    }
  }

  @Test
  void rejectsBadArgumentsBeforeNativeCode() {
    try (Arena ar = new Arena()) {
      Tensor x = ar.zeros(DType.F32, Device.CPU, 3, 8);
      Tensor rows = ar.zeros(DType.F32, Device.CPU, 3), cols = ar.zeros(DType.F32, Device.CPU, 8);
      expectMessage(() -> Kernels.rowNorm(x, null, null), "norm and invNorm are both null");
      expectMessage(() -> Kernels.rowNorm(x, cols, null), "norm must have shape [3]");
      expectMessage(() -> Kernels.rowNorm(x, null, ar.zeros(DType.BF16, Device.CPU, 3)), "invNorm must be float32");
      expectMessage(() -> Kernels.rowNorm(ar.zeros(DType.I32, Device.CPU, 3, 8), rows, null),
          "x must be f32, bf16 or f16");
      expectMessage(() -> Kernels.scaleRowsCols(x, cols, null, x), "rowScale must have shape [3]");
      expectMessage(() -> Kernels.scaleRowsCols(x, null, rows, x), "colScale must have shape [8]");
      expectMessage(() -> Kernels.scaleRowsCols(x, null, null, ar.zeros(DType.BF16, Device.CPU, 3, 8)),
          "y must have dtype float32");
      expectMessage(() -> Kernels.scaleRowsCols(x, null, null, ElsewhereTensors.onCuda(DType.F32, 3, 8)),
          "y is on cuda:0 but the op runs on cpu");
      expectMessage(() -> Kernels.sumRowsMul(x, ar.zeros(DType.F32, Device.CPU, 8, 3), cols), "b must have shape [3, 8]");
      expectMessage(() -> Kernels.sumRowsMul(x, x, ar.zeros(DType.F32, Device.CPU, 3)), "dv must have shape [8]");
      expectMessage(() -> Kernels.sumRowsMul(x, x, ElsewhereTensors.onCuda(DType.F32, 8)),
          "dv is on cuda:0 but the op runs on cpu");
      expectMessage(() -> Kernels.dropout(x, 1f, 0, x), "p must be in [0, 1)");
      expectMessage(() -> Kernels.dropout(x, 0.5f, 0, ar.zeros(DType.F32, Device.CPU, 8, 3)), "y must have shape [3, 8]");
      Tensor freed = Tensor.zeros(DType.F32, Device.CPU, 3, 8);
      freed.close();
      expectMessage(() -> Kernels.sumRowsMul(freed, x, cols), "a was already freed");
      expectMessage(() -> Kernels.rowNorm(freed, rows, null), "x was already freed");
      // straight at the C ABI: neither output asked for
      assertEquals(NativeStatus.INVALID_ARGUMENT, DoraNative.jsw_row_norm(-1, DType.F32.code(), x.address(), 3, 8, 0, 0));
      assertTrue(CoreNative.jsw_last_error().contains("jsw_row_norm: norm and inv_norm are both NULL"),
          CoreNative.jsw_last_error());
      assertEquals(NativeStatus.INVALID_ARGUMENT,
          DoraNative.jsw_sum_rows_mul(-1, DType.F32.code(), x.address(), x.address(), 3, 0, cols.address()));
    }
  }
}
