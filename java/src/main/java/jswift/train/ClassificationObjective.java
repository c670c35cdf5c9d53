package jswift.train;

import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import jswift.model.Batch;
import jswift.model.CausalLM;
import jswift.model.ProblemType;
import jswift.model.ScoreHead;

/**
 * Sequence classification ({@code --task_type seq_cls}): the score head reads each row's last hidden state and
 * {@link ClassificationLoss} compares its logits with the row's label. Logs the loss and, for classification, the
 * accuracy ({@code acc}: exact predictions over rows).
 */
final class ClassificationObjective implements Objective.OnSequences {
  private final CausalLM model;
  private final ScoreHead head;
  private final ProblemType type;

  /** {@code head} is trained (it is one of the run's parameters) and closed with this objective. */
  ClassificationObjective(CausalLM model, ScoreHead head, ProblemType type) {
    this.model = model;
    this.head = head;
    this.type = type;
  }

  @Override
  public String describe() {
    return "sft (seq_cls, " + type.hfName() + ", " + head.labels() + " label" + (head.labels() == 1 ? "" : "s") + ")";
  }

  @Override
  public SampleStream.Layout layout() {
    return SampleStream.Layout.CLASSIFY;
  }

  @Override
  public double normalizer(List<Batch> micro) {
    int sequences = 0;
    for (Batch b : micro) sequences += b.sequences();
    return ClassificationLoss.elements(type, sequences, head.labels());
  }

  @Override
  public double microStep(List<Batch> micro, int i, long seed, double normalizer, TrainingLog log) {
    Batch b = micro.get(i);
    double[][] targets = b.sequenceTargets();
    ClassificationLoss.Scored[] scored = new ClassificationLoss.Scored[1];
    model.forwardBackwardLastHidden(b, seed, h -> {
      scored[0] = ClassificationLoss.score(type, head.logits(h), targets, normalizer);
      return head.backward(h, scored[0].dLogits());
    });
    if (type != ProblemType.REGRESSION) log.metric("acc", (double) scored[0].correct() / b.sequences());
    return scored[0].loss();
  }

  @Override
  public Evaluation evaluation() {
    return new Evaluation() {
      private double loss;
      private int rows, correct;

      @Override
      public void add(Batch b) {
        double[][] targets = b.sequenceTargets();
        // each batch's mean loss, weighted by its rows (for cross-entropy; by rows x labels otherwise, the same mean)
        ClassificationLoss.Scored s = ClassificationLoss.score(type, head.logits(model.lastHiddenStates(b)), targets,
            ClassificationLoss.elements(type, b.sequences(), head.labels()));
        loss += s.loss() * b.sequences();
        rows += b.sequences();
        correct += s.correct();
      }

      @Override
      public void report(long step, TrainingLog log) throws IOException {
        if (rows == 0) return;
        Map<String, Double> m = new LinkedHashMap<>();
        m.put("eval_loss", loss / rows);
        if (type != ProblemType.REGRESSION) m.put("eval_acc", (double) correct / rows);
        log.evalMetrics(step, m);
      }
    };
  }

  @Override
  public void close() {
    head.close();
  }
}
