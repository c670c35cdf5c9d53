package jswift.tuner;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import jswift.model.CausalLM;
import jswift.model.SafetensorsFile;
import jswift.model.TensorSource;
import jswift.nn.Linear;
import jswift.nn.LoraAdapter;
import jswift.nn.Parameter;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Tensor;

/**
 * AdaLoRA's training-time side (PEFT's {@code RankAllocator} and {@code AdaLoraModel.forward}'s regulariser), for
 * the adapter {@link AdaLoraTuner} added:
 *
 * <ul>
 *   <li>{@link #addOrthogonalRegularization}, once per step before the optimizer: the loss gains
 *       w · mean over every A and B of ||A A^T - I||_F / ||B^T B - I||_F (w = orth_reg_weight), and A, B its gradient;
 *   <li>{@link #afterStep}, after the optimizer's update with the step's gradients still there (PEFT's
 *       {@code update_and_allocate(global_step)}, global_step counted from 1 as the HF trainer counts it): each
 *       entry's sensitivity |p ⊙ grad| is smoothed (beta1) with its uncertainty (beta2); at every deltaT-th step of
 *       the budgeting phase (tinit < step < total_step - tfinal) each triplet (a singular value, its row of A, its
 *       column of B) is scored by its E score plus the mean scores of its A row and B column, and every triplet at or
 *       below the k-th smallest score, k = init budget - budget, has its E zeroed; the budget falls from
 *       init_r per module to target_r per module on a cubic schedule; at total_step - tfinal the final allocation is
 *       made and later steps re-zero the pruned values.
 * </ul>
 *
 * The result is the rank pattern: per module which singular values survived ({@link #rankPattern}; saved in the
 * adapter's config, which then holds only the survivors, as PEFT saves). The scores live on the host, as fp32 arrays
 * of the adapter's size, and each step reads the adapter and its gradient there.
 */
public final class AdaLoraAllocator {
  private record Triplet(String module, Parameter a, Parameter b, Parameter e) {}

  private final List<Triplet> triplets = new ArrayList<>();
  private final LoraConfig cfg;
  private final long totalStep;
  private final long initBudget, targetBudget;
  private final Map<Parameter, float[]> expAvgIpt = new LinkedHashMap<>(), expAvgUnc = new LinkedHashMap<>();
  private final Map<String, boolean[]> rankPattern = new LinkedHashMap<>();

  /** The allocator of adapter {@code name} of {@code model}, over {@code totalStep} optimizer steps. */
  public AdaLoraAllocator(CausalLM model, String name, LoraConfig cfg, long totalStep) {
    if (!cfg.isAdaLora()) throw new IllegalArgumentException("not an AdaLoRA config: " + cfg);
    if (totalStep <= 0) throw new IllegalArgumentException("AdaLoRA needs the run's total steps, got " + totalStep);
    if (cfg.tinit() >= totalStep - cfg.tfinal())
      throw new IllegalArgumentException("AdaLoRA's schedule leaves no budgeting phase: tinit " + cfg.tinit()
          + " >= total steps " + totalStep + " - tfinal " + cfg.tfinal() + "; lower --adalora_tinit / --adalora_tfinal"
          + " or train for more steps");
    if (cfg.deltaT() <= 0) throw new IllegalArgumentException("AdaLoRA's deltaT must be > 0, got " + cfg.deltaT());
    if (!(cfg.beta1() > 0 && cfg.beta1() < 1 && cfg.beta2() > 0 && cfg.beta2() < 1))
      throw new IllegalArgumentException("AdaLoRA's beta1 / beta2 must be in (0, 1), got " + cfg.beta1() + " / "
          + cfg.beta2());
    this.cfg = cfg;
    this.totalStep = totalStep;
    long init = 0;
    for (Map.Entry<String, Linear> en : model.linears().entrySet()) {
      LoraAdapter ad = en.getValue().adapters().get(name);
      if (ad == null) continue;
      if (!ad.isAdaLora())
        throw new IllegalArgumentException(en.getKey() + ": adapter '" + name + "' is not an AdaLoRA adapter");
      triplets.add(new Triplet(en.getKey(), ad.a(), ad.b(), ad.rankScale()));
      init += ad.rank();
    }
    if (triplets.isEmpty()) throw new IllegalArgumentException("the model has no adapter named '" + name + "'");
    initBudget = init;
    targetBudget = (long) cfg.targetR() * triplets.size();
  }

  /** The budget (kept singular values, all modules) for a step, and whether the step masks down to it. */
  record Budget(long budget, boolean mask) {}

  Budget schedule(long step) {
    long tinit = cfg.tinit(), tfinal = cfg.tfinal();
    if (step <= tinit) return new Budget(initBudget, false);
    if (step > totalStep - tfinal) return new Budget(targetBudget, true);
    double mul = 1 - (double) (step - tinit) / (totalStep - tfinal - tinit);
    long budget = (long) ((initBudget - targetBudget) * mul * mul * mul + targetBudget);
    return new Budget(budget, step % cfg.deltaT() == 0);
  }

  /**
   * Adds w · mean ||P P^T - I||_F (A: A A^T; B: B^T B) to the gradients of every A and B and returns it (the loss's
   * share). Computed in double on the host from the fp32 masters.
   */
  public double addOrthogonalRegularization() {
    double w = cfg.orthRegWeight();
    if (w <= 0) return 0;
    int count = 2 * triplets.size();
    double sum = 0;
    for (Triplet t : triplets) {
      sum += orthogonality(t.a(), true, w / count);
      sum += orthogonality(t.b(), false, w / count);
    }
    return w * sum / count;
  }

  /** ||G - I||_F for G = P P^T (rows) or P^T P (columns); adds coefficient * its gradient to P's. */
  private static double orthogonality(Parameter p, boolean rows, double coefficient) {
    long[] shape = p.value().shape();
    int m = (int) shape[0], n = (int) shape[1], r = rows ? m : n, len = rows ? n : m;
    float[] v = weights(p);
    // vec(i) is row i (rows) or column i of P; G[i][j] = vec(i) . vec(j)
    double[][] g = new double[r][r];
    for (int i = 0; i < r; i++)
      for (int j = i; j < r; j++) {
        double s = 0;
        for (int k = 0; k < len; k++) s += (double) at(v, rows, n, i, k) * at(v, rows, n, j, k);
        g[i][j] = g[j][i] = s - (i == j ? 1 : 0);
      }
    double norm = 0;
    for (double[] row : g) for (double x : row) norm += x * x;
    norm = Math.sqrt(norm);
    if (norm == 0 || !p.isTrainable()) return norm;
    // d||D||_F / dvec(i) = 2 Σ_j D[i][j] vec(j) / ||D||_F (D symmetric)
    float[] grad = p.grad().toFloatArray();
    for (int i = 0; i < r; i++)
      for (int k = 0; k < len; k++) {
        double s = 0;
        for (int j = 0; j < r; j++) s += g[i][j] * at(v, rows, n, j, k);
        int idx = rows ? i * n + k : k * n + i;
        grad[idx] += (float) (coefficient * 2 * s / norm);
      }
    p.grad().copyFrom(grad);
    return norm;
  }

  private static float at(float[] v, boolean rows, int n, int i, int k) {
    return rows ? v[i * n + k] : v[k * n + i];
  }

  /** A trained parameter's fp32 master values (else its value). */
  private static float[] weights(Parameter p) {
    return (p.master() != null ? p.master() : p.value()).toFloatArray();
  }

  /** PEFT's update_and_allocate for the step just taken (1-based). */
  public void afterStep(long step) {
    long finalStep = totalStep - cfg.tfinal();
    if (step < finalStep) {
      updateImportance();
      Budget b = schedule(step);
      if (b.mask()) maskToBudget(b.budget());
    } else if (step == finalStep) {
      maskToBudget(schedule(step).budget());
      expAvgIpt.clear();
      expAvgUnc.clear();
    } else {
      maskByPattern();
    }
  }

  private void updateImportance() {
    double b1 = cfg.beta1(), b2 = cfg.beta2();
    for (Triplet t : triplets)
      for (Parameter p : List.of(t.a(), t.b(), t.e())) {
        float[] v = weights(p), g = p.grad().toFloatArray();
        float[] ipt = expAvgIpt.computeIfAbsent(p, k -> new float[v.length]);
        float[] unc = expAvgUnc.computeIfAbsent(p, k -> new float[v.length]);
        for (int i = 0; i < v.length; i++) {
          float s = Math.abs(v[i] * g[i]);
          ipt[i] = (float) (b1 * ipt[i] + (1 - b1) * s);
          unc[i] = (float) (b2 * unc[i] + (1 - b2) * Math.abs(s - ipt[i]));
        }
      }
  }

  /** Zeroes the singular values whose triplet scores are at or below the (init budget - budget)-th smallest. */
  private void maskToBudget(long budget) {
    Map<Triplet, double[]> scores = new LinkedHashMap<>();
    List<Double> all = new ArrayList<>();
    for (Triplet t : triplets) {
      int r = (int) t.e().value().numel();
      int in = (int) t.a().value().size(1), out = (int) t.b().value().size(0);
      float[] sa = score(t.a()), sb = score(t.b()), se = score(t.e());
      double[] s = new double[r];
      for (int i = 0; i < r; i++) {
        double a = 0, b = 0;
        for (int j = 0; j < in; j++) a += sa[i * in + j];
        for (int o = 0; o < out; o++) b += sb[o * r + i];
        s[i] = se[i] + (float) (a / in) + (float) (b / out);
        all.add(s[i]);
      }
      scores.put(t, s);
    }
    long k = initBudget - budget;
    double threshold = Double.NEGATIVE_INFINITY;
    if (k > 0) {
      double[] sorted = all.stream().mapToDouble(Double::doubleValue).sorted().toArray();
      threshold = sorted[(int) Math.min(k, sorted.length) - 1];
    }
    for (Map.Entry<Triplet, double[]> e : scores.entrySet()) {
      double[] s = e.getValue();
      boolean[] keep = new boolean[s.length];
      for (int i = 0; i < s.length; i++) keep[i] = !(s[i] <= threshold);
      rankPattern.put(e.getKey().module(), keep);
    }
    maskByPattern();
  }

  private float[] score(Parameter p) {
    float[] ipt = expAvgIpt.get(p), unc = expAvgUnc.get(p);
    float[] s = new float[(int) p.value().numel()];
    if (ipt == null) return s;
    for (int i = 0; i < s.length; i++) s[i] = ipt[i] * unc[i];
    return s;
  }

  private void maskByPattern() {
    for (Triplet t : triplets) {
      boolean[] keep = rankPattern.get(t.module());
      if (keep == null) continue;
      float[] e = weights(t.e());
      boolean changed = false;
      for (int i = 0; i < e.length; i++)
        if (!keep[i] && e[i] != 0) {
          e[i] = 0;
          changed = true;
        }
      if (!changed) continue;
      t.e().value().copyFrom(e);
      if (t.e().master() != null && t.e().master() != t.e().value()) t.e().master().copyFrom(e);
    }
  }

  /** Module path -> which singular values survive (empty until the first pruning). */
  public Map<String, boolean[]> rankPattern() {
    Map<String, boolean[]> out = new LinkedHashMap<>();
    rankPattern.forEach((k, v) -> out.put(k, v.clone()));
    return out;
  }

  /** The total of kept singular values now (the initial budget before any pruning). */
  public long keptRanks() {
    if (rankPattern.isEmpty()) return initBudget;
    long n = 0;
    for (boolean[] keep : rankPattern.values()) for (boolean k : keep) if (k) n++;
    return n;
  }

  // ---- checkpoints: the smoothed scores (the rank pattern travels in the adapter's config) ----

  private static final String PREFIX = "adalora.";

  /** The smoothed sensitivities and uncertainties, as tensors to save beside the optimizer's state. */
  public List<TensorSource> state() {
    List<TensorSource> out = new ArrayList<>();
    for (Map.Entry<Parameter, float[]> e : expAvgIpt.entrySet()) {
      long[] shape = e.getKey().value().shape();
      float[] ipt = e.getValue().clone(), unc = expAvgUnc.get(e.getKey()).clone();
      out.add(TensorSource.computed(PREFIX + e.getKey().name() + ".exp_avg_ipt", DType.F32, shape,
          () -> Tensor.fromFloats(ipt, DType.F32, Device.CPU, shape)));
      out.add(TensorSource.computed(PREFIX + e.getKey().name() + ".exp_avg_unc", DType.F32, shape,
          () -> Tensor.fromFloats(unc, DType.F32, Device.CPU, shape)));
    }
    return out;
  }

  /** Restores {@link #state} and the rank pattern of a checkpoint (its file and its adapter config). */
  public void restore(SafetensorsFile file, LoraConfig saved) throws java.io.IOException {
    expAvgIpt.clear();
    expAvgUnc.clear();
    for (Triplet t : triplets)
      for (Parameter p : List.of(t.a(), t.b(), t.e())) {
        String ipt = PREFIX + p.name() + ".exp_avg_ipt", unc = PREFIX + p.name() + ".exp_avg_unc";
        if (!file.contains(ipt)) continue;  // saved before the first step's scores, or after the final allocation
        if (!Arrays.equals(file.entry(ipt).shape(), p.value().shape()))
          throw new java.io.IOException(file.path() + ": " + ipt + " does not fit " + p.value());
        expAvgIpt.put(p, file.floats(ipt));
        expAvgUnc.put(p, file.floats(unc));
      }
    rankPattern.clear();
    rankPattern.putAll(saved.adaLoraRankPattern());
  }
}
