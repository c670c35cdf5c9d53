package jswift.data;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import jswift.template.Message;
import jswift.template.Role;

/**
 * One dataset row in the standard format, after conversion and checks: the conversation ({@code messages}), the
 * tools it may call, and every other field of the row kept as it was ({@code rejected_response},
 * {@code label}, {@code images}, {@code objects}, {@code solution}...), because preference, KTO, multimodal
 * and GRPO training each read their own. {@code rejected_messages} is converted like {@code messages}.
 *
 * <p>Rows are immutable. {@link #toJson()} writes the row back in the standard format, which ms-swift reads as
 * is (this is how a split-off validation set is saved).
 */
public final class Row {
  private static final ObjectMapper JSON = Json.MAPPER;

  private final List<Message> messages;
  private final List<Message> rejectedMessages;
  private final List<JsonNode> tools;
  private final Map<String, JsonNode> extras;
  private final Location location;

  /**
   * @param rejectedMessages null when the row has none
   * @param tools the function definitions (OpenAI style), empty when the row has none
   * @param extras the other fields, in the row's order
   */
  public Row(List<Message> messages, List<Message> rejectedMessages, List<JsonNode> tools,
      Map<String, JsonNode> extras, Location location) {
    this.messages = List.copyOf(messages);
    this.rejectedMessages = rejectedMessages == null ? null : List.copyOf(rejectedMessages);
    this.tools = List.copyOf(tools);
    this.extras = Collections.unmodifiableMap(new LinkedHashMap<>(extras));
    this.location = location;
  }

  public List<Message> messages() {
    return messages;
  }

  /** Where the row was read (file and line). */
  public Location location() {
    return location;
  }

  /** The leading system message's text, or null. */
  public String system() {
    return !messages.isEmpty() && messages.get(0).role() == Role.SYSTEM ? messages.get(0).content() : null;
  }

  /** Whether some message is an assistant turn (a row to learn from needs one). */
  public boolean hasAssistant() {
    for (Message m : messages) if (m.role() == Role.ASSISTANT) return true;
    return false;
  }

  /** The tools the conversation may call: one JSON object per function; empty when none. */
  public List<JsonNode> tools() {
    return tools;
  }

  /** The rejected conversation of a preference row ({@code rejected_messages}), or null. */
  public List<Message> rejectedMessages() {
    return rejectedMessages;
  }

  /** The rejected answer of a preference row ({@code rejected_response}), or null. */
  public String rejectedResponse() {
    JsonNode v = extras.get("rejected_response");
    return v == null || v.isNull() ? null : v.asText();
  }

  /** The {@code label} field (KTO: a boolean; classification: a number or list), or null. */
  public JsonNode label() {
    return extras.get("label");
  }

  /** Image paths, URLs or data URIs ({@code images}, or {@code image}); empty when none. */
  public List<String> images() {
    return media("images");
  }

  public List<String> videos() {
    return media("videos");
  }

  public List<String> audios() {
    return media("audios");
  }

  /** A field other than messages and tools, as read; null when absent. */
  public JsonNode extra(String key) {
    return extras.get(key);
  }

  /** The fields other than messages, tools and rejected_messages, in the row's order. */
  public Map<String, JsonNode> extras() {
    return extras;
  }

  /** The row in the standard format; {@code tools} is written as a JSON string, as ms-swift documents it. */
  public ObjectNode toJson() {
    ObjectNode node = JSON.createObjectNode();
    node.set("messages", messagesJson(messages));
    if (!tools.isEmpty()) {
      try {
        node.put("tools", JSON.writeValueAsString(tools));
      } catch (JsonProcessingException e) {
        throw new UncheckedIOException(e);
      }
    }
    if (rejectedMessages != null) node.set("rejected_messages", messagesJson(rejectedMessages));
    extras.forEach(node::set);
    return node;
  }

  /** The messages as plain maps ({@code role}, {@code content}), the shape a chat template renders. */
  public List<Map<String, Object>> messagesAsMaps() {
    List<Map<String, Object>> out = new ArrayList<>(messages.size());
    for (Message m : messages) {
      Map<String, Object> map = new LinkedHashMap<>();
      map.put("role", m.role().wireName());
      map.put("content", m.content());
      out.add(map);
    }
    return out;
  }

  @Override
  public String toString() {
    return location + " " + toJson();
  }

  private static ArrayNode messagesJson(List<Message> list) {
    ArrayNode array = JSON.createArrayNode();
    for (Message m : list) {
      // the standard format: {"role": ..., "content": ..., "loss": true|false}
      ObjectNode node = array.addObject();
      node.put("role", m.role().wireName());
      node.put("content", m.content());
      if (m.loss() != null) node.put("loss", m.loss() != 0);
    }
    return array;
  }

  private List<String> media(String key) {
    JsonNode v = extras.get(key);
    if (v == null || v.isNull()) return List.of();
    List<String> out = new ArrayList<>();
    // the checks made each entry a string or an object with a string "path"
    for (JsonNode item : v) out.add(item.isTextual() ? item.asText() : item.get("path").asText());
    return List.copyOf(out);
  }
}
