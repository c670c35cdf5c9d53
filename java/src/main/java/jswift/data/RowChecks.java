package jswift.data;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import jswift.template.Message;
import jswift.template.Role;

/**
 * The checks every converted row passes before it is used, the ones ms-swift makes ({@code _check_messages},
 * {@code _check_rejected_response}, the multimodal casts) and a few more that turn a late, obscure failure into
 * an early, clear one: content must be text; {@code tools} must be JSON; a row to train on needs an assistant
 * turn. Message keys other than role, content and loss are dropped, as ms-swift drops them.
 */
final class RowChecks {
  private static final List<String> MEDIA = List.of("images", "videos", "audios", "rejected_images");

  private RowChecks() {}

  /** Checks a converted row ({@code messages} holds standard messages) and builds the {@link Row}. */
  static Row check(ObjectNode row, Location where, boolean requireAssistant) {
    List<Message> messages = messages(row.remove("messages"), "messages", where);
    List<Message> rejected = null;
    JsonNode rejectedNode = row.remove("rejected_messages");
    if (!ResponsePreprocessor.isNull(rejectedNode)) rejected = messages(rejectedNode, "rejected_messages", where);
    if (row.has("rejected_response")) {
      JsonNode r = row.get("rejected_response");
      if (r.isNull()) throw new DatasetException(where, "rejected_response is null");
      Message last = messages.get(messages.size() - 1);
      if (r.isTextual() && r.asText().equals(last.content()))
        throw new DatasetException(where, "rejected_response is the same as the chosen response");
    }
    List<JsonNode> tools = tools(row.remove("tools"), where);
    for (String key : MEDIA) media(row, key, where);
    if (requireAssistant && messages.stream().noneMatch(m -> m.role() == Role.ASSISTANT)) {
      Set<String> roles = new LinkedHashSet<>();
      messages.forEach(m -> roles.add(m.role().wireName()));
      throw new DatasetException(where, "the conversation has no assistant turn (roles: " + String.join(", ", roles)
          + "); training learns from assistant messages");
    }
    Map<String, JsonNode> extras = new LinkedHashMap<>();
    for (Iterator<Map.Entry<String, JsonNode>> it = row.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> e = it.next();
      extras.put(e.getKey(), e.getValue());
    }
    return new Row(messages, rejected, tools, extras, where);
  }

  private static List<Message> messages(JsonNode node, String field, Location where) {
    ArrayNode array = (ArrayNode) node;
    if (array.isEmpty()) throw new DatasetException(where, field + " is empty");
    List<Message> out = new ArrayList<>(array.size());
    for (int i = 0; i < array.size(); i++) {
      JsonNode m = array.get(i);
      String at = field + "[" + i + "]";
      JsonNode role = m.get("role");
      if (ResponsePreprocessor.isNull(role)) throw new DatasetException(where, at + " has no role");
      if (!role.isTextual())
        throw new DatasetException(where, at + ".role must be a string, found " + Json.typeName(role));
      Role r;
      try {
        r = Role.parse(role.asText());
      } catch (IllegalArgumentException e) {
        throw new DatasetException(where, at + ": unknown role \"" + role.asText() + "\" (accepted: system, user, "
            + "assistant, tool_call, tool_response (or tool); and in conversations human, gpt, bot, function_call, "
            + "function_response, observation)");
      }
      JsonNode content = m.get("content");
      if (ResponsePreprocessor.isNull(content)) throw new DatasetException(where, at + " has no content");
      if (!content.isTextual())
        throw new DatasetException(where, at + ".content must be a string, found " + Json.typeName(content));
      Boolean loss = loss(m.get("loss"), at, where);
      out.add(new Message(r, content.asText(), loss == null ? null : loss ? 1.0 : 0.0, null));
    }
    return out;
  }

  private static Boolean loss(JsonNode v, String at, Location where) {
    if (ResponsePreprocessor.isNull(v)) return null;
    if (v.isBoolean()) return v.booleanValue();
    // ms-swift stores the flag as a float column, so 1/0 (and 1.0/0.0) mean true/false
    if (v.isNumber() && (v.doubleValue() == 0 || v.doubleValue() == 1)) return v.doubleValue() == 1;
    throw new DatasetException(where, at + ".loss must be true or false, found " + Json.typeName(v));
  }

  private static List<JsonNode> tools(JsonNode v, Location where) {
    if (ResponsePreprocessor.isNull(v) || (v.isTextual() && v.asText().isBlank())) return List.of();
    JsonNode parsed = v;
    if (v.isTextual()) {
      try {
        parsed = Json.MAPPER.readTree(v.asText());
      } catch (JsonProcessingException e) {
        throw new DatasetException(where, "tools is not valid JSON: " + e.getOriginalMessage());
      }
    }
    List<JsonNode> out = new ArrayList<>();
    if (parsed.isObject()) out.add(parsed);
    else if (parsed.isArray()) parsed.forEach(out::add);
    else throw new DatasetException(where, "tools must be a list of functions, found " + Json.typeName(parsed));
    for (int i = 0; i < out.size(); i++)
      if (!out.get(i).isObject())
        throw new DatasetException(where, "tools[" + i + "] must be an object (a function), found "
            + Json.typeName(out.get(i)));
    return out;
  }

  /** One path, or a list of paths (or {@code {"path": ...}} objects): always a list afterwards, as ms-swift casts. */
  private static void media(ObjectNode row, String key, Location where) {
    JsonNode v = row.get(key);
    if (v == null) return;
    if (v.isNull()) {
      row.remove(key);
      return;
    }
    ArrayNode list = v.isArray() ? (ArrayNode) v : row.arrayNode().add(v);
    for (int i = 0; i < list.size(); i++) {
      JsonNode item = list.get(i);
      boolean ok = item.isTextual() || (item.isObject() && item.path("path").isTextual());
      if (!ok)
        throw new DatasetException(where, key + "[" + i + "] must be a path, URL or data URI string (or {\"path\": "
            + "...}), found " + Json.typeName(item));
    }
    row.set(key, list);
  }
}
