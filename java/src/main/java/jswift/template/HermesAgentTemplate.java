package jswift.template;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * ms-swift's {@code hermes} agent template, the tool format of Qwen2.5 and Qwen3: the system prompt gets a
 * {@code # Tools} section with one JSON function description per line inside {@code <tools>}, a call is
 * written {@code <tool_call>\n{"name": ..., "arguments": ...}\n</tool_call>} (several joined by newlines),
 * and results come back as a user turn of {@code <tool_response>\n...\n</tool_response>} blocks. This is the
 * text Qwen's own chat template renders, so a conversation encodes the same either way.
 *
 * <p>Two details follow Qwen's chat template rather than ms-swift 3.x: with no system text the section starts
 * directly with {@code # Tools} (ms-swift leaves two blank lines), and text before tool calls in the same turn
 * is separated from them by a newline (see {@link AgentTemplate#joinToolCalls}). A turn written in ReAct
 * style ({@code Action:} / {@code Action Input:}) gets ReAct results, as ms-swift does for compatibility.
 */
final class HermesAgentTemplate implements AgentTemplate {
  @Override
  public String name() {
    return "hermes";
  }

  @Override
  public String formatTools(List<JsonNode> tools, String system) {
    StringBuilder sb = new StringBuilder();
    if (system != null && !system.isEmpty()) sb.append(system).append("\n\n");
    sb.append("# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
        + "You are provided with function signatures within <tools></tools> XML tags:\n<tools>");
    for (JsonNode t : tools) sb.append('\n').append(PythonJson.dumps(wrap(t)));
    sb.append("\n</tools>\n\nFor each function call, return a json object with function name and arguments within "
        + "<tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n"
        + "</tool_call>");
    return sb.toString();
  }

  /** A bare function description is shown the way the OpenAI format wraps it. */
  private static JsonNode wrap(JsonNode tool) {
    if (tool.has("type") || tool.has("function")) return tool;
    ObjectNode w = JsonNodeFactory.instance.objectNode();
    w.put("type", "function");
    w.set("function", tool);
    return w;
  }

  @Override
  public String formatToolCalls(List<ToolCall> calls) {
    List<String> out = new ArrayList<>();
    for (ToolCall c : calls) {
      ObjectNode call = JsonNodeFactory.instance.objectNode();
      call.put("name", c.name());
      call.set("arguments", c.arguments());
      out.add("<tool_call>\n" + PythonJson.dumps(call) + "\n</tool_call>");
    }
    return String.join("\n", out);
  }

  @Override
  public ToolTurn formatToolResponses(String assistantContent, List<String> results, TemplateMeta meta) {
    if (ReactAgentTemplate.hasAction(assistantContent)) return ReactAgentTemplate.reactResponses(assistantContent, results);
    List<String> blocks = new ArrayList<>();
    for (String r : results) blocks.add("<tool_response>\n" + r + "\n</tool_response>");
    String total = String.join("\n", blocks);
    // The results are a user turn: close the assistant turn, then the user prompt with the results as query.
    List<PromptPart> parts = new ArrayList<>();
    if (meta.chatSep() != null) parts.addAll(meta.chatSep());
    for (PromptPart p : meta.prompt()) {
      parts.add(p instanceof PromptPart.Text t ? PromptPart.text(Placeholders.fill(t.text(), TemplateMeta.QUERY, total)) : p);
    }
    return new ToolTurn(assistantContent, parts);
  }

  private static final Pattern CALL =
      Pattern.compile("<tool_call>(.*?)</tool_call>", Pattern.DOTALL);

  /** Every {@code <tool_call>...</tool_call>} holding a JSON call; the text before the first one. */
  @Override
  public Reply parseReply(String answer) {
    List<ToolCall> calls = new ArrayList<>();
    int first = -1;
    Matcher m = CALL.matcher(answer);
    while (m.find()) {
      try {
        calls.add(ToolCall.parse(m.group(1).strip()));
        if (first < 0) first = m.start();
      } catch (IllegalArgumentException notACall) {
        // left in the text
      }
    }
    return Reply.of(answer, calls, first);
  }
}
