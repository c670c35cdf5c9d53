package jswift.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.List;
import jswift.data.Row;
import jswift.infer.EmbeddingInput;
import jswift.model.Batch;
import jswift.model.ProblemType;
import jswift.template.Conversation;
import jswift.template.ConversationEncoder;
import jswift.template.Encoded;
import jswift.template.Truncation;

/**
 * How a row becomes the sequences of a task scored on whole sequences ({@link SampleStream}'s CLASSIFY, EMBEDDING
 * and RERANK layouts): none of their tokens carries a label; each sequence has a target instead
 * ({@link Batch#sequenceTargets}), and the sequences of one row stay together in a batch.
 */
final class TaskSamples {
  private TaskSamples() {}

  /** A row's sequences and their targets. */
  record Group(List<int[]> ids, List<double[]> targets) {}

  /**
   * A classifier's row: its conversation as a classifier's input ({@link ConversationEncoder#encodeClassifierInput})
   * and its {@code label} read for the problem type ({@link ProblemType#target}).
   */
  static Group classify(ConversationEncoder template, Row row, ProblemType type, int numLabels) {
    double[] target = type.target(row.label(), numLabels);
    return new Group(List.of(template.encodeClassifierInput(Conversation.fromJson(row.toJson()))), List.of(target));
  }

  /**
   * A reranker row: its conversation (the query, then the positive document as the answer), then the same with each
   * rejected_response in the answer's place, encoded as a classifier's inputs (ms-swift's reranker encoding);
   * targets {1}, then {0} each.
   */
  static Group rerank(ConversationEncoder template, Row row) {
    List<int[]> ids = new ArrayList<>();
    List<double[]> targets = new ArrayList<>();
    ObjectNode json = row.toJson();
    ArrayNode messages = (ArrayNode) json.get("messages");
    int last = messages.size() - 1;
    if (last < 0 || !"assistant".equals(messages.get(last).path("role").asText()))
      throw new IllegalArgumentException("a reranker row needs the positive document as the answer: {\"query\": "
          + "\"...\", \"response\": \"the relevant document\", \"rejected_response\": [\"an irrelevant one\", ...]}");
    ids.add(template.encodeClassifierInput(Conversation.fromJson(json)));
    targets.add(new double[] {1});
    JsonNode rejected = row.extra("rejected_response");
    List<String> negatives = new ArrayList<>();
    if (rejected != null && rejected.isArray()) rejected.forEach(n -> negatives.add(n.asText()));
    else if (rejected != null && !rejected.isNull()) negatives.add(rejected.asText());
    for (String n : negatives) {
      ObjectNode copy = json.deepCopy();
      ((ObjectNode) ((ArrayNode) copy.get("messages")).get(last)).put("content", n);
      ids.add(template.encodeClassifierInput(Conversation.fromJson(copy)));
      targets.add(new double[] {0});
    }
    return new Group(ids, targets);
  }

  /**
   * An embedding row ({@link EmbeddingInput#texts}): its anchor, positive and negatives as {@code input} encodes
   * texts; targets {kind, label}: kind 0 the anchor, 1 the positive, 2 a negative; label the pair's.
   */
  static Group embedding(EmbeddingInput input, int maxLength, Truncation truncation, Row row) {
    EmbeddingInput.Texts t = EmbeddingInput.texts(row);
    List<int[]> ids = new ArrayList<>();
    List<double[]> targets = new ArrayList<>();
    ids.add(input.ids(t.anchor(), maxLength, truncation));
    targets.add(new double[] {0, t.label()});
    ids.add(input.ids(t.positive(), maxLength, truncation));
    targets.add(new double[] {1, t.label()});
    for (String n : t.negatives()) {
      ids.add(input.ids(n, maxLength, truncation));
      targets.add(new double[] {2, 0});
    }
    return new Group(ids, targets);
  }

  /** A batch of groups: their sequences, packed, with each one's target. */
  static Batch batch(List<Group> groups) {
    List<int[]> ids = new ArrayList<>(), labels = new ArrayList<>();
    List<double[]> targets = new ArrayList<>();
    for (Group g : groups) {
      for (int[] x : g.ids()) {
        ids.add(x);
        int[] none = new int[x.length];
        java.util.Arrays.fill(none, Encoded.IGNORE);
        labels.add(none);
      }
      targets.addAll(g.targets());
    }
    return Batch.packed(ids, labels).withSequenceTargets(targets.toArray(new double[0][]));
  }
}
