package jswift.train;

import java.io.IOException;
import java.util.List;
import jswift.model.Batch;

/**
 * What an rlhf step minimises over its micro-batches when that is not sft's token cross-entropy: DPO and its
 * reference-free kin, KTO, reward modelling, distillation. The trainer's loop stays one loop: it asks the objective
 * for the step's micro-batches and normaliser, runs each micro-step through it, and hands it the evaluation
 * batches. (GRPO, which samples its own batches, has a loop of its own: {@link GrpoStep}.)
 */
interface Objective extends AutoCloseable {
  /** The run's banner, e.g. "rlhf (dpo, beta 0.1)". */
  String describe();

  /** How the run's batches hold their samples. */
  SampleStream.Layout layout();

  /** The step's micro-batches as trained; GKD may have new answers sampled. */
  default List<Batch> prepare(List<Batch> micro, long step) {
    return micro;
  }

  /** Whether a micro-batch has anything to learn from (default: a token carries a label). */
  default boolean learnsFrom(Batch b) {
    return b.targetCount() > 0;
  }

  /** What the step's loss is averaged over (pairs, rows or tokens); 0: nothing to learn from. */
  double normalizer(List<Batch> micro);

  /**
   * Micro-batch {@code i} of the step: its forward and backward passes (training forwards with dropout masks seeded
   * by {@code seed}; the device's dropout step is set), returning its part of the step's loss; step metrics go to
   * {@code log}.
   */
  double microStep(List<Batch> micro, int i, long seed, double normalizer, TrainingLog log);

  /** State a resumed run needs besides the weights and moments (BCO's running mean), saved in each checkpoint. */
  default List<jswift.model.TensorSource> state() {
    return List.of();
  }

  /** Takes {@link #state} back from a checkpoint's optimizer file. */
  default void restore(jswift.model.SafetensorsFile optimizerFile) throws IOException {}

  /** A fresh accumulator for one evaluation. */
  Evaluation evaluation();

  /** An evaluation in progress: batches in, then one report. */
  interface Evaluation {
    void add(Batch b);

    void report(long step, TrainingLog log) throws IOException;
  }

  @Override
  default void close() {}

  /**
   * An objective on whole sequences (a head on each one's last token: classifiers, embeddings, rerankers): their
   * rows carry no token labels, so every micro-batch with a sequence has something to learn.
   */
  interface OnSequences extends Objective {
    @Override
    default boolean learnsFrom(Batch b) {
      return b.sequences() > 0;
    }
  }

  /** The micro-batches that hold a sequence: what a loss averaged per micro-batch is divided by. */
  static double microBatches(List<Batch> micro) {
    int n = 0;
    for (Batch b : micro) if (b.sequences() > 0) n++;
    return n;
  }
}
