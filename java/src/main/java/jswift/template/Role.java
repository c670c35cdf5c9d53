package jswift.template;

import java.util.Locale;

/**
 * The role of one message in ms-swift's dataset format: {@code system}, {@code user}, {@code assistant},
 * {@code tool_call} (the assistant calling a tool; its content is a JSON object with {@code name} and
 * {@code arguments}) and {@code tool_response} (what the tool returned; {@code tool} is accepted as an alias,
 * as in ms-swift and the OpenAI format).
 */
public enum Role {
  SYSTEM("system"),
  USER("user"),
  ASSISTANT("assistant"),
  TOOL_CALL("tool_call"),
  TOOL_RESPONSE("tool_response");

  private final String wireName;

  Role(String wireName) {
    this.wireName = wireName;
  }

  /** The name used in dataset rows. */
  public String wireName() {
    return wireName;
  }

  /**
   * The role of a dataset row's {@code "role"} value.
   *
   * @throws IllegalArgumentException naming the value and the accepted ones
   */
  public static Role parse(String name) {
    if (name != null) {
      String n = name.toLowerCase(Locale.ROOT);
      if (n.equals("tool")) return TOOL_RESPONSE;
      for (Role r : values()) {
        if (r.wireName.equals(n)) return r;
      }
    }
    throw new IllegalArgumentException("unknown role '" + name + "': expected system, user, assistant, tool_call, "
        + "tool_response or tool");
  }

  @Override
  public String toString() {
    return wireName;
  }
}
