package jswift.template;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * The fields of one tool description that the ReAct prompt names (ms-swift's {@code ToolDesc}): the function
 * object may be wrapped as {@code {"type": "function", "function": {...}}}; {@code name_for_model},
 * {@code name_for_human} and {@code description_for_model} (Qwen-Agent's spelling) are accepted too; the
 * parameters are printed as JSON unless already given as text.
 */
record ToolDescription(String name, String humanName, String description, String parameters) {
  static ToolDescription of(JsonNode tool, int index) {
    JsonNode f = tool.has("type") && tool.has("function") ? tool.get("function") : tool;
    String name = text(f, "name_for_model", "name");
    if (name == null) throw new IllegalArgumentException("tools[" + index + "] has no \"name\": " + ToolCall.abbreviate(tool.toString()));
    String human = text(f, "name_for_human", "name_for_human");
    String description = text(f, "description", "description_for_model");
    if (description == null)
      throw new IllegalArgumentException("tools[" + index + "] ('" + name + "') has no \"description\": the ReAct prompt "
          + "needs one for every tool");
    JsonNode p = f.get("parameters");
    String params = p == null || p.isNull() ? "{}" : p.isTextual() ? p.textValue() : PythonJson.dumps(p);
    return new ToolDescription(name, human == null ? name : human, description, params);
  }

  private static String text(JsonNode f, String first, String second) {
    JsonNode v = f.get(first);
    if (v == null || !v.isTextual() || v.textValue().isEmpty()) v = f.get(second);
    return v != null && v.isTextual() && !v.textValue().isEmpty() ? v.textValue() : null;
  }
}
