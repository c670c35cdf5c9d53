package jswift.nn;

import jswift.tensor.Arena;
import jswift.tensor.Kernels;
import jswift.tensor.Tensor;

/**
 * The (IA)^3 path of a {@link Linear} (PEFT's IA3 {@code Linear}): the adapter's vector l rescales the layer's
 * input for a feedforward module, or its output (the bias included, as PEFT multiplies the base layer's result):
 *
 * <pre>
 *   feedforward:  y = (x ⊙ l) W^T + b          dl += Σ_tokens (dy W) ⊙ x,      dx = (dy W) ⊙ l
 *   otherwise:    y = (x W^T + b) ⊙ l          dl += Σ_tokens dy ⊙ (x W^T + b), dx = (dy ⊙ l) W
 * </pre>
 *
 * The second gradient recomputes x W^T + b rather than keeping it. The base products are the dense GEMM or the
 * packed weight's kernels.
 */
final class Ia3Linear {
  private Ia3Linear() {}

  static void forward(LoraAdapter ad, Tensor w, QuantizedWeight packed, Tensor bias, Arena tmp, Tensor x2, Tensor y2) {
    Tensor l = ad.ia3Vector().value();
    if (ad.ia3Feedforward()) {
      Tensor xs = tmp.allocate(x2.dtype(), x2.device(), x2.shape());
      Kernels.scaleRowsCols(x2, null, l, xs);
      ScaledLoraLinear.baseForward(w, packed, bias, xs, y2);
    } else {
      ScaledLoraLinear.baseForward(w, packed, bias, x2, y2);
      Kernels.scaleRowsCols(y2, null, l, y2);
    }
  }

  static void backward(LoraAdapter ad, Tensor w, QuantizedWeight packed, Tensor bias, Arena tmp, Tensor dy2, Tensor x2,
      Tensor dx2) {
    Parameter l = ad.ia3Vector();
    if (ad.ia3Feedforward()) {
      Tensor g = tmp.allocate(dy2.dtype(), dy2.device(), x2.shape());
      baseBackward(w, packed, dy2, g);
      if (l.isTrainable()) Kernels.sumRowsMul(g, x2, l.grad());
      if (dx2 != null) Kernels.scaleRowsCols(g, null, l.value(), dx2);
      return;
    }
    if (l.isTrainable()) {
      Tensor u = tmp.allocate(dy2.dtype(), dy2.device(), dy2.shape());
      ScaledLoraLinear.baseForward(w, packed, bias, x2, u);
      Kernels.sumRowsMul(dy2, u, l.grad());
    }
    if (dx2 == null) return;
    Tensor dyl = tmp.allocate(dy2.dtype(), dy2.device(), dy2.shape());
    Kernels.scaleRowsCols(dy2, null, l.value(), dyl);
    baseBackward(w, packed, dyl, dx2);
  }

  /** dx = dy W (overwritten), from the dense or the packed weight. */
  private static void baseBackward(Tensor w, QuantizedWeight packed, Tensor dy, Tensor dx) {
    if (packed != null) packed.matmulBackward(dy, dx, 0f);
    else Kernels.matmul(dy, false, w, false, dx, 1f, 0f);
  }
}
