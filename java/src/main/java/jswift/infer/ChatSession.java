package jswift.infer;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import jswift.model.CausalLM;
import jswift.template.ChatTemplate;
import jswift.tokenizer.Tokenizer;

/**
 * A multi-turn chat with a model: the conversation so far is rendered with the model's chat template (plus the
 * generation prompt), tokenized, continued by the {@link Generator}, and the answer appended to the history.
 * Text streams to a listener as it is generated.
 */
public final class ChatSession {
  private final CausalLM model;
  private final Tokenizer tokenizer;
  private final ChatTemplate template;
  private final String system;
  private final GenerationConfig generation;
  private final List<Map<String, Object>> messages = new ArrayList<>();

  public ChatSession(CausalLM model, Tokenizer tokenizer, ChatTemplate template, String system,
      GenerationConfig generation) {
    this.model = model;
    this.tokenizer = tokenizer;
    this.template = template;
    this.system = system;
    this.generation = generation;
    clear();
  }

  /** Forgets the conversation (the system prompt stays). */
  public void clear() {
    messages.clear();
    if (system != null) messages.add(message("system", system));
  }

  public List<Map<String, Object>> messages() {
    return messages;
  }

  static Map<String, Object> message(String role, String content) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("role", role);
    m.put("content", content);
    return m;
  }

  /** Sends a user turn; returns the answer (special tokens removed), streaming its text to {@code onText}. */
  public String send(String user, Consumer<String> onText) {
    messages.add(message("user", user));
    String prompt = template.render(messages, true);
    int[] ids = tokenizer.encode(prompt);
    StreamingText stream = new StreamingText(t -> tokenizer.decode(t, true));
    List<int[]> out = Generator.generate(model, List.of(ids), generation,
        t -> tokenizer.decode(t, false), (seq, tok) -> {
          String delta = stream.add(tok);
          if (onText != null && !delta.isEmpty()) onText.accept(delta);
        });
    String answer = tokenizer.decode(out.get(0), true);
    for (String s : generation.stopStrings()) if (answer.endsWith(s)) answer = answer.substring(0, answer.length() - s.length());
    messages.add(message("assistant", answer));
    return answer;
  }
}
