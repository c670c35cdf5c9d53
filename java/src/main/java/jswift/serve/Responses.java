package jswift.serve;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.UUID;
import jswift.infer.ChatCompletion;
import jswift.template.AgentTemplate;
import jswift.template.ToolCall;
import jswift.tokenizer.Tokenizer;

/**
 * The JSON the server answers with, in the OpenAI API's shapes: chat completions ({@code chat.completion} and
 * its streamed {@code chat.completion.chunk}s), text completions ({@code text_completion}), the model list and
 * errors. {@code chat} selects the chat or the text-completion shape.
 */
final class Responses {
  static final ObjectMapper JSON = new ObjectMapper();

  private final boolean chat;
  private final String id;
  private final long created;
  private final String model;
  private final Tokenizer tokenizer;

  Responses(boolean chat, String id, long created, String model, Tokenizer tokenizer) {
    this.chat = chat;
    this.id = id;
    this.created = created;
    this.model = model;
    this.tokenizer = tokenizer;
  }

  /**
   * The whole answer of a request that did not stream; {@code replies} (null: none) are the answers read back by
   * the agent template when the request gave tools: an answer with tool calls gets {@code tool_calls}, its text
   * before them as content (null if none) and the finish reason {@code tool_calls}.
   */
  ObjectNode complete(ChatCompletion.Result result, TokenLogprobs logprobs, List<AgentTemplate.Reply> replies) {
    ObjectNode root = header(chat ? "chat.completion" : "text_completion");
    ArrayNode choices = root.putArray("choices");
    for (int i = 0; i < result.choices().size(); i++) {
      ChatCompletion.Choice c = result.choices().get(i);
      ObjectNode choice = choices.addObject().put("index", i);
      AgentTemplate.Reply reply = replies == null ? null : replies.get(i);
      boolean calls = reply != null && !reply.calls().isEmpty();
      if (chat) {
        ObjectNode message = choice.putObject("message").put("role", "assistant");
        if (calls) {
          if (reply.content().isEmpty()) message.putNull("content");
          else message.put("content", reply.content());
          putToolCalls(message, reply.calls());
        } else {
          message.put("content", c.text());
        }
      } else {
        choice.put("text", c.text());
      }
      putLogprobs(choice, logprobs == null ? null : logprobs.entries(i));
      choice.put("finish_reason", calls ? TOOL_CALLS : c.finishReason().wireName());
    }
    root.set("usage", usage(result));
    return root;
  }

  /** The finish reason of an answer that calls tools. */
  static final String TOOL_CALLS = "tool_calls";

  /** The last chunk of a streamed answer that calls tools: the calls in the delta, finish reason tool_calls. */
  ObjectNode toolCallChunk(int index, List<ToolCall> calls) {
    ObjectNode root = header("chat.completion.chunk");
    ObjectNode choice = root.putArray("choices").addObject().put("index", index);
    putToolCalls(choice.putObject("delta"), calls);
    choice.putNull("logprobs");
    choice.put("finish_reason", TOOL_CALLS);
    return root;
  }

  /** OpenAI's {@code tool_calls}: {@code [{"index", "id", "type": "function", "function": {"name", "arguments"}}]}. */
  private static void putToolCalls(ObjectNode message, List<ToolCall> calls) {
    ArrayNode list = message.putArray("tool_calls");
    for (int k = 0; k < calls.size(); k++) {
      ToolCall call = calls.get(k);
      ObjectNode c = list.addObject().put("index", k)
          .put("id", "call_" + UUID.randomUUID().toString().replace("-", "").substring(0, 24)).put("type", "function");
      String arguments = call.arguments().isTextual() ? call.arguments().textValue() : call.arguments().toString();
      c.putObject("function").put("name", call.name()).put("arguments", arguments);
    }
  }

  /**
   * One streamed piece of answer {@code index}: new text (may be empty), the log-probabilities of the tokens
   * generated since the last chunk (null: none asked for), and the finish reason on the last chunk (else null).
   */
  ObjectNode chunk(int index, String text, List<TokenLogprobs.Entry> logprobs, ChatCompletion.FinishReason finish,
      boolean first) {
    ObjectNode root = header(chat ? "chat.completion.chunk" : "text_completion");
    ObjectNode choice = root.putArray("choices").addObject().put("index", index);
    if (chat) {
      ObjectNode delta = choice.putObject("delta");
      if (first) delta.put("role", "assistant");
      if (!text.isEmpty() || first) delta.put("content", text);
    } else {
      choice.put("text", text);
    }
    putLogprobs(choice, logprobs);
    if (finish == null) choice.putNull("finish_reason");
    else choice.put("finish_reason", finish.wireName());
    return root;
  }

  /** The last chunk of a stream that asked for usage (stream_options.include_usage): no choices, the counts. */
  ObjectNode usageChunk(ChatCompletion.Result result) {
    ObjectNode root = header(chat ? "chat.completion.chunk" : "text_completion");
    root.putArray("choices");
    root.set("usage", usage(result));
    return root;
  }

  static ObjectNode usage(ChatCompletion.Result result) {
    ObjectNode u = JSON.createObjectNode();
    u.put("prompt_tokens", result.promptTokens());
    u.put("completion_tokens", result.completionTokens());
    u.put("total_tokens", result.promptTokens() + result.completionTokens());
    return u;
  }

  /** {@code {"object": "list", "data": [{"id", "object": "model", "created", "owned_by"}, ...]}}. */
  static ObjectNode models(List<String> names, long created, String ownedBy) {
    ObjectNode root = JSON.createObjectNode().put("object", "list");
    ArrayNode data = root.putArray("data");
    for (String n : names) data.addObject().put("id", n).put("object", "model").put("created", created).put("owned_by", ownedBy);
    return root;
  }

  /** {@code {"error": {"message", "type", "param", "code"}}}. */
  static ObjectNode error(String type, String param, String message, int status) {
    ObjectNode root = JSON.createObjectNode();
    ObjectNode e = root.putObject("error").put("message", message).put("type", type);
    if (param == null) e.putNull("param");
    else e.put("param", param);
    e.put("code", status);
    return root;
  }

  private ObjectNode header(String object) {
    return JSON.createObjectNode().put("id", id).put("object", object).put("created", created).put("model", model);
  }

  /** Chat: {@code {"content": [{"token", "logprob", "bytes", "top_logprobs"}]}}; text: the legacy parallel lists. */
  private void putLogprobs(ObjectNode choice, List<TokenLogprobs.Entry> entries) {
    if (entries == null) {
      choice.putNull("logprobs");
      return;
    }
    if (chat) {
      ArrayNode content = choice.putObject("logprobs").putArray("content");
      for (TokenLogprobs.Entry e : entries) {
        ObjectNode t = token(content.addObject(), e.id(), e.logprob());
        ArrayNode top = t.putArray("top_logprobs");
        for (TokenLogprobs.Candidate c : e.top()) token(top.addObject(), c.id(), c.logprob());
      }
    } else {
      ObjectNode lp = choice.putObject("logprobs");
      ArrayNode tokens = lp.putArray("tokens"), values = lp.putArray("token_logprobs"), top = lp.putArray("top_logprobs");
      for (TokenLogprobs.Entry e : entries) {
        tokens.add(text(e.id()));
        values.add(e.logprob());
        ObjectNode t = top.addObject();
        for (TokenLogprobs.Candidate c : e.top()) t.put(text(c.id()), c.logprob());
      }
    }
  }

  private ObjectNode token(ObjectNode node, int id, float logprob) {
    String text = text(id);
    node.put("token", text).put("logprob", logprob);
    ArrayNode bytes = node.putArray("bytes");
    for (byte b : text.getBytes(StandardCharsets.UTF_8)) bytes.add(b & 0xff);
    return node;
  }

  private String text(int id) {
    return tokenizer.decode(new int[] {id}, false);
  }

  /**
   * OpenAI's embeddings response: {@code {"object": "list", "data": [{"object": "embedding", "index": i,
   * "embedding": [...]}], "model", "usage": {"prompt_tokens", "total_tokens"}}}, each vector a list of floats or,
   * with {@code base64}, the base64 of its little-endian float32 bytes.
   */
  static ObjectNode embeddings(ServedModel.Embeddings e, boolean base64) {
    ObjectNode root = JSON.createObjectNode();
    root.put("object", "list");
    var data = root.putArray("data");
    for (int i = 0; i < e.vectors().length; i++) {
      ObjectNode item = data.addObject();
      item.put("object", "embedding");
      item.put("index", i);
      float[] v = e.vectors()[i];
      if (base64) {
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(4 * v.length).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        for (float x : v) b.putFloat(x);
        item.put("embedding", java.util.Base64.getEncoder().encodeToString(b.array()));
      } else {
        var list = item.putArray("embedding");
        for (float x : v) list.add(x);
      }
    }
    root.put("model", e.name());
    root.putObject("usage").put("prompt_tokens", e.promptTokens()).put("total_tokens", e.promptTokens());
    return root;
  }

  /**
   * A classifier's chat completion (ms-swift's deploy of a seq_cls model): one choice whose message content is the
   * prediction as JSON text (a class index, a list of classes or the regression values), finish_reason stop.
   */
  static ObjectNode classification(String id, long created, ServedModel.Classified c) {
    ObjectNode root = JSON.createObjectNode();
    root.put("id", id);
    root.put("object", "chat.completion");
    root.put("created", created);
    root.put("model", c.name());
    ObjectNode choice = root.putArray("choices").addObject();
    choice.put("index", 0);
    choice.putObject("message").put("role", "assistant").put("content", c.prediction().toString());
    choice.put("finish_reason", "stop");
    choice.putNull("logprobs");
    root.putObject("usage").put("prompt_tokens", c.promptTokens()).put("completion_tokens", 1)
        .put("total_tokens", c.promptTokens() + 1);
    return root;
  }
}
