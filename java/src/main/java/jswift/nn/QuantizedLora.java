package jswift.nn;

import jswift.tensor.Arena;
import jswift.tensor.Kernels;
import jswift.tensor.Tensor;

/**
 * Plain LoRA over a quantized base weight (QLoRA, LoRA on a GPTQ checkpoint): the base product comes from the
 * packed weight's own kernels ({@link QuantizedWeight#matmul} / {@link QuantizedWeight#matmulBackward}, the
 * dequant-to-tile GEMM for NF4 and GPTQ) and the low-rank path from the low-rank kernels with the dropout inside
 * ({@link Kernels#loraDown}, {@link Kernels#loraUpGrad}) and plain GEMMs, with the fused LoRA kernel's semantics:
 * the same dropout mask (the hash of (seed, element) of {@link Kernels#dropout}), drop(x), xa and g = dy B rounded
 * to the storage dtype as it rounds them, and the same gradients (dA and dB accumulated in f32). The fused kernel
 * needs the dense W, which is what this path avoids materialising.
 */
final class QuantizedLora {
  private QuantizedLora() {}

  /**
   * y [tokens, out] = x W^T + bias + scale (drop(x) A^T) B^T; xa (or null when no backward follows) receives
   * drop(x) A^T. Temporaries (rank-sized) go to {@code tmp}.
   */
  static void forward(QuantizedWeight w, Tensor bias, LoraAdapter ad, Arena tmp, Tensor x, Tensor y, float dropout,
      long seed, Tensor xa) {
    if (baseProduct(w, bias, x, y) && xa == null && dropout == 0f) {
      // Inference: the adapter's term in one native call (decode is bound by the host's calls on the GPU).
      Kernels.loraDelta(x, ad.aValue(), ad.bValue(), ad.scale(), y);
      return;
    }
    if (xa == null) xa = tmp.allocate(x.dtype(), x.device(), x.size(0), ad.rank());
    Kernels.loraDown(x, ad.aValue(), dropout, seed, xa);
    Kernels.matmul(xa, false, ad.bValue(), true, y, ad.scale(), 1f);
  }

  /**
   * y = x W^T + bias + scale xa B^T from a given xa = drop(x) A^T (the checkpointed forward's): the recomputed
   * forward, the same operations as {@link #forward} after xa.
   */
  static void forwardFromXa(QuantizedWeight w, Tensor bias, LoraAdapter ad, Tensor x, Tensor xa, Tensor y) {
    baseProduct(w, bias, x, y);
    Kernels.matmul(xa, false, ad.bValue(), true, y, ad.scale(), 1f);
  }

  /**
   * y = x W^T + bias from the packed weight; returns whether it took the fused GEMV. Decode-sized inputs do: the
   * GEMV reads the packed weight once, where the tile GEMM would write and re-read a dense panel of every weight
   * for each token (what the first H200 run measured: 24 tokens/s for a Llama-3-8B shape at batch 1).
   */
  static boolean baseProduct(QuantizedWeight w, Tensor bias, Tensor x, Tensor y) {
    long rows = x.size(0);
    if (rows >= 1 && rows <= w.gemvMaxRows()) {
      w.gemv(x, bias, y);
      return true;
    }
    w.matmul(x, y, 0f);
    if (bias != null) Kernels.addBias(y, bias);
    return false;
  }

  /**
   * From dy [tokens, out]: dx = dy W + scale drop'((dy B) A) (overwritten; null if not needed), and the
   * adapter's gradients dA += scale (dy B)^T drop(x), dB += scale dy^T xa (each skipped when frozen).
   */
  static void backward(QuantizedWeight w, LoraAdapter ad, Arena tmp, Tensor dy, Tensor x, Tensor xa, float dropout,
      long seed, Tensor dx) {
    Tensor dA = ad.a().grad(), dB = ad.b().grad();
    if (dB != null) Kernels.matmul(dy, true, xa, false, dB, ad.scale(), 1f);
    if (dx == null && dA == null) return;
    Tensor g = tmp.allocate(dy.dtype(), dy.device(), dy.size(0), ad.rank());
    Kernels.matmul(dy, false, ad.bValue(), false, g, 1f, 0f);
    // dA and the low-rank part of dx in one pass over x (masked like the forward's input: drop' is linear, so the
    // scale commutes with it); then the base product adds into dx.
    Kernels.loraUpGrad(g, x, ad.aValue(), ad.scale(), dropout, seed, dx, dA);
    if (dx != null) w.matmulBackward(dy, dx, 1f);
  }
}
