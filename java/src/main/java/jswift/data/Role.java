package jswift.data;

/**
 * The role of one message in the standard {@code messages} format. {@code tool} is accepted as another name of
 * {@link #TOOL_RESPONSE}, as ms-swift accepts it; the ShareGPT-style names (human, gpt, bot, function_call,
 * observation...) are translated earlier, by the conversion of a row (see {@link AutoPreprocessor}).
 */
public enum Role {
  SYSTEM("system"),
  USER("user"),
  ASSISTANT("assistant"),
  TOOL_CALL("tool_call"),
  TOOL_RESPONSE("tool_response");

  /** The accepted names, for error messages. */
  public static final String ACCEPTED = "system, user, assistant, tool_call, tool_response (or tool)";

  private final String jsonName;

  Role(String jsonName) {
    this.jsonName = jsonName;
  }

  /** The name in the standard format ({@code "tool_response"} for both tool and tool_response). */
  public String jsonName() {
    return jsonName;
  }

  /** The role of a standard name, {@code "tool"} included; null when the name is none of them. */
  public static Role of(String name) {
    if (name == null) return null;
    switch (name) {
      case "system": return SYSTEM;
      case "user": return USER;
      case "assistant": return ASSISTANT;
      case "tool_call": return TOOL_CALL;
      case "tool_response":
      case "tool": return TOOL_RESPONSE;
      default: return null;
    }
  }
}
