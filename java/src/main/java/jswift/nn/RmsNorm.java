package jswift.nn;

import jswift.tensor.Arena;
import jswift.tensor.DType;
import jswift.tensor.Kernels;
import jswift.tensor.Tensor;

/** y = weight * x / sqrt(mean(x^2) + eps) over the last dimension (also per head: Qwen3's q/k norm). */
public final class RmsNorm {
  private final Parameter weight;
  private final float eps;

  /** The input and 1/rms of each row. */
  public static final class Saved {
    Tensor x;
    Tensor rstd;
  }

  public RmsNorm(Parameter weight, float eps) {
    this.weight = weight;
    this.eps = eps;
  }

  public Parameter weight() {
    return weight;
  }

  public Tensor forward(Arena arena, Tensor x, Saved saved) {
    Tensor y = arena.allocate(x.dtype(), x.device(), x.shape());
    Tensor rstd = saved == null ? null : arena.allocate(DType.F32, x.device(), x.numel() / x.size(-1));
    Kernels.rmsNormForward(x, weight.value(), eps, y, rstd);
    if (saved != null) {
      saved.x = x;
      saved.rstd = rstd;
    }
    return y;
  }

  /** dx (a new tensor); the weight's gradient accumulates when it is trainable. */
  public Tensor backward(Arena arena, Tensor dy, Saved saved) {
    Tensor dx = arena.allocate(dy.dtype(), dy.device(), dy.shape());
    Kernels.rmsNormBackward(dy, saved.x, weight.value(), saved.rstd, dx, weight.isTrainable() ? weight.grad() : null);
    return dx;
  }
}
