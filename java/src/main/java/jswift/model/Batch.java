package jswift.model;

import java.util.Arrays;
import java.util.List;

/**
 * Token ids of one step, on the host, in one of the two layouts the attention kernel takes: padded rows of equal
 * length with a mask, or packed sequences (no padding, attention kept inside each sequence). {@code targets[t]}
 * is the label of token t's successor within its sequence (the causal-LM shift), -100 where there is none or it
 * is ignored; the loss is the mean cross-entropy over the targets that are not -100, as transformers computes it.
 */
public final class Batch {
  public static final int IGNORE = -100;

  final int[] ids;
  final int[] keyMask;    // [rows * seqLen] or null
  final int[] cuSeqlens;  // [sequences + 1] or null
  final int[] positions;
  final int[] targets;
  final int sequences;
  final int seqLen;
  float[] weights;  // loss weight of each target (null: all 1), ms-swift's loss_scale shifted like the labels
  double[] sequenceValues;  // a number per sequence that a loss reads (KTO: 1 desirable / 0; RM: the pair's margin)
  double[][] sequenceTargets;  // a vector per sequence: a classifier's target, an embedding / reranker sequence's role

  private Batch(int[] ids, int[] keyMask, int[] cuSeqlens, int[] positions, int[] targets, int sequences, int seqLen) {
    this.ids = ids;
    this.keyMask = keyMask;
    this.cuSeqlens = cuSeqlens;
    this.positions = positions;
    this.targets = targets;
    this.sequences = sequences;
    this.seqLen = seqLen;
  }

  /**
   * Rows of equal length. attentionMask (1 = token, 0 = padding) may be null (all tokens); labels may be null (no
   * loss). Positions run 0..seqLen-1 in every row, as transformers does when given no position_ids.
   */
  public static Batch padded(int[][] inputIds, int[][] attentionMask, int[][] labels) {
    int rows = inputIds.length;
    if (rows == 0) throw new IllegalArgumentException("empty batch");
    int len = inputIds[0].length;
    if (len == 0) throw new IllegalArgumentException("empty sequence in the batch");
    int n = rows * len;
    int[] ids = new int[n], pos = new int[n], tgt = new int[n];
    int[] mask = attentionMask == null ? null : new int[n];
    for (int r = 0; r < rows; r++) {
      check(inputIds[r].length == len, "row " + r + " has " + inputIds[r].length + " ids, row 0 has " + len);
      if (mask != null) check(attentionMask[r].length == len, "attention_mask row " + r + " has the wrong length");
      if (labels != null) check(labels[r].length == len, "labels row " + r + " has the wrong length");
      for (int t = 0; t < len; t++) {
        ids[r * len + t] = inputIds[r][t];
        pos[r * len + t] = t;
        if (mask != null) mask[r * len + t] = attentionMask[r][t];
        tgt[r * len + t] = labels != null && t + 1 < len ? labels[r][t + 1] : IGNORE;
      }
    }
    return new Batch(ids, mask, null, pos, tgt, rows, len);
  }

  /** Sequences of any lengths packed end to end (labels may be null). Positions restart at 0 in each. */
  public static Batch packed(List<int[]> inputIds, List<int[]> labels) {
    if (inputIds.isEmpty()) throw new IllegalArgumentException("empty batch");
    int n = inputIds.stream().mapToInt(s -> s.length).sum();
    int[] ids = new int[n], pos = new int[n], tgt = new int[n], cu = new int[inputIds.size() + 1];
    int off = 0, longest = 0;
    for (int s = 0; s < inputIds.size(); s++) {
      int[] seq = inputIds.get(s);
      check(seq.length > 0, "sequence " + s + " is empty");
      int[] lab = labels == null ? null : labels.get(s);
      if (lab != null) check(lab.length == seq.length, "labels of sequence " + s + " have the wrong length");
      for (int t = 0; t < seq.length; t++) {
        ids[off + t] = seq[t];
        pos[off + t] = t;
        tgt[off + t] = lab != null && t + 1 < seq.length ? lab[t + 1] : IGNORE;
      }
      off += seq.length;
      cu[s + 1] = off;
      longest = Math.max(longest, seq.length);
    }
    return new Batch(ids, null, cu, pos, tgt, inputIds.size(), longest);
  }

  /**
   * Sequence i = prompts[i] then answers[i], packed, with only the answer labelled: a sampled answer to train on
   * (GRPO, on-policy distillation).
   */
  public static Batch promptsAndAnswers(List<int[]> prompts, List<int[]> answers) {
    check(prompts.size() == answers.size(), prompts.size() + " prompts for " + answers.size() + " answers");
    List<int[]> ids = new java.util.ArrayList<>(), labels = new java.util.ArrayList<>();
    for (int i = 0; i < prompts.size(); i++) {
      int[] p = prompts.get(i), a = answers.get(i);
      int[] seq = new int[p.length + a.length], lab = new int[seq.length];
      System.arraycopy(p, 0, seq, 0, p.length);
      System.arraycopy(a, 0, seq, p.length, a.length);
      Arrays.fill(lab, 0, p.length, IGNORE);
      System.arraycopy(a, 0, lab, p.length, a.length);
      ids.add(seq);
      labels.add(lab);
    }
    return packed(ids, labels);
  }

  /**
   * Packed sequences with per-token loss weights (ms-swift's loss_scale: weight of token t's label, aligned with
   * the labels); the weight of target t is the weight of the label it predicts.
   */
  public static Batch packed(List<int[]> inputIds, List<int[]> labels, List<float[]> lossScales) {
    Batch b = packed(inputIds, labels);
    if (lossScales != null) {
      b.weights = new float[b.ids.length];
      int off = 0;
      for (int s = 0; s < inputIds.size(); s++) {
        int len = inputIds.get(s).length;
        float[] w = lossScales.get(s);
        for (int t = 0; t < len; t++) b.weights[off + t] = w == null ? 1f : t + 1 < len ? w[t + 1] : 0f;
        off += len;
      }
    }
    return b;
  }

  /**
   * This packed batch with every target of sequence s weighted by {@code perSequence[s]} (times its own loss
   * weight); weights may be negative (a preference loss pushes the rejected answer down).
   */
  public Batch withSequenceWeights(double[] perSequence) {
    check(cuSeqlens != null, "sequence weights need a packed batch");
    check(perSequence.length == sequences, perSequence.length + " sequence weights for " + sequences + " sequences");
    Batch b = new Batch(ids, null, cuSeqlens, positions, targets, sequences, seqLen);
    b.weights = new float[ids.length];
    for (int s = 0; s < sequences; s++)
      for (int t = cuSeqlens[s]; t < cuSeqlens[s + 1]; t++) b.weights[t] = (float) (perSequence[s] * weight(t));
    return b;
  }

  /**
   * This batch with target t weighted by {@code perTarget[t]} (times its own loss weight): GRPO's per-token policy
   * gradient weights. Weights may be negative.
   */
  public Batch withTargetWeights(float[] perTarget) {
    check(perTarget.length == ids.length, perTarget.length + " target weights for " + ids.length + " tokens");
    Batch b = new Batch(ids, keyMask, cuSeqlens, positions, targets, sequences, seqLen);
    b.weights = new float[ids.length];
    for (int t = 0; t < ids.length; t++) b.weights[t] = perTarget[t] * weight(t);
    return b;
  }

  /**
   * This batch with a number per sequence that a training loss reads: KTO's label (1 for a desirable answer, 0 for
   * an undesirable one), a reward model's margin.
   */
  public Batch withSequenceValues(double[] perSequence) {
    check(perSequence.length == sequences, perSequence.length + " values for " + sequences + " sequences");
    Batch b = new Batch(ids, keyMask, cuSeqlens, positions, targets, sequences, seqLen);
    b.weights = weights;
    b.sequenceValues = perSequence.clone();
    return b;
  }

  /** The value of sequence s given by {@link #withSequenceValues}; throws for a batch without values. */
  public double sequenceValue(int s) {
    check(sequenceValues != null, "the batch has no per-sequence values (KTO labels, reward margins)");
    return sequenceValues[s];
  }

  /**
   * This batch with a target vector for each sequence: a classifier's ({@link ProblemType#target}), or an embedding
   * or reranker sequence's role and label (jswift.train.TaskSamples).
   */
  public Batch withSequenceTargets(double[][] perSequence) {
    check(perSequence.length == sequences, perSequence.length + " targets for " + sequences + " sequences");
    Batch b = new Batch(ids, keyMask, cuSeqlens, positions, targets, sequences, seqLen);
    b.weights = weights;
    b.sequenceValues = sequenceValues;
    b.sequenceTargets = new double[sequences][];
    for (int s = 0; s < sequences; s++) b.sequenceTargets[s] = perSequence[s].clone();
    return b;
  }

  /** The targets given by {@link #withSequenceTargets}, one array per sequence; throws for a batch without them. */
  public double[][] sequenceTargets() {
    check(sequenceTargets != null, "the batch has no per-sequence targets (a classifier's, embedding or reranker rows)");
    double[][] out = new double[sequences][];
    for (int s = 0; s < sequences; s++) out[s] = sequenceTargets[s].clone();
    return out;
  }

  /** The first {@code n} sequences of this packed batch, as a batch of their own (KTO trains on these). */
  public Batch firstSequences(int n) {
    check(cuSeqlens != null, "firstSequences needs a packed batch");
    check(n >= 1 && n <= sequences, "firstSequences(" + n + ") of " + sequences + " sequences");
    int end = cuSeqlens[n], longest = 0;
    for (int s = 0; s < n; s++) longest = Math.max(longest, cuSeqlens[s + 1] - cuSeqlens[s]);
    Batch b = new Batch(Arrays.copyOf(ids, end), null, Arrays.copyOf(cuSeqlens, n + 1), Arrays.copyOf(positions, end),
        Arrays.copyOf(targets, end), n, longest);
    if (weights != null) b.weights = Arrays.copyOf(weights, end);
    if (sequenceValues != null) b.sequenceValues = Arrays.copyOf(sequenceValues, n);
    if (sequenceTargets != null) b.sequenceTargets = Arrays.copyOf(sequenceTargets, n);
    return b;
  }

  /** The token range [start, end) of packed sequence s. */
  public int sequenceStart(int s) {
    check(cuSeqlens != null, "a packed batch has sequence ranges");
    return cuSeqlens[s];
  }

  public int sequenceEnd(int s) {
    check(cuSeqlens != null, "a packed batch has sequence ranges");
    return cuSeqlens[s + 1];
  }

  /**
   * This packed batch padded to a fixed shape, for a step replayed from a graph: {@code tokens} tokens (the pad
   * tokens, id {@code padId}, carry no target and form sequences of their own of at most {@code seqLen} tokens,
   * so attention never mixes them with real ones and their gradients are zero) in exactly {@code sequences}
   * sequences (the last ones empty). Throws if the batch is not packed or does not fit.
   */
  public Batch padTo(int tokens, int sequences, int seqLen, int padId) {
    check(cuSeqlens != null, "padTo needs a packed batch");
    int n = ids.length;
    check(n <= tokens, "padTo: the batch has " + n + " tokens, more than " + tokens);
    check(this.seqLen <= seqLen, "padTo: a sequence has " + this.seqLen + " tokens, more than " + seqLen);
    int needed = paddedSequences(tokens, seqLen);
    check(needed <= sequences, "padTo: " + this.sequences + " sequences + " + (needed - this.sequences)
        + " of padding do not fit in " + sequences);
    int[] id = Arrays.copyOf(ids, tokens), pos = Arrays.copyOf(positions, tokens), tgt = Arrays.copyOf(targets, tokens);
    int[] cu = Arrays.copyOf(cuSeqlens, sequences + 1);
    for (int t = n; t < tokens; t++) {
      id[t] = padId;
      pos[t] = (t - n) % seqLen;
      tgt[t] = IGNORE;
    }
    // the padding in sequences of seqLen tokens (the last one shorter), then empty sequences
    for (int s = this.sequences + 1; s <= sequences; s++) cu[s] = Math.min(tokens, cu[s - 1] + seqLen);
    Batch b = new Batch(id, null, cu, pos, tgt, sequences, seqLen);
    if (weights != null) b.weights = Arrays.copyOf(weights, tokens);
    return b;
  }

  /** The number of sequences {@link #padTo} needs for this batch at a given total and sequence length. */
  public int paddedSequences(int tokens, int seqLen) {
    int pad = Math.max(0, tokens - ids.length);
    return sequences + (pad + seqLen - 1) / seqLen;
  }

  /** The loss weight of each token's target (1 where no loss scale was given). */
  public float weight(int token) {
    return weights == null ? 1f : weights[token];
  }

  /** The sum of the weights of the targets: the normaliser of a weighted mean loss. */
  public double targetWeight() {
    double sum = 0;
    for (int t = 0; t < targets.length; t++) if (targets[t] != IGNORE) sum += weight(t);
    return sum;
  }

  /** The id of token {@code token} (in the batch's layout). */
  public int id(int token) {
    return ids[token];
  }

  /** Each row's target (IGNORE where none). */
  public int target(int token) {
    return targets[token];
  }

  private static void check(boolean c, String message) {
    if (!c) throw new IllegalArgumentException(message);
  }

  public int tokens() {
    return ids.length;
  }

  public int sequences() {
    return sequences;
  }

  /** The labelled targets of packed sequence s. */
  public int targetCount(int s) {
    int n = 0;
    for (int t = sequenceStart(s); t < sequenceEnd(s); t++) if (targets[t] != IGNORE) n++;
    return n;
  }

  public int targetCount() {
    return (int) Arrays.stream(targets).filter(t -> t != IGNORE).count();
  }
}
