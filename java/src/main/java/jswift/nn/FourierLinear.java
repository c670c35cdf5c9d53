package jswift.nn;

import jswift.tensor.Arena;
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
 *   <li>materialized, as PEFT computes it: ΔW [out, in] formed per call (out x in x 2n), then one GEMM
 *       (tokens x out x in); backward G = s dy^T x and dd_k = Σ_p B[p, k] (G A^T)[p, k], where 2n exceeds the
 *       layer's width (a 256-wide layer at n = 2000 is 15x cheaper this way).
 * </ul>
 *
 * Either way d's gradient accumulates into d's own gradient, then folds into c's: dc += dd[:n] + dd[n:] (each
 * coefficient scales one cosine and one sine rank).
 */
final class FourierLinear {
  private FourierLinear() {}

  /** Tests force one path: null picks by cost. */
  static Boolean forceMaterialized;

  /** Whether forming ΔW costs fewer multiply-adds than the rank-2n path for this many tokens. */
  static boolean materialize(long tokens, long rank2n, long in, long out) {
    if (forceMaterialized != null) return forceMaterialized;
    double factorized = (double) tokens * rank2n * (in + out), materialized = (double) out * in * (rank2n + tokens);
    return materialized < factorized;
  }

  static void forward(LoraAdapter ad, Tensor w, QuantizedWeight packed, Tensor bias, Arena arena, Arena tmp, Tensor x2,
      Tensor y2, long seed, Linear.Saved saved) {
    Parameter c = ad.spectrum();
    Tensor d = ad.rankScale().value();
    long n = c.value().numel();
    Kernels.axpby(1f, c.value(), 0f, d.narrow(0, n));  // kernels, not copies: a captured step replays them
    Kernels.axpby(1f, c.value(), 0f, d.narrow(n, n));
    if (!materialize(x2.size(0), 2 * n, x2.size(1), y2.size(1))) {
      ScaledLoraLinear.forward(ad, w, packed, bias, arena, tmp, x2, y2, 0f, seed, saved);
      return;
    }
    ScaledLoraLinear.baseForward(w, packed, bias, x2, y2);
    Kernels.matmul(x2, false, delta(ad, tmp), true, y2, ad.scale(), 1f);
  }

  /** B diag(d) A [out, in] in {@code tmp} (s left out). */
  private static Tensor delta(LoraAdapter ad, Arena tmp) {
    Tensor b = ad.bValue(), a = ad.aValue();
    Tensor bd = tmp.allocate(b.dtype(), b.device(), b.shape());
    Kernels.scaleRowsCols(b, null, ad.rankScale().value(), bd);
    Tensor delta = tmp.allocate(b.dtype(), b.device(), b.size(0), a.size(1));
    Kernels.matmul(bd, false, a, false, delta, 1f, 0f);
    return delta;
  }

  static void backward(LoraAdapter ad, Tensor w, QuantizedWeight packed, Arena tmp, Tensor dy2, Tensor x2,
      Linear.Saved saved, long seed, Tensor dx2) {
    Parameter c = ad.spectrum(), d = ad.rankScale();
    d.setTrainable(c.isTrainable());  // d's gradient is a scratch for c's
    if (d.isTrainable()) d.grad().zero();
    long n = c.value().numel();
    if (!materialize(x2.size(0), 2 * n, x2.size(1), dy2.size(1))) {
      ScaledLoraLinear.backward(ad, w, packed, tmp, dy2, x2, saved, seed, dx2);
    } else {
      float s = ad.scale();
      if (d.isTrainable()) {
        Tensor a = ad.aValue(), b = ad.bValue();
        Tensor g = tmp.allocate(dy2.dtype(), dy2.device(), dy2.size(1), x2.size(1));
        Kernels.matmul(dy2, true, x2, false, g, s, 0f);  // dΔW = s dy^T x
        Tensor ga = tmp.allocate(dy2.dtype(), dy2.device(), dy2.size(1), a.size(0));
        Kernels.matmul(g, false, a, true, ga, 1f, 0f);
        Kernels.sumRowsMul(b, ga, d.grad());  // dd_k = Σ_p B[p, k] (dΔW A^T)[p, k]
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
