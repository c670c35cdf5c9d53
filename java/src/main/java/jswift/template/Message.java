package jswift.template;

import java.util.List;

/**
 * One message of a conversation. {@code loss} is the optional per-message {@code "loss"} of the dataset row:
 * {@code null} follows the template's loss_scale strategy, {@code 0} (false) never trains on this response,
 * {@code 1} (true) always does, and another number weights it (ms-swift reads the field as {@code float(loss)}).
 * Only assistant turns use it. {@code toolCalls} holds the OpenAI-style {@code tool_calls} of an assistant
 * message, which are encoded as if {@code tool_call} messages followed it.
 */
public record Message(Role role, String content, Double loss, List<ToolCall> toolCalls) {
  public Message {
    if (role == null) throw new IllegalArgumentException("a message needs a role");
    if (content == null) throw new IllegalArgumentException(role + " message without content");
    toolCalls = toolCalls == null ? List.of() : List.copyOf(toolCalls);
    if (!toolCalls.isEmpty() && role != Role.ASSISTANT)
      throw new IllegalArgumentException("only assistant messages carry tool_calls, not " + role);
    if (loss != null && (loss.isNaN() || loss < 0))
      throw new IllegalArgumentException("loss of a " + role + " message must be true, false or a weight >= 0, got " + loss);
  }

  /** A message without a loss override or tool calls. */
  public Message(Role role, String content) {
    this(role, content, null, null);
  }

  public static Message system(String content) {
    return new Message(Role.SYSTEM, content, null, null);
  }

  public static Message user(String content) {
    return new Message(Role.USER, content, null, null);
  }

  public static Message assistant(String content) {
    return new Message(Role.ASSISTANT, content, null, null);
  }

  /** An assistant turn with an explicit {@code "loss": true|false}. */
  public static Message assistant(String content, boolean loss) {
    return new Message(Role.ASSISTANT, content, loss ? 1.0 : 0.0, null);
  }

  /** A {@code tool_call} message; content is the call as JSON text. */
  public static Message toolCall(String json) {
    return new Message(Role.TOOL_CALL, json, null, null);
  }

  public static Message toolResponse(String content) {
    return new Message(Role.TOOL_RESPONSE, content, null, null);
  }
}
