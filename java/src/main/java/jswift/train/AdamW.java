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
 *
 * <p>Built with a {@link GaLoreConfig}, some 2-D weights take GaLore steps instead (galore-torch's GaLoreAdamW, see
 * {@link #galoreStep}): their moments are kept in the low-rank shape, next to their projector. With a {@link
 * QGaLoreConfig} as well they take Q-GaLore's: lazily refreshed (optionally INT4) projectors, and INT8 weights
 * updated through stochastic rounding. A step may also be taken piecewise inside the backward pass ({@link
 * #beginSplitStep}, GaLore's per-layer update), each parameter as soon as its gradient is complete.
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
  // --- GaLore (--use_galore): the projected weights, their projectors and settings ---
  private final Map<Parameter, LowRankProjector> galoreProj = new IdentityHashMap<>();
  private final GaLoreConfig galoreConfig;   // null without GaLore
  private final QGaLoreConfig qgalore;       // Q-GaLore (--galore_quantization), else null
  private final Map<Parameter, Integer> ordinal = new IdentityHashMap<>();  // a weight's stochastic-rounding stream

  public AdamW(Collection<Parameter> params, float beta1, float beta2, float eps, float weightDecay, float maxGradNorm) {
    this(params, beta1, beta2, eps, weightDecay, maxGradNorm, null, List.of());
  }

  /**
   * AdamW whose {@code projected} parameters (2-D, among {@code params}) take GaLore steps ({@link #galoreStep}).
   * Their moments are allocated in the low-rank shape ({@link GaLoreConfig#lowRankShape}) from the start, next to
   * a projector each, so a GaLore run never holds full-size moments for them, not even while it sets up.
   */
  public AdamW(Collection<Parameter> params, float beta1, float beta2, float eps, float weightDecay, float maxGradNorm,
      GaLoreConfig galore, Collection<Parameter> projected) {
    this(params, beta1, beta2, eps, weightDecay, maxGradNorm, galore, projected, null);
  }

  /**
   * As the GaLore constructor; with {@code qgalore} not null the projected weights take Q-GaLore steps: their
   * projectors are {@link QGaLoreProjector}s (INT4 with galore_proj_quant, refreshed lazily).
   */
  public AdamW(Collection<Parameter> params, float beta1, float beta2, float eps, float weightDecay, float maxGradNorm,
      GaLoreConfig galore, Collection<Parameter> projected, QGaLoreConfig qgalore) {
    if (qgalore != null && galore == null) throw new IllegalArgumentException("Q-GaLore needs a GaLore config");
    this.qgalore = qgalore;
    this.params = new ArrayList<>(params);
    this.beta1 = beta1;
    this.beta2 = beta2;
    this.eps = eps;
    this.weightDecay = weightDecay;
    this.maxGradNorm = maxGradNorm;
    this.galoreConfig = galore;
    java.util.Set<Parameter> all = java.util.Collections.newSetFromMap(new IdentityHashMap<>());
    all.addAll(this.params);
    java.util.Set<Parameter> low = java.util.Collections.newSetFromMap(new IdentityHashMap<>());
    for (Parameter p : projected) {
      if (galore == null) throw new IllegalArgumentException("projected parameters need a GaLore config");
      if (!all.contains(p)) throw new IllegalArgumentException(p.name() + " is not optimized by this AdamW");
      if (p.value().rank() != 2)
        throw new IllegalArgumentException("GaLore projects 2-D weights; " + p.name() + " is " + p.value());
      low.add(p);
    }
    for (Parameter p : low) {
      long[] shape = p.value().shape();
      galoreProj.put(p, qgalore != null
          ? new QGaLoreProjector(shape[0], shape[1], galoreConfig, qgalore, p.value().device())
          : LowRankProjector.of(new GaLoreProjector(shape[0], shape[1], galoreConfig, p.value().device())));
    }
    for (int i = 0; i < this.params.size(); i++) ordinal.putIfAbsent(this.params.get(i), i);
    for (Parameter p : this.params) if (p.isTrainable()) moments(p);
  }

  /**
   * Exempts parameters from weight decay: transformers' Trainer decays neither biases nor normalisation weights;
   * see {@link #decaysLike}.
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

  /** The projector of a GaLore weight (null for the others); tests read Q-GaLore's lazy state through it. */
  LowRankProjector projector(Parameter p) {
    return galoreProj.get(p);
  }

  /** True when this parameter takes GaLore steps. */
  public boolean isGaLore(Parameter p) {
    return galoreProj.containsKey(p);
  }

  /**
   * A parameter's optimizer state by checkpoint suffix: exp_avg and exp_avg_sq (low-rank under GaLore) and, under
   * GaLore, galore_projector; empty while the parameter holds no state. These tensors are live: a restore copies
   * into them.
   */
  Map<String, Tensor> stateTensors(Parameter p) {
    Map<String, Tensor> out = new java.util.LinkedHashMap<>();
    Tensor[] mv = state.get(p);
    if (mv == null) return out;
    out.put("exp_avg", mv[0]);
    out.put("exp_avg_sq", mv[1]);
    LowRankProjector proj = galoreProj.get(p);
    if (proj != null) out.putAll(proj.stateTensors());
    if (p.isInt8()) {
      // Q-GaLore's INT8 weight, exactly (the model files hold its dequantized values, which would not re-quantize
      // to the same codes): a resumed run continues from these bytes
      out.put("weight_int8_codes", p.value());
      out.put("weight_int8_scales", p.int8Scales());
      out.put("weight_int8_zeros", p.int8Zeros());
    }
    return out;
  }

  /**
   * Bytes of optimizer state held now: two fp32 moments per parameter with state (low-rank under GaLore) plus the
   * GaLore projectors; LISA's resting layers hold none.
   */
  public long stateBytes() {
    long b = 0;
    for (Parameter p : params)
      for (Map.Entry<String, Tensor> e : stateTensors(p).entrySet())
        if (!e.getKey().startsWith("weight_int8_")) b += e.getValue().byteSize();   // Q-GaLore's INT8 weight is a weight
    return b;
  }

  /**
   * transformers' rule (get_decay_parameter_names): biases and the weights of normalisation layers get no weight
   * decay, every other parameter does, 1-D or not (so DoRA's magnitudes, VeRA's vectors and AdaLoRA's singular
   * values are decayed, as under ms-swift). The names tell: "bias" in it, or a module named "*norm"
   * (input_layernorm, post_attention_layernorm, norm, q_norm, k_norm).
   */
  public static boolean decaysLike(Parameter p) {
    String name = p.name();
    if (name.contains("bias")) return false;
    String module = name.endsWith(".weight") ? name.substring(0, name.length() - ".weight".length()) : name;
    return !module.substring(module.lastIndexOf('.') + 1).endsWith("norm");
  }

  public long stepCount() {
    return step;
  }

  /**
   * The first and second moments of a parameter, created (zero) if it has none yet (checkpointing): in the
   * parameter's shape, or the low-rank shape of a GaLore weight.
   */
  Tensor[] moments(Parameter p) {
    Tensor[] mv = state.get(p);
    if (mv == null) {
      long[] shape = p.value().shape();
      if (galoreProj.containsKey(p)) shape = galoreConfig.lowRankShape(shape[0], shape[1]);
      mv = new Tensor[] {Tensor.zeros(DType.F32, p.value().device(), shape),
          Tensor.zeros(DType.F32, p.value().device(), shape)};
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

  /** After restoring a checkpoint: the run's step count (each parameter's own comes back with its moments). */
  void restoreStepCount(long steps) {
    step = steps;
  }

  /**
   * One update with learning rate lr from the accumulated gradients of the parameters trainable now (the norm is
   * theirs, in the order they were given); returns the global grad norm (or -1).
   */
  public float step(float lr) {
    enqueueStep(lr);
    return lastGradNorm();
  }

  private boolean clipped;  // the last step computed a global grad norm (in `norm`, on the device)

  /**
   * The update of {@link #step}, queued on the device without waiting for it: the global grad norm stays in device
   * memory until {@link #lastGradNorm} reads it. A host read waits for the whole step, so a caller that needs the
   * norm only for some steps (the trainer logs every logging_steps) reads it only then.
   */
  public void enqueueStep(float lr) {
    step++;
    List<Parameter> active = new ArrayList<>(params.size());
    for (Parameter p : params) if (p.isTrainable()) active.add(p);
    clipped = maxGradNorm > 0 && !active.isEmpty();
    Tensor scale = clipped ? clipCoefficient(active) : null;
    for (Parameter p : active) stepOne(p, lr, scale);
  }

  /** The global grad norm of these parameters into {@code norm} and the clip coefficient into {@code coef}. */
  private Tensor clipCoefficient(List<Parameter> active) {
    if (sumsq == null) {
      Device d = active.get(0).value().device();
      sumsq = Tensor.zeros(DType.F32, d, 1);
      norm = Tensor.zeros(DType.F32, d, 1);
      coef = Tensor.zeros(DType.F32, d, 1);
    }
    sumsq.zero();
    for (Parameter p : active) Kernels.sumOfSquares(p.grad(), sumsq);
    Kernels.clipCoefficient(sumsq, maxGradNorm, norm, coef);
    return coef;
  }

  /** The global grad norm of the last step (-1 without clipping); reading it waits for the device. */
  public float lastGradNorm() {
    return clipped ? norm.toFloatArray()[0] : -1;
  }

  /** One parameter's update of this step (gradScale: the clip coefficient, or null). */
  private void stepOne(Parameter p, float lr, Tensor gradScale) {
    Tensor[] mv = moments(p);
    long n = ++paramSteps.get(p)[0];
    Tensor copy = p.master() == p.value() ? null : p.value();
    float wd = noDecay.contains(p) ? 0f : weightDecay;
    float lrP = lr * lrRatio.getOrDefault(p, 1f);
    if (galoreProj.containsKey(p)) {
      galoreStep(p, mv, lrP, wd, gradScale, copy, n);
      return;
    }
    Kernels.adamwStep(p.master(), p.grad(), mv[0], mv[1], lrP, beta1, beta2, eps, wd, n, gradScale, copy);
  }

  // --- per-parameter steps (--galore_optim_per_parameter): one step split over the backward pass ---
  private float splitLr = Float.NaN;
  private final java.util.Set<Parameter> steppedThisSplit =
      java.util.Collections.newSetFromMap(new IdentityHashMap<>());

  /**
   * Starts a step that is taken piecewise, each parameter as soon as its gradient is complete ({@link
   * #stepParameters}), GaLore's per-layer update. Each parameter's update is exactly what {@link #step} would do
   * (they are independent), except that there can be no global gradient-norm clipping: the norm needs every
   * gradient first.
   */
  public void beginSplitStep(float lr) {
    if (maxGradNorm > 0)
      throw new IllegalStateException("a per-parameter step cannot clip by the global gradient norm (max_grad_norm "
          + maxGradNorm + "): that norm needs every gradient before any parameter steps");
    if (!Float.isNaN(splitLr)) throw new IllegalStateException("the previous split step was not finished");
    step++;
    splitLr = lr;
    steppedThisSplit.clear();
    // the backward allocates each gradient when it first writes it (zeroed), so none is held before it starts
    for (Parameter p : params) if (p.isTrainable()) p.releaseGrad();
  }

  /**
   * Steps these parameters (the trainable ones not stepped yet in this split step) and frees their gradients: the
   * next backward allocates them again when it first writes them ({@link Parameter#releaseGrad}).
   */
  public void stepParameters(Collection<Parameter> ready) {
    if (Float.isNaN(splitLr)) throw new IllegalStateException("stepParameters outside beginSplitStep/finishSplitStep");
    for (Parameter p : ready) {
      if (!p.isTrainable() || !steppedThisSplit.add(p)) continue;
      stepOne(p, splitLr, null);
      p.releaseGrad();
    }
  }

  /** Steps whatever trainable parameter the backward did not report, and ends the split step; returns -1 (no norm). */
  public float finishSplitStep() {
    for (Parameter p : params) if (p.isTrainable() && !steppedThisSplit.contains(p)) stepParameters(List.of(p));
    splitLr = Float.NaN;
    steppedThisSplit.clear();
    return -1;
  }

  /**
   * One GaLoreAdamW step of a projected weight, in galore-torch's order: refresh P from the current gradient every
   * update_proj_gap steps (counting from the first); R = the projected gradient (clipped on the fly by gradScale,
   * which commutes with the linear projection); Adam moments in R's shape; W -= lr * scale * back(N) with N =
   * m sqrt(1 - b2^t) / (1 - b1^t) / (sqrt(v) + eps); then the decoupled decay W -= lr * wd * W on the updated
   * weight. Two details differ from torch's AdamW on purpose, as galore-torch differs: eps is added to sqrt(v)
   * before the bias correction (the fused kernel gets eps / sqrt(1 - b2^t), which is the same), and the decay
   * comes after the step. Moments are not rotated when P changes (neither are they in galore-torch).
   */
  private void galoreStep(Parameter p, Tensor[] mv, float lr, float wd, Tensor gradScale, Tensor copy, long step) {
    LowRankProjector proj = galoreProj.get(p);
    boolean due = proj instanceof QGaLoreProjector lazy ? lazy.dueAt(step) : (step - 1) % galoreConfig.updateProjGap() == 0;
    if (due) proj.refresh(p.grad());
    Device d = p.value().device();
    // Q-GaLore's INT8 weight is updated in a dequantized fp32 copy, then stored back with stochastic rounding
    Tensor w = p.isInt8() ? Tensor.allocate(DType.F32, d, p.value().shape()) : p.master();
    try (Tensor low = Tensor.allocate(DType.F32, d, mv[0].shape());
        Tensor negN = Tensor.zeros(DType.F32, d, mv[0].shape())) {
      if (p.isInt8()) p.dequantizeInt8Into(w);
      proj.project(p.grad(), low);
      // the fused kernel on a zero "parameter" with lr 1 and no decay leaves -N in it and updates m, v
      double bias2Sqrt = Math.sqrt(1.0 - Math.pow(beta2, step));
      Kernels.adamwStep(negN, low, mv[0], mv[1], 1f, beta1, beta2, (float) (eps / bias2Sqrt), 0f, step, gradScale,
          null);
      proj.projectBackInto(negN, lr * galoreConfig.scale(), w);
      if (wd > 0) Kernels.axpby(-lr * wd, w, 1f, w);
      if (p.isInt8()) p.requantizeInt8(w, roundingSeed(p, step));
      else if (copy != null) Kernels.cast(w, copy);
    } finally {
      if (w != p.master()) w.close();
    }
  }

  /**
   * The stochastic-rounding draws of a weight's INT8 re-quantization at one of its steps: a function of the run's
   * seed, the weight's place in the optimizer and the step, so a resumed run draws what the straight run drew.
   */
  private long roundingSeed(Parameter p, long step) {
    return qgalore.seed() * 0x9E3779B97F4A7C15L + ordinal.get(p) * 0xC2B2AE3D27D4EB4FL + step;
  }

  public void zeroGrad() {
    for (Parameter p : params) p.zeroGrad();
  }

  // --- the update replayed from a graph (the trainer's --cuda_graphs) ---
  private jswift.tensor.DeviceGraph stepGraph;
  private List<Parameter> graphParams;  // the parameters the warm-up / capture stepped, in order
  private boolean graphWarm;
  private Tensor graphScalars;          // [parameters, 8]: each one's adamwScalars, rewritten before every launch

  /**
   * {@link #enqueueStep} then {@link #zeroGrad}, replayed from one captured device graph once warmed up: on CUDA one
   * launch instead of a few kernels per parameter. Each parameter's scalars of this step (its learning rate, bias
   * corrections of its own step count, decay) are computed on the host and copied into a device buffer before the
   * launch; the kernels are {@link Kernels#adamwStepDev}, {@link #enqueueStep}'s update bit for bit. The first call
   * with a set of trainable parameters runs eagerly (on CUDA that is the capture's warm-up), the second captures.
   * GaLore steps (their projector refreshes are host decisions) always run eagerly.
   */
  public void enqueueStepAndZeroGrad(float lr) {
    List<Parameter> active = new ArrayList<>(params.size());
    for (Parameter p : params) if (p.isTrainable()) active.add(p);
    if (!galoreProj.isEmpty() || active.isEmpty()) {
      enqueueStep(lr);
      zeroGrad();
      return;
    }
    if (!active.equals(graphParams)) {  // another set of parameters trains: start over
      closeStepGraph();
      graphParams = active;
      graphScalars = Tensor.zeros(DType.F32, active.get(0).value().device(), active.size(), 8);
    }
    step++;
    float[] scalars = new float[active.size() * 8];
    for (int i = 0; i < active.size(); i++) {
      Parameter p = active.get(i);
      moments(p);
      long n = ++paramSteps.get(p)[0];
      float wd = noDecay.contains(p) ? 0f : weightDecay;
      System.arraycopy(Kernels.adamwScalars(lr * lrRatio.getOrDefault(p, 1f), beta1, beta2, eps, wd, n), 0, scalars,
          i * 8, 8);
    }
    graphScalars.copyFrom(scalars);
    clipped = maxGradNorm > 0;
    if (stepGraph != null) {
      stepGraph.launch();
    } else if (!graphWarm) {
      jswift.tensor.DeviceGraph.warmUp(() -> enqueueStepDev(active));
      graphWarm = true;
    } else {
      stepGraph = jswift.tensor.DeviceGraph.capture(graphScalars.device(), () -> enqueueStepDev(active));
      stepGraph.launch();
    }
  }

  /** The update of the given parameters with their scalars in graphScalars, then their gradients zeroed. */
  private void enqueueStepDev(List<Parameter> active) {
    Tensor scale = maxGradNorm > 0 ? clipCoefficient(active) : null;
    for (int i = 0; i < active.size(); i++) {
      Parameter p = active.get(i);
      Tensor[] mv = moments(p);
      Tensor copy = p.master() == p.value() ? null : p.value();
      Kernels.adamwStepDev(p.master(), p.grad(), mv[0], mv[1], graphScalars.narrow(i, 1), scale, copy);
    }
    zeroGrad();
  }

  /** True once {@link #enqueueStepAndZeroGrad} replays a captured graph. */
  boolean replaysStepGraph() {
    return stepGraph != null;
  }

  private void closeStepGraph() {
    if (stepGraph != null) stepGraph.close();
    stepGraph = null;
    graphWarm = false;
    if (graphScalars != null) graphScalars.close();
    graphScalars = null;
    graphParams = null;
  }

  @Override
  public void close() {
    closeStepGraph();
    for (Tensor[] mv : state.values()) {
      mv[0].close();
      mv[1].close();
    }
    state.clear();
    paramSteps.clear();
    for (LowRankProjector proj : galoreProj.values()) proj.close();
    galoreProj.clear();
    for (Tensor t : new Tensor[] {sumsq, norm, coef}) if (t != null) t.close();
  }
}
