package jswift.template;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import jswift.tokenizer.Tokenizer;

/**
 * The {@code jinja} template backend ({@code --template_backend jinja}): the prompt is whatever the model's own
 * Hugging Face chat template renders ({@link ChatTemplate}, as transformers' {@code apply_chat_template}),
 * tokenized in one go. It is inference-only, as in ms-swift: a rendered string does not say where the
 * assistant's answers are, so there is nothing to put labels on.
 *
 * <p>Messages go to the template in the OpenAI shape chat templates expect: {@code tool_call} messages become
 * the {@code tool_calls} of an assistant message, {@code tool_response} becomes role {@code tool}.
 * {@link TemplateOptions#enableThinking()} is passed as the template's {@code enable_thinking} when set.
 */
public final class JinjaTemplate implements ConversationEncoder {
  private static final ObjectMapper JSON = new ObjectMapper();

  private final ChatTemplate chatTemplate;
  private final Tokenizer tokenizer;
  private final TemplateOptions options;
  private final List<String> stopWords;

  public JinjaTemplate(ChatTemplate chatTemplate, Tokenizer tokenizer, TemplateOptions options) {
    this.chatTemplate = Objects.requireNonNull(chatTemplate, "chatTemplate");
    this.tokenizer = Objects.requireNonNull(tokenizer, "tokenizer");
    this.options = Objects.requireNonNull(options, "options");
    Set<String> words = new LinkedHashSet<>();
    for (int id : tokenizer.eosTokenIds()) words.add(tokenizer.decode(new int[] {id}, false));
    stopWords = List.copyOf(words);
  }

  @Override
  public String name() {
    return Templates.JINJA;
  }

  /** Always refused: training needs a swift template, which knows where the answers are. */
  @Override
  public Encoded encode(Conversation conversation) {
    throw new UnsupportedOperationException("template 'jinja' (the model's own chat template) is inference-only: the "
        + "rendered text does not say which tokens are the assistant's answers, so it cannot be labelled; train with a "
        + "swift template such as qwen3 or llama3");
  }

  @Override
  public GenerationPrompt encodePrompt(Conversation conversation) {
    List<Message> msgs = new ArrayList<>(conversation.messages());
    if (!msgs.isEmpty() && msgs.get(msgs.size() - 1).role() == Role.ASSISTANT) msgs.remove(msgs.size() - 1);
    if (msgs.isEmpty()) throw new IllegalArgumentException("the conversation has no messages to prompt with");
    Map<String, Object> kwargs = new LinkedHashMap<>();
    if (options.enableThinking() != null) kwargs.put("enable_thinking", options.enableThinking());
    String text = chatTemplate.render(hfMessages(msgs), hfTools(conversation), true, kwargs);
    int[] ids = tokenizer.encode(text);
    return new GenerationPrompt(ids, stopWords, tokenizer.eosTokenIds());
  }

  /** The conversation's tools as JSON-shaped maps, or null for none (templates test {@code if tools}). */
  public static List<Map<String, Object>> hfTools(Conversation conversation) {
    if (conversation.tools().isEmpty()) return null;
    List<Map<String, Object>> out = new ArrayList<>();
    for (var t : conversation.tools()) out.add(JSON.convertValue(t, LinkedHashMap.class));
    return out;
  }

  /** Messages in the OpenAI chat format transformers' chat templates read. */
  public static List<Map<String, Object>> hfMessages(List<Message> messages) {
    List<Map<String, Object>> out = new ArrayList<>();
    for (int i = 0; i < messages.size(); i++) {
      Message m = messages.get(i);
      Map<String, Object> last = out.isEmpty() ? null : out.get(out.size() - 1);
      switch (m.role()) {
        case SYSTEM, USER -> out.add(message(m.role().wireName(), m.content()));
        case ASSISTANT -> {
          Map<String, Object> a = message("assistant", m.content());
          if (!m.toolCalls().isEmpty()) a.put("tool_calls", calls(m.toolCalls()));
          out.add(a);
        }
        case TOOL_CALL -> {
          ToolCall call;
          try {
            call = ToolCall.parse(m.content());
          } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("message " + i + " (tool_call): " + e.getMessage(), e);
          }
          boolean joins = last != null && "assistant".equals(last.get("role")) && i > 0
              && (messages.get(i - 1).role() == Role.TOOL_CALL || messages.get(i - 1).role() == Role.ASSISTANT);
          if (joins) {
            @SuppressWarnings("unchecked")
            List<Object> calls = (List<Object>) last.computeIfAbsent("tool_calls", k -> new ArrayList<>());
            calls.addAll(calls(List.of(call)));
          } else {
            Map<String, Object> a = message("assistant", "");
            a.put("tool_calls", calls(List.of(call)));
            out.add(a);
          }
        }
        case TOOL_RESPONSE -> out.add(message("tool", m.content()));
      }
    }
    return out;
  }

  private static Map<String, Object> message(String role, String content) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("role", role);
    m.put("content", content);
    return m;
  }

  private static List<Object> calls(List<ToolCall> calls) {
    List<Object> out = new ArrayList<>();
    for (ToolCall c : calls) {
      Map<String, Object> f = new LinkedHashMap<>();
      f.put("name", c.name());
      f.put("arguments", JSON.convertValue(c.arguments(), Object.class));
      Map<String, Object> call = new LinkedHashMap<>();
      call.put("type", "function");
      call.put("function", f);
      out.add(call);
    }
    return out;
  }
}
