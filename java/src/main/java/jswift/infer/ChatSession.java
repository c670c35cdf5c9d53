package jswift.infer;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import jswift.model.CausalLM;
import jswift.template.Conversation;
import jswift.template.ConversationEncoder;
import jswift.template.GenerationPrompt;
import jswift.template.Message;
import jswift.tokenizer.Tokenizer;

/**
 * A multi-turn chat with a model: the conversation so far is encoded by the template (an ms-swift template, or
 * the model's own jinja chat template), continued by the {@link Generator} until an eos id or one of the
 * template's stop words, and the answer appended to the history. Text streams to a listener as it is generated.
 */
public final class ChatSession {
  private final CausalLM model;
  private final Tokenizer tokenizer;
  private final ConversationEncoder template;
  private final String system;
  private final GenerationConfig generation;
  private final List<Message> messages = new ArrayList<>();

  public ChatSession(CausalLM model, Tokenizer tokenizer, ConversationEncoder template, String system,
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
    if (system != null) messages.add(Message.system(system));
  }

  public List<Message> messages() {
    return List.copyOf(messages);
  }

  /** Sends a user turn; returns the answer (special tokens and the stop word removed), streaming its text. */
  public String send(String user, Consumer<String> onText) {
    messages.add(Message.user(user));
    GenerationPrompt prompt = template.encodePrompt(Conversation.of(messages));
    ChatCompletion.Listener listener = onText == null ? null : (choice, delta) -> onText.accept(delta);
    String answer = ChatCompletion.generate(model, tokenizer, prompt, generation, 1, listener).choices().get(0).text();
    messages.add(Message.assistant(answer));
    return answer;
  }
}
