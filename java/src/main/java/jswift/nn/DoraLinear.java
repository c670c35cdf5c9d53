package jswift.nn;

import jswift.tensor.Arena;
import jswift.tensor.DType;
import jswift.tensor.Kernels;
import jswift.tensor.Tensor;

/**
 * The DoRA path of a {@link Linear} (PEFT's {@code DoraLinearLayer}): with m the adapter's magnitude and
 * n = ||W + s B A|| per output row, computed once per forward in fp32 (one GEMM into an fp32 copy of the dense or
 * dequantized W, then row norms) and treated as a constant in the backward, as PEFT's detach does:
 *
 * <pre>
 *   eval, or lora_dropout = 0:  y = b + (m / n) * z(x),                      z(x) = x W^T + s (x A^T) B^T
 *   training with dropout:      y = b + (x - xd) W^T + (m / n) * z(xd),      xd = drop(x)
 * </pre>
 *
 * The second line is PEFT's training forward, {@code base(x) + (m/n - 1) * xd W^T + (m/n) * s (xd A^T) B^T}:
 * the base path sees the whole input and only the DoRA term sees the dropped one. Backward: dz = dy * m / n
 * feeds the fused LoRA backward (on xd), dm = sum over tokens of dy * z / n (z / n kept from the forward), and
 * with dropout dx = dy W + drop(dxd - dy W). xd is regenerated from x and the seed, never stored.
 */
final class DoraLinear {
  private DoraLinear() {}

  /** norm / invNorm (f32 [out], either may be null) of the rows of w + scale * b a, computed in fp32. */
  static void rowNormOfSum(Arena tmp, Tensor w, Tensor a, Tensor b, float scale, Tensor norm, Tensor invNorm) {
    Tensor sum = tmp.allocate(DType.F32, w.device(), w.shape());
    Kernels.cast(w, sum);
    Kernels.matmul(b, false, a, false, sum, scale, 1f);
    Kernels.rowNorm(sum, norm, invNorm);
  }

  /** y2 [tokens, out] from x2 [tokens, in]; what the backward needs goes into {@code saved} (in {@code arena}). */
  static void forward(LoraAdapter ad, Tensor w, Tensor bias, Arena arena, Arena tmp, Tensor x2, Tensor y2, long seed,
      Linear.Saved saved, boolean training) {
    long out = y2.size(1);
    float p = training ? ad.dropout() : 0f;
    Tensor invNorm = tmp.allocate(DType.F32, x2.device(), out);
    rowNormOfSum(tmp, w, ad.aValue(), ad.bValue(), ad.scale(), null, invNorm);
    Tensor factor = (saved != null ? arena : tmp).allocate(DType.F32, x2.device(), out);  // m / n
    Kernels.scaleRowsCols(ad.magnitude().value().view(1, out), null, invNorm, factor.view(1, out));
    Tensor xd = x2;
    if (p > 0) {
      xd = tmp.allocate(x2.dtype(), x2.device(), x2.shape());
      Kernels.dropout(x2, p, seed, xd);
    }
    Tensor xa = saved == null ? null : arena.allocate(x2.dtype(), x2.device(), x2.size(0), ad.rank());
    Kernels.loraForward(xd, w, null, ad.aValue(), ad.bValue(), ad.scale(), 0f, seed, y2, xa);  // z(xd)
    if (saved != null) {
      saved.xa = xa;
      saved.doraFactor = factor;
      if (ad.magnitude().isTrainable()) {
        saved.doraZn = arena.allocate(y2.dtype(), y2.device(), y2.shape());
        Kernels.scaleRowsCols(y2, null, invNorm, saved.doraZn);
      }
    }
    Kernels.scaleRowsCols(y2, null, factor, y2);
    if (p > 0) {
      Kernels.axpby(1f, x2, -1f, xd);  // xd becomes x - xd: the dropped part of the base path's input
      Kernels.matmul(xd, false, w, true, y2, 1f, 1f);
    }
    if (bias != null) Kernels.addBias(y2, bias);
  }

  /**
   * From dy2 [tokens, out]: dx2 (overwritten; null if not wanted) and the trainable gradients: A, B, the magnitude,
   * and W itself when {@code weightGrad} is not null (full fine-tuning under an adapter).
   */
  static void backward(LoraAdapter ad, Tensor w, Arena tmp, Tensor dy2, Tensor x2, Linear.Saved saved, long seed,
      Tensor dx2, Tensor weightGrad) {
    float p = ad.dropout();  // backward runs in training only
    Tensor dz = tmp.allocate(dy2.dtype(), dy2.device(), dy2.shape());
    Kernels.scaleRowsCols(dy2, null, saved.doraFactor, dz);
    Parameter m = ad.magnitude();
    if (m.isTrainable()) {
      if (saved.doraZn == null)
        throw new IllegalStateException(m.name() + " became trainable after the forward pass");
      Kernels.sumRowsMul(dy2, saved.doraZn, m.grad());
    }
    Tensor xd = x2;
    if (p > 0) {
      xd = tmp.allocate(x2.dtype(), x2.device(), x2.shape());
      Kernels.dropout(x2, p, seed, xd);
    }
    Kernels.loraBackward(dz, xd, w, ad.aValue(), ad.bValue(), saved.xa, ad.scale(), 0f, seed, dx2, ad.a().grad(),
        ad.b().grad());
    if (weightGrad != null) Kernels.matmul(dz, true, xd, false, weightGrad, 1f, 1f);
    if (p == 0) return;
    // The base path on x - xd: d(x - xd)/dx = 1 - mask, so dx = dxd + (1 - mask) (dy W - dxd) = du + drop(dxd - du).
    if (dx2 != null) {
      Tensor du = tmp.allocate(dx2.dtype(), dx2.device(), dx2.shape());
      Kernels.matmul(dy2, false, w, false, du, 1f, 0f);
      Kernels.axpby(-1f, du, 1f, dx2);
      Kernels.dropout(dx2, p, seed, dx2);
      Kernels.axpby(1f, du, 1f, dx2);
    }
    if (weightGrad != null) {
      Kernels.axpby(1f, x2, -1f, xd);  // x - xd
      Kernels.matmul(dy2, true, xd, false, weightGrad, 1f, 1f);
    }
  }
}
