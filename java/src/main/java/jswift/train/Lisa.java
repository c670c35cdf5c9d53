package jswift.train;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import jswift.model.CausalLM;
import jswift.nn.Parameter;

/**
 * LISA (layerwise importance sampled AdamW, arXiv 2403.17919) over a full fine-tune: the embeddings, the final
 * norm and the LM head always train; of the decoder layers only {@code --lisa_activated_layers} train at a time,
 * drawn uniformly without replacement and redrawn every {@code --lisa_step_interval} optimizer steps. The other
 * layers are frozen (no fp32 master, no gradient, no optimizer state).
 *
 * <p>Optimizer state follows LMFlow's LISATrainer, which rebuilds the optimizer at every switch and carries over
 * only the state of the always-trained parameters: at each new interval the active layers start from zero moments
 * and step 1 (a layer drawn again, even twice in a row, starts afresh too), so the state held is that of the
 * active layers only. ms-swift's LISA callback only toggles {@code requires_grad}, so torch keeps every layer's
 * moments for the whole run; that saves no optimizer memory, which is the point of LISA.
 *
 * <p>A frozen layer keeps only its compute copy: with bf16 compute on CUDA its fp32 master is dropped at the end of
 * its interval and rebuilt from the bf16 weights when it is drawn again (on the CPU the fp32 weight is the master).
 *
 * <p>Interval {@code i} covers steps {@code i*K+1 .. (i+1)*K} and its layers are a function of (seed, i) only, so a
 * resumed run draws exactly the layers a straight run drew. (ms-swift's callback also redraws at the second step,
 * a side effect of its {@code global_step == 1} test; jswift does not copy that.)
 */
final class Lisa {
  private final List<List<Parameter>> layers;
  private final int activated, interval;
  private final long seed;
  private long currentInterval = -1;
  private int[] active = new int[0];

  /**
   * Freezes every decoder layer of {@code model}; {@link #beforeStep} then activates the sampled ones. The
   * parameters outside the layers are left as they are (trainable in a full fine-tune).
   */
  Lisa(CausalLM model, int activated, int interval, long seed) {
    this.layers = layerParameters(model);
    if (activated <= 0 || activated > layers.size())
      throw new IllegalArgumentException("--lisa_activated_layers " + activated + " must be between 1 and the model's "
          + layers.size() + " decoder layers");
    if (interval <= 0) throw new IllegalArgumentException("--lisa_step_interval must be > 0, got " + interval);
    this.activated = activated;
    this.interval = interval;
    this.seed = seed;
    for (List<Parameter> layer : layers) for (Parameter p : layer) p.setTrainable(false);
  }

  /** The parameters of each decoder layer, by the layer index in their Hugging Face names, in the model's order. */
  static List<List<Parameter>> layerParameters(CausalLM model) {
    List<List<Parameter>> out = new ArrayList<>();
    for (int i = 0; i < model.config().numHiddenLayers(); i++) out.add(new ArrayList<>());
    for (Parameter p : model.parameters().values()) {
      String n = p.name();
      if (!n.startsWith("model.layers.")) continue;
      int end = n.indexOf('.', "model.layers.".length());
      out.get(Integer.parseInt(n.substring("model.layers.".length(), end))).add(p);
    }
    return out;
  }

  /** The layers sampled for interval {@code index}: {@code n} distinct of {@code count}, in ascending order. */
  static int[] sample(long seed, long index, int count, int n) {
    // A generator per interval (not one stream for the run): resuming at any step needs no saved RNG state.
    SplittableRandom r = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + index);
    int[] order = new int[count];
    for (int i = 0; i < count; i++) order[i] = i;
    for (int i = 0; i < n; i++) {  // partial Fisher-Yates: the first n of a uniform permutation
      int j = i + r.nextInt(count - i);
      int t = order[i];
      order[i] = order[j];
      order[j] = t;
    }
    int[] out = Arrays.copyOf(order, n);
    Arrays.sort(out);
    return out;
  }

  /** The 0-based interval that optimizer step {@code step} (1-based) belongs to. */
  long intervalOf(long step) {
    return (step - 1) / interval;
  }

  /**
   * Before optimizer step {@code step}: at a new interval, frees the optimizer state of the layers that were
   * training and freezes them, then unfreezes the interval's layers (their state starts from zero). Returns
   * whether the active layers were switched.
   */
  boolean beforeStep(long step, AdamW optimizer) {
    long index = intervalOf(step);
    if (index == currentInterval) return false;
    for (int l : active) {
      for (Parameter p : layers.get(l)) {
        optimizer.release(p);
        p.setTrainable(false);
      }
    }
    active = sample(seed, index, layers.size(), activated);
    for (int l : active) for (Parameter p : layers.get(l)) p.setTrainable(true);
    currentInterval = index;
    return true;
  }

  /** The layers training now, ascending. */
  int[] activeLayers() {
    return active.clone();
  }

  /** The last step of the current interval. */
  long intervalEnd() {
    return (currentInterval + 1) * interval;
  }

  /**
   * The parameters whose optimizer state starts afresh at {@code step}: the active layers' when {@code step} opens
   * an interval (a checkpoint saved just before holds the previous interval's state, which a straight run drops).
   */
  Set<Parameter> freshAt(long step) {
    Set<Parameter> fresh = Collections.newSetFromMap(new IdentityHashMap<>());
    if ((step - 1) % interval == 0) for (int l : active) fresh.addAll(layers.get(l));
    return fresh;
  }

  int layerCount() {
    return layers.size();
  }
}
