package jswift.nn;

import jswift.tensor.Arena;
import jswift.tensor.DType;
import jswift.tensor.Kernels;
import jswift.tensor.Tensor;

/**
 * A linear layer's FourierFT path, ΔW = s B diag(d) A with the fixed bases A [2n, in], B [out, 2n] of
 * {@link FourierBases} and d = [c; c] built from the trained coefficients c [n]. Two ways to compute it, the
 * cheaper for the call's shape taken:
 *
 * <ul>
 *   <li>factorized, {@link ScaledLoraLinear} with rank 2n: tokens x 2n (in + out) multiply-adds, ΔW never formed
 *       (few tokens, or wide layers with a small n: decode, a 4096-wide layer at n = 2000 and 2048 tokens);
 *   <li>materialized, as PEFT computes it: ΔW [out, in] formed per call, then one GEMM (tokens x out x in). B's
 *       columns repeat wherever locations share a row, so ΔW = rowsB M over the U distinct rows
 *       ({@link FourierBases.Pair}): M [2U, in] the d-weighted rows of A scatter-added per row, then out x in x 2U
 *       multiply-adds (U <= out, however large n); backward G = s dy^T x, (G^T rowsB) [in, 2U] gathered back to the
 *       2n locations and dotted with A's columns: dd_k = Σ_q (G^T rowsB)[q, group k] A^T[q, k]. Where 2n exceeds the
 *       layer's width (a 256-wide layer at n = 2000) this is the cheaper path.
 * </ul>
 *
 * Either way d's gradient accumulates into d's own gradient, then folds into c's: dc += dd[:n] + dd[n:] (each
 * coefficient scales one cosine and one sine rank).
 */
final class FourierLinear {
  private FourierLinear() {}

  /** Tests force one path: null picks by cost. */
  static Boolean forceMaterialized;

  /**
   * Whether forming ΔW over the {@code rows2u} distinct-row columns costs fewer multiply-adds than the rank-2n path
   * for this many tokens.
   */
  static boolean materialize(long tokens, long rank2n, long rows2u, long in, long out) {
    if (forceMaterialized != null) return forceMaterialized;
    double factorized = (double) tokens * rank2n * (in + out), materialized = (double) out * in * (rows2u + tokens);
    return materialized < factorized;
  }

  static void forward(LoraAdapter ad, Tensor w, QuantizedWeight packed, Tensor bias, Arena arena, Arena tmp, Tensor x2,
      Tensor y2, long seed, Linear.Saved saved) {
    Parameter c = ad.spectrum();
    Tensor d = ad.rankScale().value();
    long n = c.value().numel();
    Kernels.axpby(1f, c.value(), 0f, d.narrow(0, n));  // kernels, not copies: a captured step replays them
    Kernels.axpby(1f, c.value(), 0f, d.narrow(n, n));
    if (!materialize(x2.size(0), 2 * n, 2L * ad.fourierBases().distinctRows(), x2.size(1), y2.size(1))) {
      ScaledLoraLinear.forward(ad, w, packed, bias, arena, tmp, x2, y2, 0f, seed, saved);
      return;
    }
    ScaledLoraLinear.baseForward(w, packed, bias, x2, y2);
    Kernels.matmul(x2, false, delta(ad, tmp), true, y2, ad.scale(), 1f);
  }

  /** B diag(d) A [out, in] in {@code tmp} (s left out), as rowsB M: M the d-weighted rows of A summed per row. */
  private static Tensor delta(LoraAdapter ad, Arena tmp) {
    FourierBases.Pair p = ad.fourierBases();
    Tensor a = ad.aValue(), rowsB = p.rowsB().value();
    Tensor ad2 = tmp.allocate(a.dtype(), a.device(), a.shape());
    Kernels.scaleRowsCols(a, ad.rankScale().value(), null, ad2);
    Tensor m = tmp.allocate(DType.F32, a.device(), rowsB.size(1), a.size(1));
    m.zero();
    Kernels.embeddingBackward(p.groupIds(), ad2, m);  // M[group k] += d_k A[k]
    Tensor mc = m;
    if (a.dtype() != DType.F32) {
      mc = tmp.allocate(a.dtype(), a.device(), m.shape());
      Kernels.cast(m, mc);
    }
    Tensor delta = tmp.allocate(a.dtype(), a.device(), rowsB.size(0), a.size(1));
    Kernels.matmul(rowsB, false, mc, false, delta, 1f, 0f);
    return delta;
  }

  static void backward(LoraAdapter ad, Tensor w, QuantizedWeight packed, Arena tmp, Tensor dy2, Tensor x2,
      Linear.Saved saved, long seed, Tensor dx2) {
    Parameter c = ad.spectrum(), d = ad.rankScale();
    d.setTrainable(c.isTrainable());  // d's gradient is a scratch for c's
    if (d.isTrainable()) d.grad().zero();
    long n = c.value().numel();
    FourierBases.Pair p = ad.fourierBases();
    if (!materialize(x2.size(0), 2 * n, 2L * p.distinctRows(), x2.size(1), dy2.size(1))) {
      ScaledLoraLinear.backward(ad, w, packed, tmp, dy2, x2, saved, seed, dx2);
    } else {
      float s = ad.scale();
      if (d.isTrainable()) {
        Tensor rowsB = p.rowsB().value(), aT = p.aT().value();
        Tensor g = tmp.allocate(dy2.dtype(), dy2.device(), dy2.size(1), x2.size(1));
        Kernels.matmul(dy2, true, x2, false, g, s, 0f);  // dΔW = s dy^T x
        Tensor gb = tmp.allocate(dy2.dtype(), dy2.device(), x2.size(1), rowsB.size(1));
        Kernels.matmul(g, true, rowsB, false, gb, 1f, 0f);  // (dΔW^T rowsB) [in, 2U]
        Tensor gk = tmp.allocate(dy2.dtype(), dy2.device(), x2.size(1), 2 * n);
        Kernels.gatherColumns(gb, p.groupIds(), gk);  // column k: its row's column
        Kernels.sumRowsMul(gk, aT, d.grad());  // dd_k = Σ_q gk[q, k] A^T[q, k]
      }
      if (dx2 != null) {
        Kernels.matmul(dy2, false, delta(ad, tmp), false, dx2, s, 0f);
        if (packed != null) packed.matmulBackward(dy2, dx2, 1f);
        else Kernels.matmul(dy2, false, w, false, dx2, 1f, 1f);
      }
    }
    if (!c.isTrainable()) return;
    Kernels.axpby(1f, d.grad().narrow(0, n), 1f, c.grad());
    Kernels.axpby(1f, d.grad().narrow(n, n), 1f, c.grad());
  }
}
