package jswift.train;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import jswift.data.Row;
import jswift.data.RowList;
import jswift.model.Batch;
import jswift.template.Conversation;
import jswift.template.ConversationEncoder;
import jswift.template.Encoded;
import jswift.template.SequenceTooLongException;
import jswift.template.Truncation;

/**
 * The training samples in epoch order: each epoch visits every row once in a seeded permutation (a new one per
 * epoch, as a seeded sampler does), encodes it with the template, and skips rows longer than max_length under
 * the delete strategy (counted). Micro-batches are packed sequences (no padding; attention stays inside each
 * sample). With packing on, one packed row takes consecutive samples up to max_length tokens. With
 * {@code --truncation_strategy split} a row longer than max_length gives several samples, its chunks
 * ({@link Truncation#split}), handed out in order. The cursor (epoch, position, chunk) is all a resumed run needs
 * to continue with exactly the same samples. How a row becomes its sequences depends on the {@link Layout}
 * (preference pairs, KTO, and the sequence-level tasks of {@link TaskSamples}).
 */
final class SampleStream {
  private final RowList rows;
  private final ConversationEncoder template;
  private final long seed;
  private final int packTo;
  private final int splitLength;  // > 0: rows longer than this are cut into chunks (truncation_strategy split)
  private int[] order;
  private int epoch;
  private int position;
  private long skippedTooLong;
  private Encoded pending;
  private Encoded[] chunks;  // split: the chunks of the row at position - 1 (null when that row was not split)
  private int chunkAt;       // the next chunk to hand out

  SampleStream(RowList rows, ConversationEncoder template, long seed, int packTo) {
    this(rows, template, seed, packTo, 0);
  }

  SampleStream(RowList rows, ConversationEncoder template, long seed, int packTo, int splitLength) {
    this(rows, template, seed, packTo, splitLength, Layout.SINGLE);
  }

  /** How a batch holds its samples. */
  enum Layout {
    /** One sequence a sample (sft, pt, GRPO's prompts). */
    SINGLE,
    /** Preference pairs: sequence 2i a row's chosen conversation, 2i + 1 its rejected one (DPO, CPO, ...). */
    PAIRS,
    /**
     * KTO: the first n sequences are the rows' conversations (labelled desirable or not), the next n the
     * mismatched ones KTO's KL estimate reads: row i's prompt with row i - 1's answer (the last row's for row 0), as
     * TRL builds them within a batch.
     */
    KTO,
    /**
     * A sequence classifier's rows (--task_type seq_cls): one sequence each, its conversation up to the assistant's
     * turn (or through the assistant's answer, when the row has one), no token labels; the row's {@code label} is the
     * batch's per-sequence target ({@link Batch#sequenceTargets}).
     */
    CLASSIFY,
    /**
     * Embedding training (--task_type embedding): each sample is a row's anchor, positive and negatives, one sequence
     * each ({@link jswift.infer.EmbeddingInput}); each sequence's target is {kind, label} (kind 0 anchor, 1 positive,
     * 2 negative; label the pair's).
     */
    EMBEDDING,
    /**
     * Reranker training (--task_type reranker): each sample is a row's query with its positive document, then with
     * each negative document, one sequence each (a classifier's input); each sequence's target is {1} or {0}.
     */
    RERANK
  }

  private jswift.infer.EmbeddingInput embeddingInput;  // EMBEDDING: how texts become ids
  private int embeddingMaxLength;
  private Truncation embeddingTruncation;

  /** How an {@link Layout#EMBEDDING} stream encodes its texts. */
  SampleStream embedding(jswift.infer.EmbeddingInput input, int maxLength, Truncation truncation) {
    if (layout != Layout.EMBEDDING) throw new IllegalStateException("embedding() is for an EMBEDDING stream");
    this.embeddingInput = input;
    this.embeddingMaxLength = maxLength;
    this.embeddingTruncation = truncation;
    return this;
  }

  /** The row's group of sequences in this stream's layout ({@link TaskSamples}). */
  private TaskSamples.Group group(Row row) {
    return switch (layout) {
      case CLASSIFY -> TaskSamples.classify(template, row, problemType, numLabels);
      case RERANK -> TaskSamples.rerank(template, row);
      default -> TaskSamples.embedding(embeddingInput, embeddingMaxLength, embeddingTruncation, row);
    };
  }

  /** Whether each row is a group of whole sequences with targets ({@link TaskSamples}), not token-labelled text. */
  private boolean grouped() {
    return layout == Layout.CLASSIFY || layout == Layout.EMBEDDING || layout == Layout.RERANK;
  }

  /** The next row's group in epoch order; rows with a sequence too long for max_length are skipped. */
  private TaskSamples.Group nextGroup() {
    for (int attempts = 0; attempts <= rows.size(); attempts++) {
      Row row = nextRow();
      try {
        return group(row);
      } catch (SequenceTooLongException e) {
        skippedTooLong++;
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException(row.location() + ": " + e.getMessage(), e);
      }
    }
    throw new IllegalStateException("every training row has a text longer than max_length (raise --max_length, or use "
        + "--truncation_strategy left/right)");
  }

  private jswift.model.ProblemType problemType;  // CLASSIFY: how a row's label reads
  private int numLabels;

  /** The classifier's problem type and label count, which a {@link Layout#CLASSIFY} stream needs to read labels. */
  SampleStream classifying(jswift.model.ProblemType type, int labels) {
    if (layout != Layout.CLASSIFY) throw new IllegalStateException("classifying() is for a CLASSIFY stream");
    this.problemType = type;
    this.numLabels = labels;
    return this;
  }

  /**
   * With {@link Layout#PAIRS} (preference training, DPO) every sample is a row's chosen and rejected conversations,
   * one after the other in the batch (sequence 2i chosen, 2i + 1 rejected); a pair is skipped whole when either side
   * is too long. With {@link Layout#KTO} see there. Pairs and KTO samples are neither packed nor split.
   */
  SampleStream(RowList rows, ConversationEncoder template, long seed, int packTo, int splitLength, Layout layout) {
    if (layout != Layout.SINGLE && (packTo > 0 || splitLength > 0))
      throw new IllegalArgumentException("preference samples are neither packed (--packing) nor split (truncation_strategy split)");
    this.rows = rows;
    this.template = template;
    this.seed = seed;
    this.packTo = packTo;
    this.splitLength = splitLength;
    this.layout = layout;
    this.order = permutation(0);
  }

  private final Layout layout;
  private Encoded rejected;  // pairs: the rejected side of the sample next() returned last
  private boolean desirable;  // KTO: the label of the sample next() returned last
  private double margin;  // pairs: the margin column of the sample next() returned last (0 when none)

  /** A preference row's {@code margin} column (reward modelling: the chosen answer's required lead), 0 if none. */
  static double margin(Row row) {
    JsonNode m = row.extra("margin");
    if (m == null || m.isNull()) return 0;
    if (m.isTextual()) {  // a CSV cell
      try {
        return Double.parseDouble(m.asText().strip());
      } catch (NumberFormatException e) {
        // refused below
      }
    }
    if (!m.isNumber()) throw new IllegalArgumentException("\"margin\" must be a number, found " + m);
    return m.asDouble();
  }

  /** A KTO row's label: true (a desirable answer) or false; also 1 / 0 and "true" / "false". */
  static boolean ktoLabel(Row row) {
    JsonNode l = row.label();
    if (l != null && l.isBoolean()) return l.asBoolean();
    if (l != null && l.isNumber() && (l.asDouble() == 0 || l.asDouble() == 1)) return l.asDouble() == 1;
    if (l != null && l.isTextual() && (l.asText().equals("true") || l.asText().equals("false")))
      return l.asText().equals("true");
    throw new IllegalArgumentException("KTO rows need a \"label\": true for a desirable answer, false for an "
        + "undesirable one (found " + (l == null ? "none" : l.toString()) + ")");
  }

  /**
   * The rejected side of a preference row: its rejected_messages, or its messages with the last assistant answer
   * replaced by rejected_response.
   */
  static Conversation rejectedConversation(Row row) {
    ObjectNode json = row.toJson();
    JsonNode rejectedMessages = json.remove("rejected_messages");
    if (rejectedMessages != null) {
      json.set("messages", rejectedMessages);
    } else {
      String answer = row.rejectedResponse();
      if (answer == null)
        throw new IllegalArgumentException("the row has no rejected_response (or rejected_messages): preference "
            + "training (DPO) learns from pairs, {\"messages\": [...], \"rejected_response\": \"...\"}");
      ArrayNode messages = (ArrayNode) json.get("messages");
      int last = -1;
      for (int i = 0; i < messages.size(); i++) if ("assistant".equals(messages.get(i).path("role").asText())) last = i;
      if (last < 0) throw new IllegalArgumentException("the row has no assistant answer for rejected_response to replace");
      ObjectNode replaced = ((ObjectNode) messages.get(last)).deepCopy();
      replaced.put("content", answer);
      replaced.remove("tool_calls");
      messages.set(last, replaced);
    }
    return Conversation.fromJson(json);
  }

  private int[] permutation(int e) {
    int[] p = new int[rows.size()];
    for (int i = 0; i < p.length; i++) p[i] = i;
    Random r = new Random(seed * 31 + e);
    for (int i = p.length - 1; i > 0; i--) {
      int j = r.nextInt(i + 1);
      int t = p[i];
      p[i] = p[j];
      p[j] = t;
    }
    return p;
  }

  /** The next encoded sample, cycling through epochs; rows too long for max_length are skipped. */
  private Encoded next() {
    if (pending != null) {
      Encoded e = pending;
      pending = null;
      return e;
    }
    if (chunks != null && chunkAt < chunks.length) return chunks[chunkAt++];
    chunks = null;
    for (int attempts = 0; attempts <= rows.size(); attempts++) {
      Row row = nextRow();
      try {
        Encoded chosen = template.encode(Conversation.fromJson(row.toJson()));
        if (layout == Layout.PAIRS) {
          rejected = template.encode(rejectedConversation(row));
          margin = margin(row);
        }
        if (layout == Layout.KTO) desirable = ktoLabel(row);
        return splitIfLong(chosen);
      } catch (SequenceTooLongException e) {
        skippedTooLong++;
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException(row.location() + ": " + e.getMessage(), e);
      }
    }
    throw new IllegalStateException("every training row is longer than max_length (raise --max_length, or use "
        + "--truncation_strategy left/right)");
  }

  /**
   * The next row in epoch order, not encoded (GRPO encodes only its prompt); the cursor moves past it. Not to be
   * mixed with packing or splitting, whose held-back samples this does not see.
   */
  Row nextRow() {
    if (position == order.length) {
      epoch++;
      position = 0;
      order = permutation(epoch);
    }
    return rows.get(order[position++]);
  }

  /** The number of rows of an epoch. */
  int size() {
    return rows.size();
  }

  /** A row over splitLength becomes its chunks: the first is returned, the others follow in next(). */
  private Encoded splitIfLong(Encoded e) {
    if (splitLength <= 0 || e.length() <= splitLength) return e;
    chunks = Truncation.split(e, splitLength);
    chunkAt = 1;
    return chunks[0];
  }

  /** {@code count} samples (or packed rows) as one packed batch. */
  Batch nextBatch(int count) {
    if (grouped()) {
      List<TaskSamples.Group> groups = new ArrayList<>();
      for (int i = 0; i < count; i++) groups.add(nextGroup());
      return TaskSamples.batch(groups);
    }
    List<int[]> ids = new ArrayList<>(), labels = new ArrayList<>();
    List<float[]> scales = new ArrayList<>();
    if (layout == Layout.KTO) {
      List<Encoded> samples = new ArrayList<>();
      boolean[] good = new boolean[count];
      for (int i = 0; i < count; i++) {
        samples.add(next());
        good[i] = desirable;
      }
      return ktoBatch(samples, good);
    }
    double[] margins = layout == Layout.PAIRS ? new double[2 * count] : null;
    for (int i = 0; i < count; i++) {
      if (layout == Layout.PAIRS) {
        add(next(), ids, labels, scales);
        add(rejected, ids, labels, scales);
        margins[2 * i] = margins[2 * i + 1] = margin;
      } else if (packTo <= 0) {
        add(next(), ids, labels, scales);
      } else {
        int used = 0;
        do {
          Encoded e = next();
          if (used > 0 && used + e.length() > packTo) {
            pending = e;  // starts the next packed row
            break;
          }
          add(e, ids, labels, scales);
          used += e.length();
        } while (used < packTo);
      }
    }
    Batch b = Batch.packed(ids, labels, scales);
    return margins != null ? b.withSequenceValues(margins) : b;
  }

  /**
   * A KTO batch: the samples, then the KL sequences (sample i's prompt, the unlabelled tokens before its first
   * label, with sample i - 1's answer), labelled desirable or not (the KL sequences: false, unused).
   */
  static Batch ktoBatch(List<Encoded> samples, boolean[] desirable) {
    int n = samples.size();
    List<int[]> ids = new ArrayList<>(), labels = new ArrayList<>();
    List<float[]> scales = new ArrayList<>();
    for (Encoded e : samples) add(e, ids, labels, scales);
    for (int i = 0; i < n; i++) {
      Encoded prompt = samples.get(i), answer = samples.get((i + n - 1) % n);
      int p = firstLabel(prompt), a = firstLabel(answer);
      int[] seq = new int[p + answer.length() - a], lab = new int[seq.length];
      System.arraycopy(prompt.inputIds(), 0, seq, 0, p);
      System.arraycopy(answer.inputIds(), a, seq, p, answer.length() - a);
      java.util.Arrays.fill(lab, 0, p, Encoded.IGNORE);
      System.arraycopy(answer.labels(), a, lab, p, answer.length() - a);
      ids.add(seq);
      labels.add(lab);
      scales.add(null);
    }
    double[] values = new double[2 * n];
    for (int i = 0; i < n; i++) values[i] = desirable[i] ? 1 : 0;
    return Batch.packed(ids, labels, scales).withSequenceValues(values);
  }

  /** The index of the first labelled token (the answer's start); the length if none is labelled. */
  private static int firstLabel(Encoded e) {
    for (int t = 0; t < e.length(); t++) if (e.labels()[t] != Encoded.IGNORE) return t;
    return e.length();
  }

  /** For evaluation: the next {@code count} rows in file order, or null at the end (one pass). */
  Batch nextBatchInOrder(int count) {
    if (grouped()) {
      List<TaskSamples.Group> groups = new ArrayList<>();
      while (groups.size() < count && position < rows.size()) {
        Row row = rows.get(position++);
        try {
          groups.add(group(row));
        } catch (SequenceTooLongException e) {
          skippedTooLong++;
        } catch (IllegalArgumentException e) {
          throw new IllegalArgumentException(row.location() + ": " + e.getMessage(), e);
        }
      }
      return groups.isEmpty() ? null : TaskSamples.batch(groups);
    }
    List<int[]> ids = new ArrayList<>(), labels = new ArrayList<>();
    List<float[]> scales = new ArrayList<>();
    List<Encoded> kto = new ArrayList<>();
    List<Boolean> ktoDesirable = new ArrayList<>();
    List<Double> margins = new ArrayList<>();
    while (ids.size() + kto.size() < count && position < rows.size()) {
      Row row = rows.get(position++);
      try {
        Encoded e = template.encode(Conversation.fromJson(row.toJson()));
        if (layout == Layout.KTO) {
          ktoDesirable.add(ktoLabel(row));
          kto.add(e);
        } else if (layout == Layout.PAIRS) {
          Encoded r = template.encode(rejectedConversation(row));
          add(e, ids, labels, scales);
          add(r, ids, labels, scales);
          margins.add(margin(row));
          margins.add(margin(row));
        } else if (splitLength > 0 && e.length() > splitLength) {
          for (Encoded c : Truncation.split(e, splitLength)) add(c, ids, labels, scales);
        } else {
          add(e, ids, labels, scales);
        }
      } catch (SequenceTooLongException e) {
        skippedTooLong++;
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException(row.location() + ": " + e.getMessage(), e);
      }
    }
    if (!kto.isEmpty()) {
      boolean[] good = new boolean[kto.size()];
      for (int i = 0; i < good.length; i++) good[i] = ktoDesirable.get(i);
      return ktoBatch(kto, good);
    }
    if (ids.isEmpty()) return null;
    Batch b = Batch.packed(ids, labels, scales);
    return layout == Layout.PAIRS ? b.withSequenceValues(margins.stream().mapToDouble(Double::doubleValue).toArray()) : b;
  }

  private static void add(Encoded e, List<int[]> ids, List<int[]> labels, List<float[]> scales) {
    ids.add(e.inputIds());
    labels.add(e.labels());
    scales.add(e.lossScale());
  }

  /** Rows longer than this are cut into chunks (0: never). */
  int splitLength() {
    return splitLength;
  }

  /** Epochs done so far, fractional (for logs). */
  double epochProgress() {
    return epoch + (double) position / Math.max(1, order.length);
  }

  long skippedTooLong() {
    return skippedTooLong;
  }

  int epoch() {
    return epoch;
  }

  /** Chunks of the row at position - 1 handed out so far (a chunk held back by packing counts as not handed out). */
  private int chunksHandedOut() {
    return chunks == null ? 0 : pending != null ? chunkAt - 1 : chunkAt;
  }

  /**
   * The row of the next sample not yet handed out (a sample held back by packing counts as not handed out; so does
   * the rest of a split row).
   */
  int position() {
    if (chunks != null && chunksHandedOut() < chunks.length) return position - 1;
    return pending != null ? position - 1 : position;
  }

  /** The chunks of row {@link #position()} already handed out (0 unless a split row is half done). */
  int chunk() {
    return chunks != null && chunksHandedOut() < chunks.length ? chunksHandedOut() : 0;
  }

  /** The cursor now, as a checkpoint saves it. */
  DataCursor cursor() {
    return new DataCursor(epoch, position(), chunk(), epochProgress(), skippedTooLong);
  }

  /** Moves the cursor (resume): the permutation of {@code e} is rebuilt from the seed. */
  void seek(int e, int pos) {
    seek(e, pos, 0);
  }

  /** As {@link #seek(int, int)}, {@code chunk} chunks into a split row. */
  void seek(int e, int pos, int chunk) {
    epoch = e;
    order = permutation(e);
    position = pos;
    pending = null;
    chunks = null;
    if (chunk > 0) {
      next();  // re-encodes and splits the row at pos
      if (chunks == null || chunk >= chunks.length)
        throw new IllegalStateException("the checkpoint's data cursor (row " + pos + ", chunk " + chunk + ") does "
            + "not match the dataset: resume with the same dataset, max_length and truncation_strategy");
      chunkAt = chunk;
    }
  }
}
