package jswift.infer;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import com.fasterxml.jackson.databind.JsonNode;
import jswift.data.Row;
import jswift.template.Message;
import jswift.template.Role;
import jswift.template.SequenceTooLongException;
import jswift.template.Truncation;
import jswift.tokenizer.Tokenizer;

/**
 * How a text becomes an embedding model's input, the same in training ({@code --task_type embedding}) and in
 * {@code /v1/embeddings}: the text tokenized with the tokenizer's special tokens and ended by the model's
 * end-of-sequence token (appended unless already last), whose final hidden state, L2-normalized, is the embedding
 * (Qwen3-Embedding's last-token pooling; ms-swift's qwen3_emb template is the text then {@code <|endoftext|>}).
 */
public final class EmbeddingInput {
  private final Tokenizer tokenizer;
  private final int eos;  // -1: the model names none

  public EmbeddingInput(Tokenizer tokenizer, List<Integer> eosTokenIds) {
    this.tokenizer = tokenizer;
    this.eos = eosTokenIds.isEmpty() ? -1 : eosTokenIds.get(0);
  }

  /** The ids of {@code text}, ended by the end-of-sequence token. */
  public int[] ids(String text) {
    return ended(tokenizer.encode(text, true));
  }

  /** Token ids given directly (an API request's), ended by the end-of-sequence token. */
  public int[] ended(int[] ids) {
    if (eos < 0 || (ids.length > 0 && ids[ids.length - 1] == eos)) return ids;
    int[] out = java.util.Arrays.copyOf(ids, ids.length + 1);
    out[ids.length] = eos;
    return out;
  }

  /**
   * The ids of a training text at most {@code maxLength} long: a longer one is dropped (delete: its row is skipped),
   * or cut on the {@code right} (keeping the end-of-sequence token) or the left.
   */
  public int[] ids(String text, int maxLength, Truncation truncation) {
    int[] ids = ids(text);
    if (ids.length <= maxLength) return ids;
    switch (truncation) {
      case LEFT:
        return java.util.Arrays.copyOfRange(ids, ids.length - maxLength, ids.length);
      case RIGHT: {
        int[] out = java.util.Arrays.copyOf(ids, maxLength);
        out[maxLength - 1] = ids[ids.length - 1];
        return out;
      }
      default:
        throw new SequenceTooLongException(ids.length, maxLength);
    }
  }

  /**
   * The embeddings of token sequences (each already ended by {@link #ended}): the final hidden state at the last
   * token, its first {@code keep} components L2-normalized (F.normalize's epsilon 1e-12).
   */
  public static float[][] embed(jswift.model.CausalLM model, List<int[]> sequences, int keep) {
    float[][] last = model.lastHiddenStates(jswift.model.Batch.packed(sequences, null));
    float[][] out = new float[last.length][];
    for (int i = 0; i < last.length; i++) {
      double norm = 0;
      for (int j = 0; j < keep; j++) norm += last[i][j] * (double) last[i][j];
      double inv = 1 / Math.max(Math.sqrt(norm), 1e-12);
      out[i] = new float[keep];
      for (int j = 0; j < keep; j++) out[i][j] = (float) (last[i][j] * inv);
    }
    return out;
  }

  /**
   * {@code jswift infer} on an embedding model: each row's embedding (of its last user message) appended to
   * {@code resultPath} as {@code response}. Returns the number of rows.
   */
  public long run(jswift.model.CausalLM model, jswift.data.RowList rows, Path resultPath) throws IOException {
    com.fasterxml.jackson.databind.ObjectMapper json = new com.fasterxml.jackson.databind.ObjectMapper();
    int dim = model.config().hiddenSize();
    try (java.io.BufferedWriter w = ResultFile.append(resultPath)) {
      for (int i = 0; i < rows.size(); i++) {
        Row row = rows.get(i);
        String text = null;
        for (Message m : row.messages()) if (m.role() == Role.USER) text = m.content();
        if (text == null) throw new IllegalArgumentException(row.location() + ": no user message to embed");
        float[] v = embed(model, List.of(ids(text)), dim)[0];
        com.fasterxml.jackson.databind.node.ObjectNode o = json.createObjectNode();
        com.fasterxml.jackson.databind.node.ArrayNode arr = o.putArray("response");
        for (float x : v) arr.add(x);
        o.putArray("messages").addObject().put("role", "user").put("content", text);
        w.write(json.writeValueAsString(o));
        w.write('\n');
      }
    }
    return rows.size();
  }

  /** An embedding training row's texts: the anchor (query), its positive, and its negatives. */
  public record Texts(String anchor, String positive, List<String> negatives, double label) {}

  /**
   * Reads a training row in ms-swift's embedding formats: {@code messages} with the query as the user's message and
   * the positive as the assistant's, negatives in {@code rejected_response} (a string or a list); or
   * {@code positive_messages} / {@code negative_messages} (lists of conversations, each text its last message).
   * {@code label} (a number, default 1) is the pair's label for the pair losses.
   */
  public static Texts texts(Row row) {
    String anchor = null, positive = null;
    for (Message m : row.messages()) {
      if (m.role() == Role.USER) anchor = m.content();
      if (m.role() == Role.ASSISTANT) positive = m.content();
    }
    if (anchor == null)
      throw new IllegalArgumentException("an embedding row needs the query as a user message");
    JsonNode pm = row.extra("positive_messages");
    if (positive == null && pm != null && pm.isArray() && pm.size() > 0) positive = lastContent(pm.get(0));
    if (positive == null)
      throw new IllegalArgumentException("an embedding row needs a positive: the assistant's message (or "
          + "\"response\"), or positive_messages; e.g. {\"query\": \"...\", \"response\": \"...\", \"rejected_response\":"
          + " [\"...\"]}");
    List<String> negatives = new ArrayList<>();
    JsonNode r = row.extra("rejected_response");
    if (r != null && r.isArray()) r.forEach(x -> negatives.add(text(x, "rejected_response")));
    else if (r != null && !r.isNull()) negatives.add(text(r, "rejected_response"));
    JsonNode nm = row.extra("negative_messages");
    if (nm != null && nm.isArray()) nm.forEach(c -> negatives.add(lastContent(c)));
    return new Texts(anchor, positive, negatives, label(row.label()));
  }

  /** A pair's label: a number, or the text of one (a CSV cell); 1 when the row has none. */
  private static double label(JsonNode label) {
    if (label == null || label.isNull()) return 1.0;
    if (label.isNumber()) return label.asDouble();
    if (label.isTextual()) {
      try {
        double v = Double.parseDouble(label.asText().strip());
        if (Double.isFinite(v)) return v;
      } catch (NumberFormatException e) {
        // refused below
      }
    }
    throw new IllegalArgumentException("\"label\" must be a number (the pair's similarity or 1 / 0), found " + label);
  }

  private static String text(JsonNode n, String field) {
    if (!n.isTextual()) throw new IllegalArgumentException(field + " must hold strings, found " + n);
    return n.asText();
  }

  private static String lastContent(JsonNode conversation) {
    if (!conversation.isArray() || conversation.isEmpty() || !conversation.get(conversation.size() - 1).has("content"))
      throw new IllegalArgumentException("positive_messages / negative_messages must be lists of conversations "
          + "([[{\"role\": \"user\", \"content\": \"...\"}]]), found " + conversation);
    return conversation.get(conversation.size() - 1).get("content").asText();
  }
}
