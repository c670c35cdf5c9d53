package jswift.infer;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import jswift.data.Row;
import jswift.data.RowList;
import jswift.model.CausalLM;
import jswift.template.Conversation;
import jswift.template.ConversationEncoder;
import jswift.template.GenerationPrompt;
import jswift.template.Message;
import jswift.template.Role;
import jswift.tokenizer.Tokenizer;

/**
 * {@code jswift infer --val_dataset}: answers every row of a dataset and appends one JSON line per row to the result
 * file as soon as its batch is done (so an interrupted run keeps what it finished): {@code response} (the
 * generated text), {@code labels} (the row's own last assistant message, if it had one: the reference answer)
 * and {@code messages} (the prompt's messages followed by the generated answer), as ms-swift writes them.
 */
public final class DatasetInference {
  private static final ObjectMapper JSON = new ObjectMapper();

  private DatasetInference() {}

  /** Returns the number of rows answered. */
  public static long run(CausalLM model, Tokenizer tokenizer, ConversationEncoder template, GenerationConfig gen,
      RowList rows, int maxBatchSize, Path resultPath, PrintWriter progress) throws IOException {
    if (maxBatchSize <= 0) throw new IllegalArgumentException("--max_batch_size must be > 0");
    long done = 0;
    long start = System.nanoTime();
    try (BufferedWriter out = ResultFile.append(resultPath)) {
      for (int first = 0; first < rows.size(); first += maxBatchSize) {
        int n = Math.min(maxBatchSize, rows.size() - first);
        List<Conversation> convs = new ArrayList<>();
        List<ChatCompletion.Request> requests = new ArrayList<>();
        for (int i = 0; i < n; i++) {
          Row row = rows.get(first + i);
          Conversation c;
          GenerationPrompt p;
          try {
            c = Conversation.fromJson(row.toJson());
            p = template.encodePrompt(c);
          } catch (RuntimeException e) {
            throw new IllegalArgumentException(row.location() + ": " + e.getMessage(), e);
          }
          convs.add(c);
          requests.add(new ChatCompletion.Request(p, gen.withSeed(gen.seed() + first + i), 1, null));
        }
        List<ChatCompletion.Result> answers = ChatCompletion.generate(model, tokenizer, requests);
        for (int i = 0; i < n; i++) {
          out.write(JSON.writeValueAsString(result(convs.get(i), answers.get(i).choices().get(0).text())));
          out.write('\n');
        }
        out.flush();
        done += n;
        if (progress != null) {
          double secs = (System.nanoTime() - start) / 1e9;
          progress.printf("infer: %d/%d rows (%.1f rows/s)%n", done, rows.size(), done / Math.max(secs, 1e-9));
          progress.flush();
        }
      }
    }
    return done;
  }

  private static ObjectNode result(Conversation c, String response) {
    List<Message> msgs = new ArrayList<>(c.messages());
    String label = null;
    if (!msgs.isEmpty() && msgs.get(msgs.size() - 1).role() == Role.ASSISTANT) label = msgs.remove(msgs.size() - 1).content();
    ObjectNode o = JSON.createObjectNode();
    o.put("response", response);
    if (label == null) o.putNull("labels");
    else o.put("labels", label);
    ArrayNode arr = o.putArray("messages");
    for (Message m : msgs) arr.addObject().put("role", m.role().wireName()).put("content", m.content());
    arr.addObject().put("role", "assistant").put("content", response);
    return o;
  }
}
