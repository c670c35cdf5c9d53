package jswift.nn;

import jswift.tensor.Arena;
import jswift.tensor.Kernels;
import jswift.tensor.Tensor;

/**
 * The low-rank path of a {@link Linear} scaled per rank (and for VeRA per output): with d [r] the adapter's
 * {@link LoraAdapter#rankScale} and b [out] its {@link LoraAdapter#outScale} (or none),
 *
 * <pre>
 *   y = x W^T + bias + s b ⊙ ((d ⊙ xr) B^T),     xr = drop(x) A^T   (kept for the backward)
 * </pre>
 *
 * <ul>
 *   <li>VeRA (PEFT's {@code vera.Linear}): A [r, in], B [out, r] slices of the model-wide frozen projections,
 *       d = lambda_d, b = lambda_b trained, s = 1;
 *   <li>AdaLoRA (PEFT's {@code SVDLinear}): A, B and the singular values d = lora_E all trained, no b,
 *       s = lora_alpha / (init_r + 1e-5).
 * </ul>
 *
 * The base product is the dense GEMM or the packed weight's own kernels (a 4-bit base), the low-rank halves are the
 * LoRA kernels ({@link Kernels#loraDown}, {@link Kernels#loraUpGrad}: LoRA's dropout mask) and the vector scales are
 * column scalings. Backward, from dy (each gradient only when its parameter trains):
 *
 * <pre>
 *   db += s Σ_tokens dy ⊙ u,   u = (d ⊙ xr) B^T    (recomputed: nothing [tokens, out] is kept)
 *   dyb = dy ⊙ b                                   (dy without b)
 *   dB += s dyb^T (d ⊙ xr)
 *   g   = s dyb B                                  [tokens, r]
 *   dd += Σ_tokens g ⊙ xr
 *   dA += (g ⊙ d)^T drop(x),   dx = dy W + drop'((g ⊙ d) A)
 * </pre>
 */
final class ScaledLoraLinear {
  private ScaledLoraLinear() {}

  /** y2 [tokens, out] from x2 [tokens, in]; with {@code saved}, xr goes there (in {@code arena}). */
  static void forward(LoraAdapter ad, Tensor w, QuantizedWeight packed, Tensor bias, Arena arena, Arena tmp, Tensor x2,
      Tensor y2, float dropout, long seed, Linear.Saved saved) {
    baseForward(w, packed, bias, x2, y2);
    long tokens = x2.size(0), out = y2.size(1);
    Tensor xr = (saved != null ? arena : tmp).allocate(x2.dtype(), x2.device(), tokens, ad.rank());
    Kernels.loraDown(x2, ad.aValue(), dropout, seed, xr);
    Tensor u = lowRank(ad, tmp, xr, scaled(ad, tmp, xr), out, true);
    Kernels.axpby(ad.scale(), u, 1f, y2);
    if (saved != null) saved.xa = xr;
  }

  /** d ⊙ xr in {@code tmp}. */
  private static Tensor scaled(LoraAdapter ad, Arena tmp, Tensor xr) {
    Tensor h = tmp.allocate(xr.dtype(), xr.device(), xr.shape());
    Kernels.scaleRowsCols(xr, null, ad.rankScale().value(), h);
    return h;
  }

  /** (h B^T) [tokens, out] in {@code tmp}, times b when the adapter has one and {@code scaledByB}. */
  private static Tensor lowRank(LoraAdapter ad, Arena tmp, Tensor xr, Tensor h, long out, boolean scaledByB) {
    Tensor u = tmp.allocate(xr.dtype(), xr.device(), xr.size(0), out);
    Kernels.matmul(h, false, ad.bValue(), true, u, 1f, 0f);
    if (scaledByB && ad.outScale() != null) Kernels.scaleRowsCols(u, null, ad.outScale().value(), u);
    return u;
  }

  /** y = x W^T + bias from the dense weight or the packed one (its GEMV for decode-sized inputs). */
  static void baseForward(Tensor w, QuantizedWeight packed, Tensor bias, Tensor x2, Tensor y2) {
    if (packed != null) {
      QuantizedLora.baseProduct(packed, bias, x2, y2);
      return;
    }
    Kernels.matmul(x2, false, w, true, y2, 1f, 0f);
    if (bias != null) Kernels.addBias(y2, bias);
  }

  /**
   * From dy2 [tokens, out]: dx2 (overwritten; null if not wanted) and the gradients of the trainable parts among A,
   * B, d and b (accumulated).
   */
  static void backward(LoraAdapter ad, Tensor w, QuantizedWeight packed, Arena tmp, Tensor dy2, Tensor x2,
      Linear.Saved saved, long seed, Tensor dx2) {
    Tensor xr = saved.xa;
    Parameter d = ad.rankScale(), b = ad.outScale();
    long tokens = dy2.size(0), out = dy2.size(1);
    float s = ad.scale();
    Tensor h = scaled(ad, tmp, xr);
    Tensor dyb = dy2;
    if (b != null) {
      if (b.isTrainable()) {
        Tensor u = lowRank(ad, tmp, xr, h, out, false);
        if (s != 1f) Kernels.axpby(0f, u, s, u);
        Kernels.sumRowsMul(dy2, u, b.grad());
      }
      dyb = tmp.allocate(dy2.dtype(), dy2.device(), dy2.shape());
      Kernels.scaleRowsCols(dy2, null, b.value(), dyb);
    }
    if (ad.b().isTrainable()) Kernels.matmul(dyb, true, h, false, ad.b().grad(), s, 1f);
    Tensor dA = ad.a().isTrainable() ? ad.a().grad() : null;
    if (dx2 == null && dA == null && !d.isTrainable()) return;
    Tensor g = tmp.allocate(dy2.dtype(), dy2.device(), tokens, ad.rank());
    Kernels.matmul(dyb, false, ad.bValue(), false, g, s, 0f);
    if (d.isTrainable()) Kernels.sumRowsMul(g, xr, d.grad());
    if (dx2 == null && dA == null) return;
    Kernels.scaleRowsCols(g, null, d.value(), g);
    Kernels.loraUpGrad(g, x2, ad.aValue(), 1f, ad.dropout(), seed, dx2, dA);
    if (dx2 == null) return;
    if (packed != null) packed.matmulBackward(dy2, dx2, 1f);
    else Kernels.matmul(dy2, false, w, false, dx2, 1f, 1f);
  }
}
