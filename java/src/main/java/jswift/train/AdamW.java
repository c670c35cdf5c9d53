package jswift.train;

import java.util.ArrayList;
import java.util.Collection;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import jswift.nn.Parameter;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Kernels;
import jswift.tensor.Tensor;

/**
 * torch.optim.AdamW over trainable {@link Parameter}s with the fused kernel: fp32 moments per parameter, the
 * fp32 master updated in place and, when the compute copy is bf16/f16, rewritten from it in the same pass.
 * Optional global gradient-norm clipping (torch's clip_grad_norm_) is computed on the device: the clip
 * coefficient never travels to the host.
 */
public final class AdamW implements AutoCloseable {
  private final float beta1, beta2, eps, weightDecay, maxGradNorm;
  private final List<Parameter> params;
  private final java.util.Set<Parameter> noDecay = java.util.Collections.newSetFromMap(new IdentityHashMap<>());
  private final Map<Parameter, Tensor[]> state = new IdentityHashMap<>();
  private final Map<Parameter, Float> lrRatio = new IdentityHashMap<>();  // LoRA+: per-parameter lr multipliers
  private long step;
  private Tensor sumsq, norm, coef;

  public AdamW(Collection<Parameter> params, float beta1, float beta2, float eps, float weightDecay, float maxGradNorm) {
    this.params = new ArrayList<>(params);
    this.beta1 = beta1;
    this.beta2 = beta2;
    this.eps = eps;
    this.weightDecay = weightDecay;
    this.maxGradNorm = maxGradNorm;
    for (Parameter p : this.params) {
      if (!p.isTrainable()) throw new IllegalArgumentException(p.name() + " is not trainable");
      state.put(p, new Tensor[] {Tensor.zeros(DType.F32, p.value().device(), p.value().shape()),
          Tensor.zeros(DType.F32, p.value().device(), p.value().shape())});
    }
  }

  /**
   * Exempts parameters from weight decay: transformers' Trainer decays neither biases nor normalisation weights
   * (every 1-D parameter here); see {@link #decaysLike}.
   */
  public AdamW withoutDecay(Collection<Parameter> exempt) {
    noDecay.addAll(exempt);
    return this;
  }

  /**
   * Runs these parameters at {@code ratio} times the step's learning rate (a torch param group with lr x ratio:
   * the decoupled weight decay scales with it too). LoRA+ uses it for the B matrices ({@link LoraPlus}).
   */
  public AdamW withLrRatio(Collection<Parameter> group, float ratio) {
    if (!(ratio > 0) || Float.isInfinite(ratio))
      throw new IllegalArgumentException("the learning-rate ratio must be a positive number, got " + ratio);
    for (Parameter p : group) {
      if (!state.containsKey(p)) throw new IllegalArgumentException(p.name() + " is not optimized by this AdamW");
      lrRatio.put(p, ratio);
    }
    return this;
  }

  /** transformers' rule: 1-D parameters (biases, norm weights) get no weight decay. */
  public static boolean decaysLike(Parameter p) {
    return p.value().rank() > 1;
  }

  public long stepCount() {
    return step;
  }

  /** The first and second moments of a parameter (checkpointing). */
  Tensor[] moments(Parameter p) {
    return state.get(p);
  }

  /** After restoring the moments of a checkpoint: continue counting steps from there (bias correction). */
  void restoreStepCount(long steps) {
    step = steps;
  }

  /** One update with learning rate lr from the accumulated gradients; returns the global grad norm (or -1). */
  public float step(float lr) {
    step++;
    Tensor scale = null;
    float gradNorm = -1;
    if (maxGradNorm > 0 && !params.isEmpty()) {
      Device d = params.get(0).value().device();
      if (sumsq == null) {
        sumsq = Tensor.zeros(DType.F32, d, 1);
        norm = Tensor.zeros(DType.F32, d, 1);
        coef = Tensor.zeros(DType.F32, d, 1);
      }
      sumsq.zero();
      for (Parameter p : params) Kernels.sumOfSquares(p.grad(), sumsq);
      Kernels.clipCoefficient(sumsq, maxGradNorm, norm, coef);
      scale = coef;
      gradNorm = norm.toFloatArray()[0];
    }
    for (Parameter p : params) {
      Tensor[] mv = state.get(p);
      Tensor copy = p.master() == p.value() ? null : p.value();
      float wd = noDecay.contains(p) ? 0f : weightDecay;
      float lrP = lr * lrRatio.getOrDefault(p, 1f);
      Kernels.adamwStep(p.master(), p.grad(), mv[0], mv[1], lrP, beta1, beta2, eps, wd, step, scale, copy);
    }
    return gradNorm;
  }

  public void zeroGrad() {
    for (Parameter p : params) p.zeroGrad();
  }

  @Override
  public void close() {
    for (Tensor[] mv : state.values()) {
      mv[0].close();
      mv[1].close();
    }
    state.clear();
    for (Tensor t : new Tensor[] {sumsq, norm, coef}) if (t != null) t.close();
  }
}
