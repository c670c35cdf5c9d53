package jswift.nn;

import jswift.tensor.Arena;
import jswift.tensor.Kernels;
import jswift.tensor.Tensor;

/**
 * One pre-norm decoder block: h += attn(input_norm(h)); h += mlp(post_attention_norm(h)). The backward either
 * uses activations saved by the forward or recomputes them from the layer's input (activation checkpointing:
 * only the residual stream between layers is kept, one layer's activations exist at a time).
 */
public final class DecoderLayer {
  private final int index;
  private final RmsNorm inputNorm, postNorm;
  private final Attention attention;
  private final Mlp mlp;
  private final java.util.Map<String, ReftIntervention> interventions = new java.util.LinkedHashMap<>();
  private ReftIntervention intervention;  // the active adapter's, on this layer's output (ReFT), or null

  /**
   * Everything the backward needs; with recomputation the forward keeps only {@link #input} and the LoRA
   * linears' xa ({@link Linear.Saved#keepXaIn}), and {@link #complete} is false until the backward rebuilds the
   * rest.
   */
  public static final class Saved {
    Tensor input;
    final RmsNorm.Saved inputNorm = new RmsNorm.Saved(), postNorm = new RmsNorm.Saved();
    final Attention.Saved attention = new Attention.Saved();
    final Mlp.Saved mlp = new Mlp.Saved();
    final ReftIntervention.Saved intervention = new ReftIntervention.Saved();
    boolean complete;

    private void keepXaIn(Arena keep) {
      for (Linear.Saved l : new Linear.Saved[] {attention.q, attention.k, attention.v, attention.o, mlp.gate, mlp.up,
          mlp.down})
        l.keepXaIn(keep);
    }
  }

  public DecoderLayer(int index, RmsNorm inputNorm, Attention attention, RmsNorm postNorm, Mlp mlp) {
    this.index = index;
    this.inputNorm = inputNorm;
    this.attention = attention;
    this.postNorm = postNorm;
    this.mlp = mlp;
  }

  public Attention attention() {
    return attention;
  }

  public Mlp mlp() {
    return mlp;
  }

  public RmsNorm inputNorm() {
    return inputNorm;
  }

  public RmsNorm postNorm() {
    return postNorm;
  }

  /** Gives adapter {@code name} a ReFT intervention on this layer's output (replacing and freeing an older one). */
  public void setIntervention(String name, ReftIntervention i) {
    ReftIntervention old = interventions.put(name, i);
    if (old != null && old != i) {
      if (old == intervention) intervention = i;
      old.close();
    }
  }

  /** The ReFT interventions by adapter name. */
  public java.util.Map<String, ReftIntervention> interventions() {
    return java.util.Collections.unmodifiableMap(interventions);
  }

  /** Runs adapter {@code name}'s intervention on the output (none if null or this layer has none). */
  public void setActiveIntervention(String name) {
    intervention = name == null ? null : interventions.get(name);
  }

  public ReftIntervention activeIntervention() {
    return intervention;
  }

  /** Frees the interventions. */
  public void closeInterventions() {
    interventions.values().forEach(ReftIntervention::close);
    interventions.clear();
    intervention = null;
  }

  /** A distinct dropout seed for every LoRA projection of this layer in a step. */
  private long seed(long stepSeed) {
    return stepSeed * 1_000_003L + index * 16L;
  }

  /**
   * h [tokens, hidden] -> the next residual stream. {@code saved}: null for inference (no LoRA dropout), else a
   * training step's. {@code keep}: null keeps every activation (in {@code a}); else the layer is checkpointed:
   * the activations die with {@code a}, the backward recomputes them from the input, and the LoRA linears' xa
   * go to {@code keep}, the step's arena (the recomputation reuses them).
   */
  public Tensor forward(Arena a, Tensor h, AttentionLayout layout, Rope rope, long stepSeed, Saved saved, Arena keep) {
    if (saved != null) {
      saved.input = h;
      saved.complete = keep == null;
      if (keep != null) saved.keepXaIn(keep);
    }
    return run(a, h, layout, rope, stepSeed, saved, true);
  }

  /**
   * The forward; with {@code output} false (the backward's recomputation) it may stop once the activations the
   * backward reads exist and return null: the layer's output is not among them, so the down projection only
   * records its input when it can ({@link Mlp#recompute}), a GEMM with the largest weight of the layer saved.
   */
  private Tensor run(Arena a, Tensor h, AttentionLayout layout, Rope rope, long stepSeed, Saved s, boolean output) {
    long seed = seed(stepSeed);
    Tensor x = inputNorm.forward(a, h, s == null ? null : s.inputNorm);
    boolean training = s != null;
    // h2 = h + attention(x), written over the attention output (the backward does not read it)
    Tensor h2 = attention.forward(a, x, layout, rope, seed, s == null ? null : s.attention, training);
    Kernels.axpby(1f, h, 1f, h2);
    Tensor x2 = postNorm.forward(a, h2, s == null ? null : s.postNorm);
    if (!output && intervention == null) {  // an intervention reads the output: it is rebuilt too
      mlp.recompute(a, x2, seed + 8, s.mlp);
      return null;
    }
    Tensor m = mlp.forward(a, x2, seed + 8, s == null ? null : s.mlp, training);
    Kernels.axpby(1f, h2, 1f, m);  // m = h2 + mlp(x2): the layer's output, written over the MLP output
    if (intervention != null) m = intervention.forward(a, m, s == null ? null : s.intervention, seed + 14);
    return m;
  }

  /** Inference with a KV cache (see {@link Attention#forwardCached}): h [batch * qLen, hidden] -> next stream. */
  public Tensor forwardCached(Arena a, Tensor h, int batch, int qLen, Tensor positions, Rope rope, Tensor kCache,
      Tensor vCache, Tensor kvLen, Tensor keyMask, AttentionLayout prompt) {
    Tensor x = inputNorm.forward(a, h, null);
    Tensor attn = attention.forwardCached(a, x, batch, qLen, positions, rope, kCache, vCache, kvLen, keyMask, prompt);
    Kernels.axpby(1f, h, 1f, attn);  // attn = h + attention(x)
    Tensor m = mlp.forward(a, postNorm.forward(a, attn, null), 0, null, false);
    Kernels.axpby(1f, attn, 1f, m);
    return intervention == null ? m : intervention.forward(a, m, null, 0);
  }

  /** dh (gradient of the layer's output) -> gradient of its input; parameter gradients accumulate. */
  public Tensor backward(Arena a, Tensor dh, AttentionLayout layout, Rope rope, long stepSeed, Saved saved) {
    boolean recomputed = !saved.complete;
    if (recomputed) {
      // Rebuild the activations from the layer input, in this (temporary) arena.
      saved.complete = true;
      run(a, saved.input, layout, rope, stepSeed, saved, false);
    }
    long seed = seed(stepSeed);
    if (intervention != null) dh = intervention.backward(a, dh, saved.intervention);
    Tensor dx2 = mlp.backward(a, dh, seed + 8, saved.mlp);
    Tensor dh2 = postNorm.backward(a, dx2, saved.postNorm);
    Kernels.axpby(1f, dh, 1f, dh2);  // residual
    Tensor dx = attention.backward(a, dh2, layout, rope, seed, saved.attention);
    Tensor dh1 = inputNorm.backward(a, dx, saved.inputNorm);
    Kernels.axpby(1f, dh2, 1f, dh1);  // residual
    if (recomputed) saved.complete = false;  // the rebuilt activations die with the caller's arena
    return dh1;
  }
}
