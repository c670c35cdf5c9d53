package jswift.train;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import jswift.infer.ChatCompletion;
import jswift.infer.GenerationConfig;
import jswift.model.Batch;
import jswift.model.CausalLM;
import jswift.template.GenerationPrompt;
import jswift.tokenizer.Tokenizer;

/**
 * One GKD micro-batch (TRL's GKDTrainer, ms-swift's {@code --rlhf_type gkd}): its answers are the dataset's, or, with
 * probability {@code lmbda}, the student's own samples (on-policy distillation), or else, with {@code seq_kd}, the
 * teacher's (sequence-level KD); then the student's next-token distributions at the answer tokens are pulled towards
 * the teacher's by {@link GkdLoss}. The teacher is a separate frozen model with the same vocabulary.
 */
final class GkdStep implements Objective {
  /** beta of the generalised JSD, the softmax temperature (also sampling's), lmbda, seq_kd, the answers' length. */
  record Settings(double beta, double temperature, double lmbda, boolean seqKd, int maxNewTokens) {}

  private static final int CHUNK_FLOATS = 1 << 22;  // logits handled per chunk: 16 MiB of fp32

  private final CausalLM student, teacher;
  private final Tokenizer tokenizer;
  private final List<String> stopWords;
  private final Settings s;
  private final String adapter;  // the student's trained adapter, active while it samples (null: full training)
  private final long runSeed;

  /** The teacher is closed with this step. */
  GkdStep(CausalLM student, CausalLM teacher, Tokenizer tokenizer, List<String> stopWords, Settings s, String adapter,
      long runSeed) {
    if (teacher.config().vocabSize() != student.config().vocabSize())
      throw new IllegalArgumentException("--teacher_model has a vocabulary of " + teacher.config().vocabSize()
          + " tokens, the student " + student.config().vocabSize() + ": distillation compares the two distributions "
          + "token by token, so the teacher must use the same tokenizer");
    this.student = student;
    this.teacher = teacher;
    this.tokenizer = tokenizer;
    this.stopWords = List.copyOf(stopWords);
    this.s = s;
    this.adapter = adapter;
    this.runSeed = runSeed;
  }

  @Override
  public String describe() {
    return "rlhf (gkd, beta " + s.beta() + ", lmbda " + s.lmbda() + ")";
  }

  @Override
  public SampleStream.Layout layout() {
    return SampleStream.Layout.SINGLE;
  }

  /**
   * Each micro-batch as sampled, or with answers written by the student (probability lmbda) or the teacher (seq_kd);
   * the draws and the samples are seeded by the step, so a resumed run makes the same ones.
   */
  @Override
  public List<Batch> prepare(List<Batch> micro, long step) {
    List<Batch> out = new ArrayList<>();
    for (int i = 0; i < micro.size(); i++) {
      long seed = runSeed * 1_000_003L + step * 7_919L + i * 104_729L;
      out.add(prepare(micro.get(i), new Random(seed), seed));
    }
    return out;
  }

  @Override
  public double normalizer(List<Batch> micro) {
    double n = 0;
    for (Batch b : micro) n += b.targetWeight();
    return n;
  }

  @Override
  public double microStep(List<Batch> micro, int i, long seed, double normalizer, TrainingLog log) {
    return forwardBackward(micro.get(i), seed, normalizer);
  }

  @Override
  public Evaluation evaluation() {
    return new Evaluation() {
      private double sum;
      private long count;

      @Override
      public void add(Batch b) {
        double[] d = evaluate(b);
        sum += d[0];
        count += (long) d[1];
      }

      @Override
      public void report(long step, TrainingLog log) throws java.io.IOException {
        if (count > 0) log.evalMetrics(step, java.util.Map.of("eval_loss", sum / count));
      }
    };
  }

  /**
   * The micro-batch to train on: {@code b} itself, or its prompts with answers sampled by the student (with
   * probability lmbda) or, with seq_kd, by the teacher. {@code coin} decides (TRL draws once per micro-batch).
   */
  Batch prepare(Batch b, Random coin, long seed) {
    boolean onPolicy = coin.nextDouble() < s.lmbda();
    if (!onPolicy && !s.seqKd()) return b;
    CausalLM writer = onPolicy ? student : teacher;
    if (onPolicy) student.setActiveAdapter(adapter);
    List<int[]> prompts = prompts(b);
    List<ChatCompletion.Request> requests = new ArrayList<>();
    for (int i = 0; i < prompts.size(); i++) {
      GenerationConfig g = new GenerationConfig(s.maxNewTokens(), true, (float) s.temperature(), 0, 1f, 1f, seed + i,
          tokenizer.eosTokenIds(), List.of());
      requests.add(new ChatCompletion.Request(new GenerationPrompt(prompts.get(i), stopWords, tokenizer.eosTokenIds()),
          g, 1, null));
    }
    List<ChatCompletion.Result> answers = ChatCompletion.generate(writer, tokenizer, requests);
    List<int[]> sampled = new ArrayList<>();
    for (ChatCompletion.Result a : answers) sampled.add(a.choices().get(0).tokens());
    return Batch.promptsAndAnswers(prompts, sampled);
  }

  /** Each packed sequence's prompt: its tokens up to the first one with a label (the answer's start). */
  static List<int[]> prompts(Batch b) {
    List<int[]> out = new ArrayList<>();
    for (int q = 0; q < b.sequences(); q++) {
      int start = b.sequenceStart(q), end = b.sequenceEnd(q), last = end - 1;
      for (int t = start; t < end; t++) {
        if (b.target(t) != Batch.IGNORE) {  // target(t) is token t + 1's label: t + 1 starts the answer
          last = t;
          break;
        }
      }
      int[] p = new int[last - start + 1];
      for (int t = 0; t < p.length; t++) p[t] = b.id(start + t);
      out.add(p);
    }
    return out;
  }

  /** One micro-step on the student; returns its part of the step's loss (divergences over {@code normalizer} tokens). */
  double forwardBackward(Batch b, long seed, double normalizer) {
    float[] teacherLogits = teacher.logits(b);
    int vocab = student.config().vocabSize();
    double[] loss = {0};
    student.forwardBackwardLogits(b, seed, Math.max(1, CHUNK_FLOATS / vocab), (from, n, logits) -> {
      float[] grad = new float[logits.length];
      for (int r = 0; r < n; r++) {
        if (b.target(from + r) == Batch.IGNORE) continue;
        loss[0] += GkdLoss.row(logits, r * vocab, teacherLogits, (from + r) * vocab, vocab, s.beta(), s.temperature(),
            grad, b.weight(from + r) / normalizer) * b.weight(from + r);
      }
      return grad;
    });
    return loss[0] / normalizer;
  }

  /** The summed divergence over a batch's labelled tokens and their count (evaluation, no dropout, no sampling). */
  double[] evaluate(Batch b) {
    float[] st = student.logits(b), te = teacher.logits(b);
    int vocab = student.config().vocabSize();
    double sum = 0;
    int count = 0;
    for (int t = 0; t < b.tokens(); t++) {
      if (b.target(t) == Batch.IGNORE) continue;
      sum += GkdLoss.row(st, t * vocab, te, t * vocab, vocab, s.beta(), s.temperature(), null, 0);
      count++;
    }
    return new double[] {sum, count};
  }

  @Override
  public void close() {
    teacher.close();
  }
}
