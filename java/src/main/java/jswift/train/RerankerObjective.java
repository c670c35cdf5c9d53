package jswift.train;

import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import jswift.model.Batch;
import jswift.model.CausalLM;
import jswift.model.SequenceScorer;

/**
 * Reranker training ({@code --task_type reranker}: a one-label score head; {@code generative_reranker}: the LM head's
 * "yes" minus "no" logit) on each (query, document) sequence's last hidden state, trained with {@link RerankerLoss};
 * the step's loss is the mean of its micro-batches' losses, as ms-swift's trainer accumulates them. Logs MRR and NDCG
 * of the groups' rankings.
 */
final class RerankerObjective implements Objective.OnSequences {
  private final CausalLM model;
  private final SequenceScorer head;
  private final RerankerLoss.Type type;
  private final RerankerLoss.Listwise settings;
  private final boolean generative;

  /** {@code head} is closed with this objective (a score head is one of the run's trained parameters). */
  RerankerObjective(CausalLM model, SequenceScorer head, RerankerLoss.Type type, RerankerLoss.Listwise settings,
      boolean generative) {
    this.model = model;
    this.head = head;
    this.type = type;
    this.settings = settings;
    this.generative = generative;
  }

  @Override
  public String describe() {
    return "sft (" + (generative ? "generative_reranker" : "reranker") + ", " + type.flag(generative) + ")";
  }

  @Override
  public SampleStream.Layout layout() {
    return SampleStream.Layout.RERANK;
  }

  @Override
  public double normalizer(List<Batch> micro) {
    return Objective.microBatches(micro);
  }

  private static double[] labels(Batch b) {
    double[][] t = b.sequenceTargets();
    double[] out = new double[t.length];
    for (int s = 0; s < t.length; s++) out[s] = t[s][0];
    return out;
  }

  @Override
  public double microStep(List<Batch> micro, int i, long seed, double normalizer, TrainingLog log) {
    Batch b = micro.get(i);
    double[] labels = labels(b);
    RerankerLoss.Scored[] scored = new RerankerLoss.Scored[1];
    model.forwardBackwardLastHidden(b, seed, h -> {
      scored[0] = RerankerLoss.score(type, settings, head.scores(h), labels, normalizer);
      return head.backward(h, scored[0].dScores());
    });
    RerankerLoss.Scored s = scored[0];
    if (s.groups() > 0) {
      log.metric("mrr", s.mrrSum() / s.groups());
      log.metric("ndcg", s.ndcgSum() / s.groups());
    }
    return s.loss();
  }

  @Override
  public Evaluation evaluation() {
    return new Evaluation() {
      private double loss, mrr, ndcg;
      private long batches, groups;

      @Override
      public void add(Batch b) {
        RerankerLoss.Scored s = RerankerLoss.score(type, settings, head.scores(model.lastHiddenStates(b)), labels(b), 1);
        loss += s.loss();
        batches++;
        mrr += s.mrrSum();
        ndcg += s.ndcgSum();
        groups += s.groups();
      }

      @Override
      public void report(long step, TrainingLog log) throws IOException {
        if (batches == 0) return;
        Map<String, Double> m = new LinkedHashMap<>();
        m.put("eval_loss", loss / batches);
        if (groups > 0) {
          m.put("eval_mrr", mrr / groups);
          m.put("eval_ndcg", ndcg / groups);
        }
        log.evalMetrics(step, m);
      }
    };
  }

  @Override
  public void close() {
    head.close();
  }
}
