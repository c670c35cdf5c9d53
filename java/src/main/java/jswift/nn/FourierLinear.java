package jswift.nn;

import jswift.tensor.Arena;
import jswift.tensor.Kernels;
import jswift.tensor.Tensor;

/**
 * A linear layer's FourierFT path: {@link ScaledLoraLinear} over the fixed bases of {@link FourierBases} with the
 * per-rank scale d = [c; c] built from the trained coefficients c [n]. Forward copies c into both halves of d;
 * backward lets ScaledLoraLinear accumulate dd [2n] into d's own gradient, then folds it into c's:
 * dc += dd[:n] + dd[n:] (each coefficient scales one cosine and one sine rank).
 */
final class FourierLinear {
  private FourierLinear() {}

  static void forward(LoraAdapter ad, Tensor w, QuantizedWeight packed, Tensor bias, Arena arena, Arena tmp, Tensor x2,
      Tensor y2, long seed, Linear.Saved saved) {
    Parameter c = ad.spectrum();
    Tensor d = ad.rankScale().value();
    long n = c.value().numel();
    Kernels.axpby(1f, c.value(), 0f, d.narrow(0, n));  // kernels, not copies: a captured step replays them
    Kernels.axpby(1f, c.value(), 0f, d.narrow(n, n));
    ScaledLoraLinear.forward(ad, w, packed, bias, arena, tmp, x2, y2, 0f, seed, saved);
  }

  static void backward(LoraAdapter ad, Tensor w, QuantizedWeight packed, Arena tmp, Tensor dy2, Tensor x2,
      Linear.Saved saved, long seed, Tensor dx2) {
    Parameter c = ad.spectrum(), d = ad.rankScale();
    d.setTrainable(c.isTrainable());  // d's gradient is a scratch for c's
    if (d.isTrainable()) d.grad().zero();
    ScaledLoraLinear.backward(ad, w, packed, tmp, dy2, x2, saved, seed, dx2);
    if (!c.isTrainable()) return;
    long n = c.value().numel();
    Kernels.axpby(1f, d.grad().narrow(0, n), 1f, c.grad());
    Kernels.axpby(1f, d.grad().narrow(n, n), 1f, c.grad());
  }
}
