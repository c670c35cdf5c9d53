package jswift.infer;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import jswift.data.Row;
import jswift.data.RowList;
import jswift.model.Batch;
import jswift.model.CausalLM;
import jswift.model.SequenceScorer;
import jswift.template.Conversation;
import jswift.template.ConversationEncoder;
import jswift.template.Message;

/**
 * {@code jswift infer} on a generative reranker: each (query, document) row's relevance, P(yes) = sigmoid(the
 * scorer's yes-minus-no logit) at the end of the template's prompt, appended as {@code response}.
 */
public final class PairScoring {
  private static final ObjectMapper JSON = new ObjectMapper();

  private PairScoring() {}

  /** Returns the number of rows scored. */
  public static long run(CausalLM model, ConversationEncoder template, SequenceScorer scorer, RowList rows,
      Path resultPath) throws IOException {
    try (BufferedWriter w = ResultFile.append(resultPath)) {
      for (int i = 0; i < rows.size(); i++) {
        Row row = rows.get(i);
        Conversation c;
        int[] ids;
        try {
          c = Conversation.fromJson(row.toJson());
          ids = template.encodeClassifierInput(c);
        } catch (RuntimeException e) {
          throw new IllegalArgumentException(row.location() + ": " + e.getMessage(), e);
        }
        int[] none = new int[ids.length];
        java.util.Arrays.fill(none, Batch.IGNORE);
        double score = scorer.scores(model.lastHiddenStates(Batch.packed(List.of(ids), List.of(none))))[0];
        ObjectNode o = JSON.createObjectNode();
        o.put("response", 1 / (1 + Math.exp(-score)));
        ArrayNode arr = o.putArray("messages");
        for (Message m : c.messages()) arr.addObject().put("role", m.role().wireName()).put("content", m.content());
        w.write(JSON.writeValueAsString(o));
        w.write('\n');
      }
    }
    return rows.size();
  }
}
