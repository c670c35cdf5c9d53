package jswift.data;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Conversations, as ms-swift's {@code MessagesPreprocessor} reads them: the list is in {@code messages},
 * {@code conversation} or {@code conversations} (or is the string form of such a list); each message names its
 * role in {@code role} or {@code from} and its text in {@code content} or {@code value}; the ShareGPT names
 * human → user, gpt/bot → assistant, function_call → tool_call, function_response/observation(s) →
 * tool_response are translated. A system prompt comes from a leading system message, or else from the row's
 * {@code system} or {@code system_prompt} field.
 *
 * <p>The pair form {@code {"conversation": [{"human": "hi", "assistant": "hello"}, ...]}} (messages that have
 * neither {@code role} nor {@code content}) is expanded to alternating user and assistant turns.
 * {@code rejected_messages} is converted the same way.
 */
final class MessagesPreprocessor {
  static final Map<String, String> COLUMNS;

  static {
    Map<String, String> m = new LinkedHashMap<>();
    for (String k : List.of("messages", "conversation", "conversations")) m.put(k, "messages");
    for (String k : List.of("system", "system_prompt")) m.put(k, "system");
    COLUMNS = Map.copyOf(m);
  }

  private static final List<String> USER_ROLES = List.of("user", "human");
  private static final List<String> ASSISTANT_ROLES = List.of("assistant", "gpt", "bot");
  private static final List<String> TOOL_CALL_ROLES = List.of("function_call");
  private static final List<String> TOOL_RESPONSE_ROLES = List.of("function_response", "observation", "observations");

  private MessagesPreprocessor() {}

  /**
   * Converts the row in place: afterwards {@code messages} holds standard messages (still unchecked).
   *
   * @param field the conversation column as the file names it, for error messages
   */
  static void preprocess(ObjectNode row, String field, Location where) {
    if (row.hasNonNull("rejected_messages"))
      row.set("rejected_messages", convert(row.get("rejected_messages"), null, "rejected_messages", where));
    if (!row.has("messages"))
      throw new DatasetException(where, "no messages column" + ambiguity(row));
    JsonNode system = row.remove("system");
    row.set("messages", convert(row.remove("messages"), system, field, where));
  }

  private static String ambiguity(ObjectNode row) {
    List<String> why = Columns.ambiguities(row, COLUMNS);
    return why.isEmpty() ? "" : ": " + String.join("; ", why) + ", so none is used (keep one, or pick one with "
        + "--columns '{\"conversations\": \"messages\"}')";
  }

  private static ArrayNode convert(JsonNode value, JsonNode system, String field, Location where) {
    JsonNode list = value;
    if (list != null && list.isTextual()) {
      try {
        list = PyLiteral.parse(list.asText());
      } catch (IllegalArgumentException e) {
        throw new DatasetException(where, field + " is a string, but not the text of a list: " + e.getMessage());
      }
    }
    if (list == null || list.isNull() || (list.isArray() && list.isEmpty()))
      throw new DatasetException(where, field + " is empty");
    if (!list.isArray()) throw new DatasetException(where, field + " must be a list of messages, found "
        + Json.typeName(list));
    ArrayNode messages = (ArrayNode) list.deepCopy();
    for (int i = 0; i < messages.size(); i++) {
      JsonNode m = messages.get(i);
      if (!m.isObject())
        throw new DatasetException(where, field + "[" + i + "] must be an object with role and content, found "
            + Json.typeName(m));
      renameKey((ObjectNode) m, "role", List.of("role", "from"));
      renameKey((ObjectNode) m, "content", List.of("content", "value"));
    }
    ObjectNode first = (ObjectNode) messages.get(0);
    if (!first.has("role") && !first.has("content")) return pairsToMessages(messages, system, field, where);
    standardizeRoles(messages, system);
    return messages;
  }

  /** ShareGPT's pair form: each element holds one user turn and the assistant's answer. */
  private static ArrayNode pairsToMessages(ArrayNode pairs, JsonNode system, String field, Location where) {
    ArrayNode out = pairs.arrayNode();
    if (system != null && !system.isNull()) out.add(message(out, "system", system));
    for (int i = 0; i < pairs.size(); i++) {
      ObjectNode pair = (ObjectNode) pairs.get(i);
      for (String k : USER_ROLES) renameKey(pair, "user", List.of(k));
      for (String k : ASSISTANT_ROLES) renameKey(pair, "assistant", List.of(k));
      for (String part : List.of("user", "assistant"))
        if (!pair.has(part))
          throw new DatasetException(where, field + "[" + i + "] has neither role/content (a message) nor "
              + (part.equals("user") ? "human/user" : "assistant/gpt/bot") + " (a ShareGPT pair); keys found: "
              + keys(pair));
      out.add(message(out, "user", pair.get("user")));
      out.add(message(out, "assistant", pair.get("assistant")));
    }
    return out;
  }

  private static void standardizeRoles(ArrayNode messages, JsonNode system) {
    ObjectNode first = (ObjectNode) messages.get(0);
    boolean leadingSystem = "system".equals(first.path("role").asText(null));
    if (!leadingSystem && system != null && !system.isNull()) messages.insert(0, message(messages, "system", system));
    for (JsonNode m : messages) {
      JsonNode role = m.get("role");
      if (role == null || !role.isTextual()) continue;
      String name = role.asText();
      String normalized = name.replace('-', '_');
      String standard = USER_ROLES.contains(name) ? "user"
          : ASSISTANT_ROLES.contains(name) ? "assistant"
          : TOOL_CALL_ROLES.contains(normalized) ? "tool_call"
          : TOOL_RESPONSE_ROLES.contains(normalized) ? "tool_response"
          : name;
      ((ObjectNode) m).put("role", standard);
    }
  }

  /** Moves each present name in turn to {@code key}; a later one wins, as in ms-swift (from over role). */
  private static void renameKey(ObjectNode m, String key, List<String> names) {
    for (String name : names) if (m.has(name)) m.set(key, m.remove(name));
  }

  private static ObjectNode message(ArrayNode factory, String role, JsonNode content) {
    ObjectNode m = factory.objectNode();
    m.put("role", role);
    m.set("content", content);
    return m;
  }

  private static String keys(ObjectNode node) {
    StringBuilder sb = new StringBuilder();
    node.fieldNames().forEachRemaining(k -> sb.append(sb.length() == 0 ? "" : ", ").append(k));
    return sb.length() == 0 ? "none" : sb.toString();
  }
}
