package jswift.template;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.TextNode;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * ms-swift's {@code react_en} agent template: tools are listed in a ReAct instruction that becomes the system
 * prompt, a call is written {@code Action: name\nAction Input: {json}\n} and the calls end with
 * {@code Observation:}; the results then continue the same assistant stream (untrained), each followed by a
 * newline and separated by {@code Observation:}, and the next response follows directly.
 *
 * <p>As in ms-swift, the ReAct instruction replaces the conversation's own system text. Unlike ms-swift,
 * which prints the arguments with Python's {@code str()} ({@code {'city': 'Oslo'}}), jswift writes them as
 * JSON, which is what the instruction asks the model for.
 */
final class ReactAgentTemplate implements AgentTemplate {
  static final String ACTION = "Action:";
  static final String ACTION_INPUT = "Action Input:";
  static final String OBSERVATION = "Observation:";

  @Override
  public String name() {
    return "react_en";
  }

  @Override
  public String formatTools(List<JsonNode> tools, String system) {
    List<String> names = new ArrayList<>();
    List<String> descs = new ArrayList<>();
    for (int i = 0; i < tools.size(); i++) {
      ToolDescription t = ToolDescription.of(tools.get(i), i);
      names.add(t.name());
      descs.add(t.name() + ": Call this tool to interact with the " + t.humanName() + " API. What is the "
          + t.humanName() + " API useful for? " + t.description() + " Parameters: " + t.parameters()
          + " Format the arguments as a JSON object.");
    }
    return "Answer the following questions as best you can. You have access to the following tools:\n\n"
        + String.join("\n\n", descs) + "\n\n"
        + "Use the following format:\n\n"
        + "Question: the input question you must answer\n"
        + "Thought: you should always think about what to do\n"
        + "Action: the action to take, should be one of [" + String.join(",", names) + "]\n"
        + "Action Input: the input to the action\n"
        + "Observation: the result of the action\n"
        + "... (this Thought/Action/Action Input/Observation can be repeated zero or more times)\n"
        + "Thought: I now know the final answer\n"
        + "Final Answer: the final answer to the original input question\n\n"
        + "Begin!\n";
  }

  @Override
  public String formatToolCalls(List<ToolCall> calls) {
    StringBuilder sb = new StringBuilder();
    for (ToolCall c : calls) {
      sb.append(ACTION).append(' ').append(c.name()).append('\n');
      sb.append(ACTION_INPUT).append(' ').append(PythonJson.dumps(c.arguments())).append('\n');
    }
    return sb.append(OBSERVATION).toString();
  }

  @Override
  public ToolTurn formatToolResponses(String assistantContent, List<String> results, TemplateMeta meta) {
    return reactResponses(assistantContent, results);
  }

  static boolean hasAction(String assistantContent) {
    return assistantContent.contains(ACTION) && assistantContent.contains(ACTION_INPUT);
  }

  /**
   * Results inline after {@code Observation:}. Without an {@code Action:} in the turn there is no ReAct
   * stream to continue, and ms-swift writes the results back to back; so does jswift.
   */
  static ToolTurn reactResponses(String assistantContent, List<String> results) {
    List<PromptPart> parts = new ArrayList<>();
    if (!hasAction(assistantContent)) {
      for (String r : results) parts.add(PromptPart.text(r));
      return new ToolTurn(assistantContent, parts);
    }
    String content = assistantContent;
    if (!content.endsWith(OBSERVATION)) content = (content.endsWith("\n") ? content : content + "\n") + OBSERVATION;
    for (int i = 0; i < results.size(); i++) {
      if (i > 0) parts.add(PromptPart.text(OBSERVATION));
      String r = results.get(i);
      parts.add(PromptPart.text(r.endsWith("\n") ? r : r + "\n"));
    }
    return new ToolTurn(content, parts);
  }

  private static final Pattern CALL = Pattern.compile(
      "Action:[ \\t]*([^\\n]+?)[ \\t]*\\n[ \\t]*Action Input:[ \\t]*(.*?)[ \\t]*(?=\\n[ \\t]*(?:Action:|Observation:)|\\z)",
      Pattern.DOTALL);

  /**
   * Each {@code Action: NAME} / {@code Action Input: ARGS} pair is a call (ARGS parsed as JSON, else kept as a
   * string); the text before the first {@code Action:} (the Thought) is the text.
   */
  @Override
  public Reply parseReply(String answer) {
    List<ToolCall> calls = new ArrayList<>();
    int first = -1;
    Matcher m = CALL.matcher(answer);
    while (m.find()) {
      String args = m.group(2).strip();
      JsonNode json;
      try {
        json = new ObjectMapper().readTree(args);
      } catch (JsonProcessingException notJson) {
        json = TextNode.valueOf(args);
      }
      if (json == null || json.isMissingNode()) json = TextNode.valueOf(args);
      calls.add(new ToolCall(m.group(1).strip(), json));
      if (first < 0) first = m.start();
    }
    return Reply.of(answer, calls, first);
  }
}
