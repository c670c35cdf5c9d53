package jswift.nn;

import jswift.tensor.Arena;
import jswift.tensor.Kernels;
import jswift.tensor.Tensor;

/**
 * The VeRA path of a {@link Linear} (PEFT's {@code vera.Linear}): with A [r, in] and B [out, r] the layer's slices of
 * the model-wide frozen random projections and the layer's trained vectors d = lambda_d [r] and b = lambda_b [out],
 *
 * <pre>
 *   y = x W^T + bias + b ⊙ ((d ⊙ xr) B^T),     xr = drop(x) A^T   (kept for the backward)
 * </pre>
 *
 * The base product is the dense GEMM or the packed weight's own kernels (a 4-bit base, as PEFT's bnb VeRA layers),
 * the low-rank halves are the LoRA kernels ({@link Kernels#loraDown}, {@link Kernels#loraUpGrad}: the same dropout
 * mask as LoRA's) and the vector scales are column scalings. Backward, from dy:
 *
 * <pre>
 *   db += Σ_tokens dy ⊙ u,   u = (d ⊙ xr) B^T     (recomputed: one [tokens, r] x [r, out] GEMM, nothing [tokens, out] kept)
 *   g   = (dy ⊙ b) B                               [tokens, r]
 *   dd += Σ_tokens g ⊙ xr
 *   dx  = dy W + drop'((g ⊙ d) A)
 * </pre>
 */
final class VeraLinear {
  private VeraLinear() {}

  /** y2 [tokens, out] from x2 [tokens, in]; with {@code saved}, xr goes there (in {@code arena}). */
  static void forward(LoraAdapter ad, Tensor w, QuantizedWeight packed, Tensor bias, Arena arena, Arena tmp, Tensor x2,
      Tensor y2, float dropout, long seed, Linear.Saved saved) {
    baseForward(w, packed, bias, x2, y2);
    long tokens = x2.size(0), out = y2.size(1);
    Tensor xr = (saved != null ? arena : tmp).allocate(x2.dtype(), x2.device(), tokens, ad.rank());
    Kernels.loraDown(x2, ad.aValue(), dropout, seed, xr);
    Tensor u = lowRank(ad, tmp, xr, out, true);
    Kernels.axpby(1f, u, 1f, y2);
    if (saved != null) saved.xa = xr;
  }

  /** b ⊙ ((d ⊙ xr) B^T) [tokens, out] in {@code tmp}; without the b ⊙ when {@code scaledByB} is false. */
  private static Tensor lowRank(LoraAdapter ad, Arena tmp, Tensor xr, long out, boolean scaledByB) {
    Tensor h = tmp.allocate(xr.dtype(), xr.device(), xr.shape());
    Kernels.scaleRowsCols(xr, null, ad.rankScale().value(), h);
    Tensor u = tmp.allocate(xr.dtype(), xr.device(), xr.size(0), out);
    Kernels.matmul(h, false, ad.bValue(), true, u, 1f, 0f);
    if (scaledByB) Kernels.scaleRowsCols(u, null, ad.outScale().value(), u);
    return u;
  }

  /** y = x W^T + bias from the dense weight or the packed one (its GEMV for decode-sized inputs). */
  private static void baseForward(Tensor w, QuantizedWeight packed, Tensor bias, Tensor x2, Tensor y2) {
    if (packed != null) {
      QuantizedLora.baseProduct(packed, bias, x2, y2);
      return;
    }
    Kernels.matmul(x2, false, w, true, y2, 1f, 0f);
    if (bias != null) Kernels.addBias(y2, bias);
  }

  /**
   * From dy2 [tokens, out]: dx2 (overwritten; null if not wanted) and the gradients of lambda_d and lambda_b
   * (accumulated, each when trainable).
   */
  static void backward(LoraAdapter ad, Tensor w, QuantizedWeight packed, Arena tmp, Tensor dy2, Tensor x2,
      Linear.Saved saved, long seed, Tensor dx2) {
    Tensor xr = saved.xa;
    Parameter d = ad.rankScale(), b = ad.outScale();
    long tokens = dy2.size(0), out = dy2.size(1);
    if (b.isTrainable()) Kernels.sumRowsMul(dy2, lowRank(ad, tmp, xr, out, false), b.grad());
    Tensor dyb = tmp.allocate(dy2.dtype(), dy2.device(), dy2.shape());
    Kernels.scaleRowsCols(dy2, null, b.value(), dyb);
    Tensor g = tmp.allocate(dy2.dtype(), dy2.device(), tokens, ad.rank());
    Kernels.matmul(dyb, false, ad.bValue(), false, g, 1f, 0f);
    if (d.isTrainable()) Kernels.sumRowsMul(g, xr, d.grad());
    if (dx2 == null) return;
    Kernels.scaleRowsCols(g, null, d.value(), g);
    Kernels.loraUpGrad(g, x2, ad.aValue(), 1f, ad.dropout(), seed, dx2, null);
    if (packed != null) packed.matmulBackward(dy2, dx2, 1f);
    else Kernels.matmul(dy2, false, w, false, dx2, 1f, 1f);
  }
}
