package jswift.infer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import jswift.data.Row;
import jswift.data.RowList;
import jswift.model.Batch;
import jswift.model.CausalLM;
import jswift.model.ProblemType;
import jswift.model.ScoreHead;
import jswift.template.Conversation;
import jswift.template.ConversationEncoder;
import jswift.template.Message;
import jswift.tuner.LoraConfig;

/**
 * A sequence classifier at inference ({@code jswift infer} on what {@code jswift sft --task_type seq_cls} or
 * {@code jswift rlhf --rlhf_type rm} saved): the model's last hidden state of the conversation, through the score
 * head, gives the logits; the answer is the prediction ms-swift's infer gives (a class index, a list of classes, or
 * the regression values: {@link ProblemType#predict}).
 */
public final class SequenceClassifier implements AutoCloseable {
  private static final ObjectMapper JSON = new ObjectMapper();

  private final CausalLM model;
  private final ConversationEncoder template;
  private final ScoreHead head;
  private final ProblemType type;

  private SequenceClassifier(CausalLM model, ConversationEncoder template, ScoreHead head, ProblemType type) {
    this.model = model;
    this.template = template;
    this.head = head;
    this.type = type;
  }

  /**
   * The classifier that {@code adapterDir} (an adapter with task_type SEQ_CLS, active in {@code model}) or else
   * {@code modelDir} (a *ForSequenceClassification checkpoint) is, or null for a causal LM. The problem type comes
   * from the run's args.json beside the adapter or the model's config.json, else ms-swift's default for the head's
   * label count. The model stays the caller's; the head is closed with this.
   */
  public static SequenceClassifier detect(CausalLM model, Path modelDir, Path adapterDir, ConversationEncoder template)
      throws IOException {
    int hidden = model.config().hiddenSize();
    if (adapterDir != null && Files.exists(adapterDir.resolve(LoraConfig.FILE))) {
      if (!"SEQ_CLS".equals(LoraConfig.read(adapterDir).fields().path("task_type").asText())) return null;
      ScoreHead head = ScoreHead.load(adapterDir, hidden, 0, model.device());
      return new SequenceClassifier(model, template, head, problemType(adapterDir.resolve("args.json"), head.labels()));
    }
    Path config = modelDir.resolve("config.json");
    if (!Files.exists(config)) return null;
    if (!JSON.readTree(config.toFile()).path("architectures").path(0).asText("").endsWith("ForSequenceClassification"))
      return null;
    ScoreHead head = ScoreHead.loadFromModel(modelDir, hidden, 0, model.device());
    return new SequenceClassifier(model, template, head, problemType(config, head.labels()));
  }

  /** The problem_type a run's args.json or a model's config.json names, else the default for {@code labels}. */
  private static ProblemType problemType(Path json, int labels) throws IOException {
    String name = Files.exists(json) ? JSON.readTree(json.toFile()).path("problem_type").asText(null) : null;
    return ProblemType.parse(name, labels);
  }

  public ProblemType problemType() {
    return type;
  }

  public int labels() {
    return head.labels();
  }

  /** The logits [conversations][labels] of each conversation. */
  public double[][] logits(List<Conversation> conversations) {
    List<int[]> ids = new ArrayList<>(), none = new ArrayList<>();
    for (Conversation c : conversations) {
      int[] x = template.encodeClassifierInput(c);
      ids.add(x);
      int[] l = new int[x.length];
      java.util.Arrays.fill(l, Batch.IGNORE);
      none.add(l);
    }
    return head.logits(model.lastHiddenStates(Batch.packed(ids, none)));
  }

  /** The prediction for one conversation. */
  public JsonNode predict(Conversation conversation) {
    return type.predict(logits(List.of(conversation))[0]);
  }

  /**
   * {@code jswift infer --val_dataset} for a classifier: one JSON line per row appended to {@code resultPath} as its
   * batch is done ({@code response}: the prediction, {@code labels}: the row's label, {@code messages}), and the
   * accuracy over the rows that have a label (classification). Returns what it did.
   */
  public Summary run(RowList rows, int maxBatchSize, Path resultPath, PrintWriter progress) throws IOException {
    if (maxBatchSize <= 0) throw new IllegalArgumentException("--max_batch_size must be > 0");
    long done = 0, labelled = 0, correct = 0;
    try (BufferedWriter out = ResultFile.append(resultPath)) {
      for (int first = 0; first < rows.size(); first += maxBatchSize) {
        int n = Math.min(maxBatchSize, rows.size() - first);
        List<Conversation> convs = new ArrayList<>();
        List<double[]> targets = new ArrayList<>();
        for (int i = 0; i < n; i++) {
          Row row = rows.get(first + i);
          try {
            convs.add(Conversation.fromJson(row.toJson()));
            JsonNode label = row.label();
            targets.add(label == null || label.isNull() ? null : type.target(label, head.labels()));
          } catch (RuntimeException e) {
            throw new IllegalArgumentException(row.location() + ": " + e.getMessage(), e);
          }
        }
        double[][] logits = logits(convs);
        for (int i = 0; i < n; i++) {
          ObjectNode o = JSON.createObjectNode();
          o.set("response", type.predict(logits[i]));
          JsonNode label = rows.get(first + i).label();
          o.set("labels", label == null ? JSON.nullNode() : label);
          ArrayNode arr = o.putArray("messages");
          for (Message m : convs.get(i).messages())
            arr.addObject().put("role", m.role().wireName()).put("content", m.content());
          out.write(JSON.writeValueAsString(o));
          out.write('\n');
          if (targets.get(i) != null && type != ProblemType.REGRESSION) {
            labelled++;
            if (type.correct(logits[i], targets.get(i))) correct++;
          }
        }
        out.flush();
        done += n;
        if (progress != null) {
          progress.printf("infer: %d/%d rows%n", done, rows.size());
          progress.flush();
        }
      }
    }
    return new Summary(done, labelled, correct);
  }

  /** Rows classified, rows with a label (classification), and how many of those the prediction got right. */
  public record Summary(long rows, long labelled, long correct) {}

  @Override
  public void close() {
    head.close();
  }
}
