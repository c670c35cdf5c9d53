package jswift.nn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jswift.tensor.Arena;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Kernels;
import jswift.tensor.Tensor;
import jswift.testing.ProfileTables;
import jswift.testing.Rand;
import jswift.testing.Torch;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * An NF4 Linear without an adapter on the CPU: decode-shaped inputs (1..16 rows, {@link Linear#gemvRows}) take
 * the fused GEMV (more than 8 in two calls), larger ones the tile GEMM (the profiler names the op and counts the
 * calls); both must give x W^T + b for the NF4 weight, checked against libtorch (fp64) on the weight's own
 * dequantization.
 */
class LinearNf4GemvTest {
  @ParameterizedTest
  @CsvSource({"1, false", "3, true", "4, false", "5, true", "8, false", "9, true", "16, false", "17, true"})
  void forwardMatchesTheDequantizedWeight(int rows, boolean doubleQuant) {
    int in = 136, out = 21;  // in not a multiple of 64: rows start mid-block
    try (Arena a = new Arena(); Tensor code256 = Nf4Weight.dynamicMap(Device.CPU)) {
      Tensor w = Tensor.fromFloats(Rand.normal((long) out * in, 3, 0.05f), DType.F32, Device.CPU, out, in);
      Tensor b = Tensor.fromFloats(Rand.normal(out, 4, 1f), DType.F32, Device.CPU, out);
      Linear layer = new Linear("proj", new Parameter("proj.weight", w), new Parameter("proj.bias", b));
      layer.quantizeNf4(doubleQuant, code256).close();
      Tensor x = a.allocate(DType.F32, Device.CPU, 1, rows, in);
      x.copyFrom(Rand.normal((long) rows * in, 5, 1f));
      Kernels.profileStart();
      String ops;
      float[] got;
      try {
        got = layer.forward(a, x, 0L, null, false).toFloatArray();
      } finally {
        ops = Kernels.profileTable("rows " + rows);
        Kernels.profileStop("LinearNf4GemvTest");
      }
      boolean gemv = rows <= 16;
      String op = gemv ? "jsw_nf4_gemv" : "jsw_nf4_matmul", other = gemv ? "jsw_nf4_matmul" : "jsw_nf4_gemv";
      assertTrue(ops.contains(op) && !ops.contains(other), rows + " rows should take " + op + ":\n" + ops);
      if (gemv) assertEquals(rows > 8 ? 2 : 1, ProfileTables.calls(ops, op), rows + " rows in GEMVs of at most 8:\n" + ops);

      float[] dense = layer.quantizedWeight().dequantize(a).toFloatArray();
      float[] want = Torch.floats(Torch.tensor(x.toFloatArray(), rows, in)
          .matmul(Torch.tensor(dense, out, in).t()).add(Torch.tensor(b.toFloatArray(), out)));
      // fp32 accumulation over 136 products of O(1) x O(0.05) terms: ~1e-6; 1e-5 + 1e-5 relative is generous.
      for (int k = 0; k < got.length; k++)
        assertTrue(Math.abs(got[k] - want[k]) <= 1e-5 + 1e-5 * Math.abs(want[k]),
            "rows " + rows + " y[" + k + "] = " + got[k] + ", want " + want[k]);
      layer.quantizedWeight().close();
      b.close();
    }
  }
}
