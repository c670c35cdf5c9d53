package jswift.serve;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.List;
import jswift.template.Conversation;

/**
 * The body of a {@code /v1/chat/completions} or {@code /v1/completions} request, checked: the conversation
 * (OpenAI {@code messages}, or a completion's {@code prompt} as one user message, as ms-swift's server does), the
 * sampling fields the request sets (null: the server's default), and how to answer (n, stream, logprobs). Fields
 * of the OpenAI API that do not change what is generated ({@code user}, {@code metadata}, ...) are ignored; fields
 * that would change it and are not supported (presence / frequency penalties, images) are refused with a 400
 * naming the field, so a client never gets an answer that silently ignored what it asked for.
 */
public record ChatRequest(String model, Conversation conversation, Integer maxTokens, Float temperature, Float topP,
    Integer topK, Float repetitionPenalty, Long seed, List<String> stop, int n, boolean stream, boolean includeUsage,
    boolean logprobs, int topLogprobs) {
  /** The most answers one request may ask for (each is a sequence in the batch). */
  public static final int MAX_N = 16;
  /** The most stop strings one request may give. */
  public static final int MAX_STOP = 16;

  private static final ObjectMapper JSON = new ObjectMapper();

  /** A chat request: {@code messages} (and {@code tools}). */
  public static ChatRequest chat(JsonNode body, int maxLogprobs) {
    requireObject(body);
    JsonNode messages = body.get("messages");
    if (messages == null || !messages.isArray() || messages.isEmpty())
      throw ApiException.badRequest("messages", "'messages' must be a non-empty list of {\"role\", \"content\"} objects");
    ObjectNode row = JSON.createObjectNode();
    ArrayNode msgs = row.putArray("messages");
    for (int i = 0; i < messages.size(); i++) msgs.add(textContent(messages.get(i), i));
    JsonNode tools = body.get("tools");
    boolean noTools = "none".equals(body.path("tool_choice").asText(""));
    if (tools != null && !tools.isNull() && !noTools) row.set("tools", tools);
    Conversation conversation;
    try {
      conversation = Conversation.fromJson(row);
    } catch (IllegalArgumentException e) {
      throw ApiException.badRequest("messages", e.getMessage());
    }
    boolean logprobs = bool(body, "logprobs", false);
    int top = integer(body, "top_logprobs", 0, 0, maxLogprobs);
    if (top > 0 && !logprobs) throw ApiException.badRequest("top_logprobs", "'top_logprobs' needs 'logprobs': true");
    return common(body, conversation, logprobs, top);
  }

  /** A completion request: {@code prompt} (a string, or a list of one string) answered as one user turn. */
  public static ChatRequest completion(JsonNode body, int maxLogprobs) {
    requireObject(body);
    JsonNode prompt = body.get("prompt");
    if (prompt != null && prompt.isArray() && prompt.size() == 1) prompt = prompt.get(0);
    if (prompt == null || !prompt.isTextual())
      throw ApiException.badRequest("prompt", "'prompt' must be a string (or a list of one string)"
          + (prompt != null && prompt.isArray() ? ": send one request per prompt" : ""));
    ObjectNode row = JSON.createObjectNode();
    row.putArray("messages").addObject().put("role", "user").put("content", prompt.textValue());
    // In the completions API, logprobs is the number of most likely tokens to list (0 = only the chosen one).
    JsonNode lp = body.get("logprobs");
    boolean logprobs = lp != null && !lp.isNull();
    int top = logprobs ? integer(body, "logprobs", 0, 0, maxLogprobs) : 0;
    return common(body, Conversation.fromJson(row), logprobs, top);
  }

  private static ChatRequest common(JsonNode body, Conversation conversation, boolean logprobs, int topLogprobs) {
    for (String f : List.of("presence_penalty", "frequency_penalty")) {
      JsonNode v = body.get(f);
      if (v != null && !v.isNull() && (!v.isNumber() || v.doubleValue() != 0))
        throw ApiException.badRequest(f, "'" + f + "' is not supported (use repetition_penalty)");
    }
    if (body.hasNonNull("max_tokens") && body.hasNonNull("max_completion_tokens"))
      throw ApiException.badRequest("max_tokens", "give 'max_tokens' or 'max_completion_tokens', not both");
    String maxField = body.hasNonNull("max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
    Integer maxTokens = body.hasNonNull(maxField) ? integer(body, maxField, 0, 1, Integer.MAX_VALUE) : null;
    Float temperature = number(body, "temperature", 0, Float.MAX_VALUE, false);
    Float topP = number(body, "top_p", 0, 1, true);
    Integer topK = body.hasNonNull("top_k") ? integer(body, "top_k", 0, -1, Integer.MAX_VALUE) : null;
    if (topK != null && topK < 0) topK = 0;  // vLLM's -1: no top-k
    Float repetition = number(body, "repetition_penalty", 0, Float.MAX_VALUE, true);
    Long seed = null;
    JsonNode s = body.get("seed");
    if (s != null && !s.isNull()) {
      if (!s.canConvertToLong() || !s.isIntegralNumber()) throw ApiException.badRequest("seed", "'seed' must be an integer, got " + s);
      seed = s.longValue();
    }
    int n = integer(body, "n", 1, 1, MAX_N);
    boolean stream = bool(body, "stream", false);
    JsonNode options = body.path("stream_options");
    boolean includeUsage = options.isObject() && options.path("include_usage").asBoolean(false);
    String model = body.hasNonNull("model") ? text(body, "model") : null;
    return new ChatRequest(model, conversation, maxTokens, temperature, topP, topK, repetition, seed, stops(body), n,
        stream, includeUsage, logprobs, topLogprobs);
  }

  /** An OpenAI message with its content as a string: a list of text parts is joined; other parts are refused. */
  private static JsonNode textContent(JsonNode m, int index) {
    if (m == null || !m.isObject())
      throw ApiException.badRequest("messages", "messages[" + index + "] must be an object, got " + m);
    JsonNode content = m.get("content");
    if (content == null || !content.isArray()) return m;
    StringBuilder text = new StringBuilder();
    for (JsonNode part : content) {
      String type = part.path("type").asText("");
      if (!type.equals("text") || !part.path("text").isTextual())
        throw ApiException.badRequest("messages", "messages[" + index + "]: content part of type '" + type
            + "' is not supported: this server takes text only");
      text.append(part.get("text").textValue());
    }
    ObjectNode copy = ((ObjectNode) m).deepCopy();
    copy.put("content", text.toString());
    return copy;
  }

  private static List<String> stops(JsonNode body) {
    JsonNode s = body.get("stop");
    List<String> out = new ArrayList<>();
    if (s == null || s.isNull()) return out;
    if (s.isTextual()) s = JSON.createArrayNode().add(s.textValue());
    if (!s.isArray() || s.size() > MAX_STOP)
      throw ApiException.badRequest("stop", "'stop' must be a string or a list of at most " + MAX_STOP + " strings");
    for (JsonNode v : s) {
      if (!v.isTextual() || v.textValue().isEmpty())
        throw ApiException.badRequest("stop", "'stop' entries must be non-empty strings, got " + v);
      out.add(v.textValue());
    }
    return out;
  }

  private static void requireObject(JsonNode body) {
    if (body == null || !body.isObject()) throw ApiException.badRequest(null, "the request body must be a JSON object");
  }

  private static String text(JsonNode body, String field) {
    JsonNode v = body.get(field);
    if (!v.isTextual()) throw ApiException.badRequest(field, "'" + field + "' must be a string, got " + v);
    return v.textValue();
  }

  private static boolean bool(JsonNode body, String field, boolean dflt) {
    JsonNode v = body.get(field);
    if (v == null || v.isNull()) return dflt;
    if (!v.isBoolean()) throw ApiException.badRequest(field, "'" + field + "' must be true or false, got " + v);
    return v.booleanValue();
  }

  private static int integer(JsonNode body, String field, int dflt, int min, int max) {
    JsonNode v = body.get(field);
    if (v == null || v.isNull()) return dflt;
    if (!v.isIntegralNumber() || !v.canConvertToInt() || v.intValue() < min || v.intValue() > max)
      throw ApiException.badRequest(field, "'" + field + "' must be an integer in [" + min + ", " + max + "], got " + v);
    return v.intValue();
  }

  /** A number in [min, max] ((min, max] when {@code exclusiveMin}); null when absent. */
  private static Float number(JsonNode body, String field, float min, float max, boolean exclusiveMin) {
    JsonNode v = body.get(field);
    if (v == null || v.isNull()) return null;
    if (!v.isNumber()) throw ApiException.badRequest(field, "'" + field + "' must be a number, got " + v);
    float f = v.floatValue();
    if (!(exclusiveMin ? f > min : f >= min) || f > max || Float.isNaN(f))
      throw ApiException.badRequest(field, "'" + field + "' must be " + (exclusiveMin ? "> " : ">= ") + min
          + (max < Float.MAX_VALUE ? " and <= " + max : "") + ", got " + v);
    return f;
  }
}
