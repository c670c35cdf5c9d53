package jswift.eval;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.IntConsumer;
import jswift.data.DatasetException;
import jswift.data.Location;
import jswift.data.RecordFile;
import jswift.infer.ChatCompletion;
import jswift.infer.GenerationConfig;
import jswift.model.CausalLM;
import jswift.template.Conversation;
import jswift.template.ConversationEncoder;
import jswift.template.Message;
import jswift.tokenizer.Tokenizer;

/**
 * Open questions with reference answers (EvalScope's {@code general_qa} data): each query is answered by the
 * model through its chat template (several at a time, one batch), and each answer is scored against its reference
 * by {@link TextOverlap} (ROUGE, BLEU); the set's scores are the means over its questions.
 */
public final class QuestionAnswering {
  private QuestionAnswering() {}

  /** A question, its reference answer, and where it was read. */
  public record Item(String query, String reference, Location location) {}

  /** A question with the model's answer and its scores. */
  public record Answered(Item item, String answer, Map<String, Double> scores) {}

  /** The answered questions of one set. */
  public record Result(List<Answered> rows) {
    /** Each metric's mean over the questions. */
    public Map<String, Double> mean() {
      Map<String, Double> m = new LinkedHashMap<>();
      for (String name : TextOverlap.NAMES) {
        double sum = 0;
        for (Answered a : rows) sum += a.scores().get(name);
        m.put(name, rows.isEmpty() ? 0 : sum / rows.size());
      }
      return m;
    }
  }

  /** Reads a {@code general_qa} file: one {@code {"query": ..., "response": ...}} per line. */
  public static List<Item> read(Path file) throws IOException {
    List<Item> out = new ArrayList<>();
    for (RecordFile.Record r : RecordFile.read(file)) {
      String query = r.text("query");
      if (query.isBlank()) throw new DatasetException(r.location(), "the \"query\" is empty");
      out.add(new Item(query, r.text("response"), r.location()));
    }
    return out;
  }

  /**
   * Answers and scores {@code items}, {@code batchSize} at a time, each as one user turn (after {@code system}, if
   * not null) with {@code generation}'s settings; {@code progress} (may be null) hears how many are done.
   */
  public static Result evaluate(CausalLM model, Tokenizer tokenizer, ConversationEncoder template, String system,
      GenerationConfig generation, List<Item> items, int batchSize, IntConsumer progress) {
    if (batchSize < 1) throw new IllegalArgumentException("the batch size must be >= 1, got " + batchSize);
    List<Answered> rows = new ArrayList<>();
    for (int start = 0; start < items.size(); start += batchSize) {
      List<Item> batch = items.subList(start, Math.min(items.size(), start + batchSize));
      List<ChatCompletion.Request> requests = new ArrayList<>();
      for (Item it : batch) {
        List<Message> messages = new ArrayList<>();
        if (system != null) messages.add(Message.system(system));
        messages.add(Message.user(it.query()));
        requests.add(new ChatCompletion.Request(template.encodePrompt(Conversation.of(messages)), generation, 1, null));
      }
      List<ChatCompletion.Result> results = ChatCompletion.generate(model, tokenizer, requests);
      for (int i = 0; i < batch.size(); i++) {
        String answer = results.get(i).choices().get(0).text().strip();
        rows.add(new Answered(batch.get(i), answer, TextOverlap.score(answer, batch.get(i).reference())));
      }
      if (progress != null) progress.accept(rows.size());
    }
    return new Result(rows);
  }
}
