package jswift.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import jswift.tensor.Arena;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Kernels;
import jswift.tensor.Tensor;
import jswift.testing.Assert;
import jswift.testing.Rand;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * An act-order GPTQ weight on the CPU is repacked into group order when it is built (its products gather their
 * input columns into that order). Checked against the checkpoint as stored, dequantized by the kernel straight
 * from the original packing, so a wrong repack, order or inverse shows: the dense weight comes back bit for bit,
 * and the GEMV, the tile GEMM and the backward (beta 0 and 0.5) equal x W^T / dy W within fp32 summation order.
 */
class GptqWeightTest {
  private static final int OUT = 144, IN = 256;  // one 128-channel block and a tail; a multiple of 32 / bits

  @ParameterizedTest
  @CsvSource({"4, 2, true", "8, 4, true", "4, 2, false", "2, 2, true"})
  void actOrderWeightsGiveTheCheckpointsProducts(int bits, int groups, boolean actOrder) {
    int p = 32 / bits;
    int[] qw = words(IN / p * OUT, 1), qz = words(groups * OUT / p, 2);  // every word is a valid packing
    float unit = 1f / (1 << bits);
    float[] sc = Rand.uniform((long) groups * OUT, 3, 0.2f * unit, unit);
    int[] g = new int[IN];
    for (int k = 0; k < IN; k++) g[k] = k / (IN / groups);
    if (actOrder) g = Rand.ints(IN, 4, 0, groups);
    float[] want;  // the checkpoint's dense weight, from the original packing
    try (Tensor q = Tensor.fromInts(qw, Device.CPU, IN / p, OUT); Tensor z = Tensor.fromInts(qz, Device.CPU, groups, OUT / p);
        Tensor s = Tensor.fromFloats(sc, DType.F16, Device.CPU, groups, OUT); Tensor gi = Tensor.fromInts(g, Device.CPU, IN);
        Tensor w = Tensor.allocate(DType.F32, Device.CPU, OUT, IN)) {
      Kernels.gptqDequantize(q, z, s, gi, bits, w);
      want = w.toFloatArray();
    }
    try (GptqWeight gw = new GptqWeight("q", OUT, IN, bits, DType.F32, Tensor.fromInts(qw, Device.CPU, IN / p, OUT),
        Tensor.fromInts(qz, Device.CPU, groups, OUT / p), Tensor.fromFloats(sc, DType.F16, Device.CPU, groups, OUT),
        Tensor.fromInts(g, Device.CPU, IN)); Arena a = new Arena()) {
      assertArrayEquals(want, gw.dequantize(a).toFloatArray(), "dequantize");
      for (int rows : new int[] {1, 3, 13, 40}) {  // 13: the CPU's GEMV in an 8-row and a 5-row call
        float[] xs = Rand.normal((long) rows * IN, rows, 1f), dys = Rand.normal((long) rows * OUT, rows + 1, 1f);
        Tensor x = Tensor.fromFloats(xs, DType.F32, Device.CPU, rows, IN);
        Tensor y = a.allocate(DType.F32, Device.CPU, rows, OUT);
        assertEquals(rows <= 16, rows <= gw.gemvMaxRows(), "the CPU takes the GEMV up to 16 rows");
        if (rows <= gw.gemvMaxRows()) {
          gw.gemv(x, null, y);
          Assert.close("gemv rows " + rows, y.toFloatArray(), matmul(xs, want, rows, IN, OUT, false), 2e-5, 2e-5);
        }
        gw.matmul(x, y, 0f);
        Assert.close("matmul rows " + rows, y.toFloatArray(), matmul(xs, want, rows, IN, OUT, false), 2e-5, 2e-5);
        Tensor dy = Tensor.fromFloats(dys, DType.F32, Device.CPU, rows, OUT);
        float[] dx0 = Rand.normal((long) rows * IN, rows + 2, 1f);
        Tensor dx = Tensor.fromFloats(dx0, DType.F32, Device.CPU, rows, IN);
        gw.matmulBackward(dy, dx, 0.5f);
        float[] dyW = matmul(dys, want, rows, OUT, IN, true);
        for (int i = 0; i < dyW.length; i++) dyW[i] += 0.5f * dx0[i];
        Assert.close("backward rows " + rows, dx.toFloatArray(), dyW, 2e-5, 2e-5);
        gw.matmulBackward(dy, dx, 0f);
        Assert.close("backward beta 0 rows " + rows, dx.toFloatArray(), matmul(dys, want, rows, OUT, IN, true), 2e-5,
            2e-5);
        x.close();
        dy.close();
        dx.close();
      }
      // the group order costs two int32 vectors of `in` over the packed weight, and only for act-order
      long packed = (long) IN / p * OUT * 4 + (long) groups * OUT / p * 4 + (long) groups * OUT * 2 + IN * 4L;
      assertEquals(packed + (actOrder ? 2L * IN * 4 : 0), gw.bytes(), "bytes");
    }
  }

  private static int[] words(int n, long seed) {
    java.util.Random r = new java.util.Random(seed);
    int[] v = new int[n];
    for (int i = 0; i < n; i++) v[i] = r.nextInt();
    return v;
  }

  /** a [rows, k] times w [n, k]^T (trans false: y [rows, n]) or times w [k, n] (trans true: dy W), in double. */
  private static float[] matmul(float[] a, float[] w, int rows, int k, int n, boolean trans) {
    float[] y = new float[rows * n];
    for (int r = 0; r < rows; r++)
      for (int j = 0; j < n; j++) {
        double s = 0;
        for (int i = 0; i < k; i++) s += (double) a[r * k + i] * (trans ? w[i * n + j] : w[j * k + i]);
        y[r * n + j] = (float) s;
      }
    return y;
  }
}
