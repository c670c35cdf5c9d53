package jswift.train;

import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import jswift.model.Batch;
import jswift.model.CausalLM;

/**
 * Embedding training ({@code --task_type embedding}): each sequence's embedding is its last token's final hidden
 * state, L2-normalized, and {@link EmbeddingLoss} pulls each anchor to its positive (and, InfoNCE, away from the
 * batch's other candidates). The step's loss is the mean of its micro-batches' losses, as ms-swift's trainer
 * accumulates them; InfoNCE's in-batch negatives are those of the micro-batch ({@code --per_device_train_batch_size}).
 */
final class EmbeddingObjective implements Objective.OnSequences {
  private final CausalLM model;
  private final EmbeddingLoss.Type type;
  private final EmbeddingLoss.InfoNce settings;

  EmbeddingObjective(CausalLM model, EmbeddingLoss.Type type, EmbeddingLoss.InfoNce settings) {
    this.model = model;
    this.type = type;
    this.settings = settings;
  }

  @Override
  public String describe() {
    return "sft (embedding, " + type.flag() + (type == EmbeddingLoss.Type.INFONCE ? ", temperature "
        + settings.temperature() + (settings.useBatch() ? ", in-batch negatives" : ", own negatives only") : "") + ")";
  }

  @Override
  public SampleStream.Layout layout() {
    return SampleStream.Layout.EMBEDDING;
  }

  /** The step's micro-batches: each contributes its mean loss, divided by their number. */
  @Override
  public double normalizer(List<Batch> micro) {
    return Objective.microBatches(micro);
  }

  /** The groups (anchor, positive, negatives) of a batch, from its sequences' {kind, label} targets. */
  static List<EmbeddingLoss.Group> groups(Batch b) {
    double[][] t = b.sequenceTargets();
    List<EmbeddingLoss.Group> out = new ArrayList<>();
    for (int s = 0; s < t.length; ) {
      if (t[s][0] != 0 || s + 1 >= t.length || t[s + 1][0] != 1)
        throw new IllegalStateException("an embedding batch must hold anchor, positive, negatives... groups");
      int anchor = s, positive = s + 1;
      s += 2;
      List<Integer> negatives = new ArrayList<>();
      while (s < t.length && t[s][0] == 2) negatives.add(s++);
      out.add(new EmbeddingLoss.Group(anchor, positive, negatives.stream().mapToInt(Integer::intValue).toArray(),
          t[positive][1]));
    }
    return out;
  }

  @Override
  public double microStep(List<Batch> micro, int i, long seed, double normalizer, TrainingLog log) {
    Batch b = micro.get(i);
    List<EmbeddingLoss.Group> groups = groups(b);
    EmbeddingLoss.Scored[] scored = new EmbeddingLoss.Scored[1];
    model.forwardBackwardLastHidden(b, seed, h -> {
      double[] norms = new double[h.length];
      double[][] e = EmbeddingLoss.normalize(h, norms);
      scored[0] = EmbeddingLoss.score(type, settings, e, groups, normalizer);
      return EmbeddingLoss.normalizeBackward(e, norms, scored[0].dE());
    });
    if (type == EmbeddingLoss.Type.INFONCE) {
      EmbeddingLoss.Scored s = scored[0];
      log.metric("margin", (s.positiveSum() - s.hardestNegativeSum()) / groups.size());
      log.metric("mean_pos", s.positiveSum() / groups.size());
      if (s.negatives() > 0) log.metric("mean_neg", s.negativeSum() / s.negatives());
    }
    return scored[0].loss();
  }

  @Override
  public Evaluation evaluation() {
    return new Evaluation() {
      private double loss, positive, hardest, negative;
      private long batches, groups, negatives;

      @Override
      public void add(Batch b) {
        List<EmbeddingLoss.Group> g = groups(b);
        float[][] h = model.lastHiddenStates(b);
        double[][] e = EmbeddingLoss.normalize(h, new double[h.length]);
        EmbeddingLoss.Scored s = EmbeddingLoss.score(type, settings, e, g, 1);
        loss += s.loss();
        batches++;
        groups += g.size();
        positive += s.positiveSum();
        hardest += s.hardestNegativeSum();
        negative += s.negativeSum();
        negatives += s.negatives();
      }

      @Override
      public void report(long step, TrainingLog log) throws IOException {
        if (batches == 0) return;
        Map<String, Double> m = new LinkedHashMap<>();
        m.put("eval_loss", loss / batches);
        if (type == EmbeddingLoss.Type.INFONCE) {
          m.put("eval_margin", (positive - hardest) / groups);
          m.put("eval_mean_pos", positive / groups);
          if (negatives > 0) m.put("eval_mean_neg", negative / negatives);
        }
        log.evalMetrics(step, m);
      }
    };
  }
}
