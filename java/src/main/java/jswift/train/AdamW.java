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
 *
 * <p>As in torch, the state is per parameter: its moments and its own step count (bias correction). A parameter
 * that is frozen at a step is skipped (torch skips parameters without a gradient) and gets its state the first
 * time it steps while trainable; {@link #release} frees a parameter's state, so that it starts afresh the next
 * time it trains (LISA, which keeps optimizer state only for the layers it is training).
 */
public final class AdamW implements AutoCloseable {
  private final float beta1, beta2, eps, weightDecay, maxGradNorm;
  private final List<Parameter> params;
  private final java.util.Set<Parameter> noDecay = java.util.Collections.newSetFromMap(new IdentityHashMap<>());
  private final Map<Parameter, Tensor[]> state = new IdentityHashMap<>();
  private final Map<Parameter, Float> lrRatio = new IdentityHashMap<>();  // LoRA+: per-parameter lr multipliers
  private final Map<Parameter, long[]> paramSteps = new IdentityHashMap<>();  // torch's state['step'], per parameter
  private long step;
  private Tensor sumsq, norm, coef;

  public AdamW(Collection<Parameter> params, float beta1, float beta2, float eps, float weightDecay, float maxGradNorm) {
    this.params = new ArrayList<>(params);
    this.beta1 = beta1;
    this.beta2 = beta2;
    this.eps = eps;
    this.weightDecay = weightDecay;
    this.maxGradNorm = maxGradNorm;
    for (Parameter p : this.params) if (p.isTrainable()) moments(p);
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

  /** The first and second moments of a parameter, created (zero) if it has none yet (checkpointing). */
  Tensor[] moments(Parameter p) {
    Tensor[] mv = state.get(p);
    if (mv == null) {
      mv = new Tensor[] {Tensor.zeros(DType.F32, p.value().device(), p.value().shape()),
          Tensor.zeros(DType.F32, p.value().device(), p.value().shape())};
      state.put(p, mv);
      paramSteps.put(p, new long[1]);
    }
    return mv;
  }

  /** Whether the parameter holds optimizer state (it trained since it was last released). */
  public boolean hasState(Parameter p) {
    return state.containsKey(p);
  }

  /** The steps a parameter took since its state was created (its bias correction); 0 without state. */
  public long parameterSteps(Parameter p) {
    long[] n = paramSteps.get(p);
    return n == null ? 0 : n[0];
  }

  /** After restoring a parameter's moments from a checkpoint: the steps they had taken. */
  void restoreParameterSteps(Parameter p, long steps) {
    moments(p);
    paramSteps.get(p)[0] = steps;
  }

  /** Frees a parameter's moments: the next time it trains it starts from zero moments and step 1. */
  public void release(Parameter p) {
    Tensor[] mv = state.remove(p);
    paramSteps.remove(p);
    if (mv != null) {
      mv[0].close();
      mv[1].close();
    }
  }

  /** Bytes of optimizer state held now (two fp32 moments per parameter with state). */
  public long stateBytes() {
    long b = 0;
    for (Tensor[] mv : state.values()) b += mv[0].byteSize() + mv[1].byteSize();
    return b;
  }

  /** After restoring a checkpoint: the run's step count (each parameter's own comes back with its moments). */
  void restoreStepCount(long steps) {
    step = steps;
  }

  /**
   * One update with learning rate lr from the accumulated gradients of the parameters trainable now (the norm is
   * theirs, in the order they were given); returns the global grad norm (or -1).
   */
  public float step(float lr) {
    step++;
    List<Parameter> active = new ArrayList<>(params.size());
    for (Parameter p : params) if (p.isTrainable()) active.add(p);
    Tensor scale = null;
    float gradNorm = -1;
    if (maxGradNorm > 0 && !active.isEmpty()) {
      Device d = active.get(0).value().device();
      if (sumsq == null) {
        sumsq = Tensor.zeros(DType.F32, d, 1);
        norm = Tensor.zeros(DType.F32, d, 1);
        coef = Tensor.zeros(DType.F32, d, 1);
      }
      sumsq.zero();
      for (Parameter p : active) Kernels.sumOfSquares(p.grad(), sumsq);
      Kernels.clipCoefficient(sumsq, maxGradNorm, norm, coef);
      scale = coef;
      gradNorm = norm.toFloatArray()[0];
    }
    for (Parameter p : active) {
      Tensor[] mv = moments(p);
      long n = ++paramSteps.get(p)[0];
      Tensor copy = p.master() == p.value() ? null : p.value();
      float wd = noDecay.contains(p) ? 0f : weightDecay;
      float lrP = lr * lrRatio.getOrDefault(p, 1f);
      Kernels.adamwStep(p.master(), p.grad(), mv[0], mv[1], lrP, beta1, beta2, eps, wd, n, scale, copy);
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
    paramSteps.clear();
    for (Tensor t : new Tensor[] {sumsq, norm, coef}) if (t != null) t.close();
  }
}
