package jswift.template;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.List;

/**
 * ms-swift's {@code llama3} agent template, after Llama 3.1's JSON tool calling: the tools (JSON, indented by
 * four) and an instruction go in front of the first user message rather than into the system prompt, a call is
 * the JSON object {@code {"name": ..., "parameters": ...}} (several on separate lines), and each result comes
 * back as a {@code tool} turn of Llama 3's header format before the assistant header opens the next answer.
 * A turn written in ReAct style gets ReAct results, as ms-swift does for compatibility.
 */
final class Llama3AgentTemplate implements AgentTemplate {
  private static final String HEADER_START = "<|start_header_id|>";
  private static final String HEADER_END = "<|end_header_id|>";
  private static final String EOT = "<|eot_id|>";

  @Override
  public String name() {
    return "llama3";
  }

  /** The system text is left alone: the tools go into the first user message. */
  @Override
  public String formatTools(List<JsonNode> tools, String system) {
    return system;
  }

  @Override
  public String formatFirstQuery(List<JsonNode> tools, String query) {
    List<String> descs = new ArrayList<>();
    for (JsonNode t : tools) descs.add(PythonJson.dumps(t, 4));
    return "Given the following functions, please respond with a JSON for a function call with its proper arguments that "
        + "best answers the given prompt.\n\nRespond in the format {\"name\": function name, \"parameters\": dictionary of "
        + "argument name and its value}. Do not use variables.\n\n" + String.join("\n\n", descs) + "\n\n" + query;
  }

  @Override
  public String formatToolCalls(List<ToolCall> calls) {
    List<String> out = new ArrayList<>();
    for (ToolCall c : calls) {
      ObjectNode call = JsonNodeFactory.instance.objectNode();
      call.put("name", c.name());
      call.set("parameters", c.arguments());
      out.add(PythonJson.dumps(call));
    }
    return String.join("\n", out);
  }

  @Override
  public ToolTurn formatToolResponses(String assistantContent, List<String> results, TemplateMeta meta) {
    if (ReactAgentTemplate.hasAction(assistantContent)) return ReactAgentTemplate.reactResponses(assistantContent, results);
    List<PromptPart> parts = new ArrayList<>();
    parts.add(PromptPart.text(EOT));  // closes the calling turn, as the chat separator would
    for (String r : results) parts.add(PromptPart.text(HEADER_START + "tool" + HEADER_END + "\n\n" + r + EOT));
    parts.add(PromptPart.text(HEADER_START + "assistant" + HEADER_END + "\n\n"));
    return new ToolTurn(assistantContent, parts);
  }

  /** Each line that is a JSON call {"name", "parameters"} is a call; the other lines are the text. */
  @Override
  public Reply parseReply(String answer) {
    List<ToolCall> calls = new ArrayList<>();
    List<String> text = new ArrayList<>();
    for (String line : answer.split("\n", -1)) {
      String t = line.strip();
      if (t.startsWith("{") && t.endsWith("}")) {
        try {
          calls.add(ToolCall.parse(t));
          continue;
        } catch (IllegalArgumentException notACall) {
          // text
        }
      }
      text.add(line);
    }
    return calls.isEmpty() ? new Reply(answer, calls) : new Reply(String.join("\n", text).strip(), calls);
  }
}
