package jswift.template;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

/**
 * One call of a tool by the assistant: the tool's name and its arguments (a JSON value, normally an object).
 * In a dataset it is a {@code tool_call} message whose content is {@code {"name": ..., "arguments": ...}}
 * ({@code parameters} is accepted for {@code arguments}, and arguments given as a JSON string are parsed, as
 * ms-swift does); an OpenAI-style assistant message carries the same in {@code tool_calls}.
 */
public record ToolCall(String name, JsonNode arguments) {
  private static final ObjectMapper JSON = new ObjectMapper();

  public ToolCall {
    if (name == null || name.isEmpty()) throw new IllegalArgumentException("a tool call needs a non-empty name");
    if (arguments == null || arguments.isMissingNode())
      throw new IllegalArgumentException("tool call '" + name + "' has no arguments (give \"arguments\": {} for none)");
  }

  /**
   * The call written in a {@code tool_call} message: a JSON object {@code {"name", "arguments"}}, or an
   * OpenAI entry {@code {"type": "function", "function": {...}}}.
   *
   * @throws IllegalArgumentException when the text is not such an object
   */
  public static ToolCall parse(String content) {
    JsonNode node;
    try {
      node = JSON.readTree(content);
    } catch (JsonProcessingException e) {
      throw new IllegalArgumentException("a tool_call content must be a JSON object {\"name\": ..., \"arguments\": ...}, "
          + "got text that is not JSON: " + abbreviate(content));
    }
    return fromJson(node);
  }

  /** The call as a parsed JSON object (see {@link #parse}). */
  public static ToolCall fromJson(JsonNode node) {
    if (node == null || !node.isObject())
      throw new IllegalArgumentException("a tool call must be a JSON object with \"name\" and \"arguments\", got " + node);
    if (node.has("function") && node.get("function").isObject()) node = node.get("function");
    JsonNode name = node.get("name");
    if (name == null || !name.isTextual())
      throw new IllegalArgumentException("a tool call needs a string \"name\", got " + abbreviate(node.toString()));
    JsonNode args = node.get("arguments");
    if (args == null || args.isNull()) args = node.get("parameters");
    if (args != null && args.isTextual()) {
      // Datasets often carry OpenAI's arguments string; the templates print the parsed object.
      try {
        args = JSON.readTree(args.textValue());
      } catch (JsonProcessingException e) {
        throw new IllegalArgumentException("tool call '" + name.textValue() + "': arguments is a string that is not JSON: "
            + abbreviate(args.textValue()));
      }
    }
    if (args == null || args.isNull() || args.isMissingNode())
      throw new IllegalArgumentException("tool call '" + name.textValue() + "' has no \"arguments\" (give {} for none)");
    return new ToolCall(name.textValue(), args);
  }

  static String abbreviate(String s) {
    return s.length() <= 80 ? s : s.substring(0, 77) + "...";
  }
}
