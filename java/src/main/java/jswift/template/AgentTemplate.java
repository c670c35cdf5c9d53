package jswift.template;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.List;
import java.util.Locale;

/**
 * How a chat format writes tool use (ms-swift's agent templates): the tool descriptions into the system
 * prompt, the assistant's tool calls into its response text (which is trained on), and the tool results into
 * the context (never trained on). {@code hermes} is Qwen2.5/Qwen3's native format, {@code llama3} Llama 3.1's
 * JSON calls, and {@code react_en} the generic ReAct text format ms-swift uses for templates without one.
 */
public interface AgentTemplate {
  String name();

  /**
   * The system text when tools are given.
   *
   * @param system the conversation's system text, or null/empty for none
   * @return the system text to use, or null/empty for none
   */
  String formatTools(List<JsonNode> tools, String system);

  /** The first user message when tools are given; only templates that describe the tools there change it. */
  default String formatFirstQuery(List<JsonNode> tools, String query) {
    return query;
  }

  /** The assistant text of consecutive tool calls (one response). */
  String formatToolCalls(List<ToolCall> calls);

  /**
   * The tool results of a run of {@code tool_response} messages that follows an assistant turn.
   *
   * @return the assistant turn's text (ReAct appends {@code Observation:}) and what comes before the next
   *     response, in the template's format
   */
  ToolTurn formatToolResponses(String assistantContent, List<String> results, TemplateMeta meta);

  /**
   * Assistant text followed by its tool calls in one turn. ms-swift concatenates the two as they are; jswift
   * puts a newline between them, as Qwen's own chat template does, unless the text is empty or ends in one.
   */
  default String joinToolCalls(String content, String calls) {
    if (content.isEmpty() || content.endsWith("\n")) return content + calls;
    return content + "\n" + calls;
  }

  /**
   * Reads a generated answer back (ms-swift's {@code get_toolcall}, for the server's {@code tool_calls}): the tool
   * calls written in this template's format, and the text before them. Text that only looks like a call (not
   * valid JSON, no name) stays text.
   */
  Reply parseReply(String answer);

  /** A generated answer read back: its text (without the calls) and its tool calls, in order. */
  record Reply(String content, List<ToolCall> calls) {
    public Reply {
      calls = List.copyOf(calls);
    }

    /** The answer itself when it holds no call, else the calls and the text before the first (at {@code first}). */
    static Reply of(String answer, List<ToolCall> calls, int first) {
      return calls.isEmpty() ? new Reply(answer, calls) : new Reply(answer.substring(0, first).strip(), calls);
    }
  }

  /** The assistant turn's (possibly extended) text and the query parts of the round that follows. */
  record ToolTurn(String assistantContent, List<PromptPart> query) {
    public ToolTurn {
      query = List.copyOf(query);
    }
  }

  /**
   * The agent template of an ms-swift name.
   *
   * @throws IllegalArgumentException for a name jswift does not implement, listing the ones it does
   */
  static AgentTemplate forName(String name) {
    String n = name == null ? "" : name.toLowerCase(Locale.ROOT);
    return switch (n) {
      case "hermes" -> new HermesAgentTemplate();
      case "llama3" -> new Llama3AgentTemplate();
      case "react_en" -> new ReactAgentTemplate();
      default -> throw new IllegalArgumentException("unknown agent template '" + name + "': jswift implements hermes, "
          + "llama3 and react_en (ms-swift's others, e.g. qwen_en, glm4, toolbench, are not ported)");
    };
  }
}
