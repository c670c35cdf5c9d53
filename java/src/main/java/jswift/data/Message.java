package jswift.data;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Objects;

/**
 * One message of a conversation: its role, its text, and the optional per-message {@code loss} switch of
 * ms-swift (≥ 3.8), which overrides {@code --loss_scale} for that turn: true trains on it, false masks it, null
 * leaves the choice to the loss-scale rule. A {@code tool_call} or {@code tool_response} content is a JSON
 * string, as in ms-swift.
 */
public record Message(Role role, String content, Boolean loss) {
  public Message {
    Objects.requireNonNull(role, "role");
    Objects.requireNonNull(content, "content");
  }

  public Message(Role role, String content) {
    this(role, content, null);
  }

  /** The message in the standard format: {@code {"role": ..., "content": ..., "loss": ...}}. */
  public ObjectNode toJson() {
    ObjectNode node = JsonNodeFactory.instance.objectNode();
    node.put("role", role.jsonName());
    node.put("content", content);
    if (loss != null) node.put("loss", loss);
    return node;
  }
}
