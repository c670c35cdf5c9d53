package jswift.template;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.ArrayList;
import java.util.List;

/**
 * What a template encodes: the messages of one dataset row (ms-swift's standard {@code messages} format) and
 * the tools the assistant may call (OpenAI-style function descriptions, e.g.
 * {@code {"type": "function", "function": {"name", "description", "parameters"}}} or the bare function).
 * The structure (who may follow whom) is checked when a template encodes it, because what is valid depends
 * on training versus inference.
 */
public record Conversation(List<Message> messages, List<JsonNode> tools) {
  private static final ObjectMapper JSON = new ObjectMapper();

  public Conversation {
    if (messages == null) throw new IllegalArgumentException("messages is null");
    messages = List.copyOf(messages);
    tools = tools == null ? List.of() : List.copyOf(tools);
    for (int i = 0; i < tools.size(); i++) {
      if (!tools.get(i).isObject())
        throw new IllegalArgumentException("tools[" + i + "] must be a JSON object describing a function, got " + tools.get(i));
    }
  }

  public static Conversation of(List<Message> messages) {
    return new Conversation(messages, List.of());
  }

  public static Conversation of(Message... messages) {
    return new Conversation(List.of(messages), List.of());
  }

  public Conversation withTools(List<JsonNode> newTools) {
    return new Conversation(messages, newTools);
  }

  /**
   * A dataset row: {@code messages} (required), {@code tools} (a JSON string holding a list, or the list
   * itself), and an optional top-level {@code system} string, which becomes a leading system message.
   * Each message has {@code role} and {@code content} (a string); an assistant message may add {@code loss}
   * (boolean or number) and OpenAI {@code tool_calls}.
   *
   * @throws IllegalArgumentException naming the offending message and field
   */
  public static Conversation fromJson(JsonNode row) {
    if (row == null || !row.isObject()) throw new IllegalArgumentException("a dataset row must be a JSON object, got " + row);
    JsonNode msgs = row.get("messages");
    if (msgs == null || !msgs.isArray())
      throw new IllegalArgumentException("the row has no \"messages\" list (keys: " + fieldNames(row) + ")");
    List<Message> out = new ArrayList<>();
    JsonNode system = row.get("system");
    if (system != null && !system.isNull()) {
      if (!system.isTextual()) throw new IllegalArgumentException("\"system\" must be a string, got " + system);
      if (msgs.size() > 0 && "system".equals(msgs.get(0).path("role").asText()))
        throw new IllegalArgumentException("the row has both a \"system\" field and a leading system message: keep one");
      out.add(Message.system(system.textValue()));
    }
    for (int i = 0; i < msgs.size(); i++) out.add(message(msgs.get(i), i));
    return new Conversation(out, tools(row.get("tools")));
  }

  private static Message message(JsonNode m, int index) {
    String where = "message " + index;
    if (!m.isObject()) throw new IllegalArgumentException(where + " must be a JSON object, got " + m);
    JsonNode roleNode = m.get("role");
    if (roleNode == null || !roleNode.isTextual()) throw new IllegalArgumentException(where + " has no string \"role\"");
    Role role;
    try {
      role = Role.parse(roleNode.textValue());
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(where + ": " + e.getMessage(), e);
    }
    where += " (" + role + ")";
    List<ToolCall> calls = new ArrayList<>();
    JsonNode tc = m.get("tool_calls");
    if (tc != null && !tc.isNull()) {
      if (role != Role.ASSISTANT || !tc.isArray())
        throw new IllegalArgumentException(where + ": \"tool_calls\" must be a list on an assistant message");
      for (JsonNode c : tc) {
        try {
          calls.add(ToolCall.fromJson(c));
        } catch (IllegalArgumentException e) {
          throw new IllegalArgumentException(where + ": " + e.getMessage(), e);
        }
      }
    }
    JsonNode content = m.get("content");
    String text;
    if (content == null || content.isNull()) {
      if (calls.isEmpty()) throw new IllegalArgumentException(where + " has no \"content\"");
      text = "";
    } else if (content.isTextual()) {
      text = content.textValue();
    } else if (content.isArray()) {
      throw new IllegalArgumentException(where + ": content given as a list of parts (multimodal) is not supported; "
          + "give a string");
    } else {
      throw new IllegalArgumentException(where + ": content must be a string"
          + (role == Role.TOOL_CALL || role == Role.TOOL_RESPONSE ? " (a JSON string for " + role + ")" : "")
          + ", got " + content.getNodeType().toString().toLowerCase());
    }
    Double loss = null;
    JsonNode l = m.get("loss");
    if (l != null && !l.isNull()) {
      if (l.isBoolean()) loss = l.booleanValue() ? 1.0 : 0.0;
      else if (l.isNumber()) loss = l.doubleValue();
      else throw new IllegalArgumentException(where + ": \"loss\" must be true, false or a number, got " + l);
      if (role != Role.ASSISTANT)
        throw new IllegalArgumentException(where + ": \"loss\" applies to assistant messages only");
    }
    try {
      return new Message(role, text, loss, calls);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(where + ": " + e.getMessage(), e);
    }
  }

  /** ms-swift stores tools as a JSON string in the row; a plain list is accepted too. */
  private static List<JsonNode> tools(JsonNode tools) {
    if (tools == null || tools.isNull()) return List.of();
    JsonNode list = tools;
    if (tools.isTextual()) {
      if (tools.textValue().isBlank()) return List.of();
      try {
        list = JSON.readTree(tools.textValue());
      } catch (JsonProcessingException e) {
        throw new IllegalArgumentException("\"tools\" is a string that is not JSON: " + ToolCall.abbreviate(tools.textValue()));
      }
    }
    if (list.isObject()) return List.of(list);
    if (!list.isArray()) throw new IllegalArgumentException("\"tools\" must be a list of function descriptions, got " + list);
    List<JsonNode> out = new ArrayList<>();
    for (JsonNode t : list) {
      if (t.isTextual()) {  // a list of JSON strings, as some exports write it
        try {
          t = JSON.readTree(t.textValue());
        } catch (JsonProcessingException e) {
          throw new IllegalArgumentException("tools[" + out.size() + "] is a string that is not JSON: "
              + ToolCall.abbreviate(t.textValue()));
        }
      }
      out.add(t);
    }
    return out;
  }

  private static String fieldNames(JsonNode row) {
    List<String> names = new ArrayList<>();
    row.fieldNames().forEachRemaining(names::add);
    return String.join(", ", names);
  }
}
