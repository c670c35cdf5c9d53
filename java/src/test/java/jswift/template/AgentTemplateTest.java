package jswift.template;

import static jswift.template.TemplateTestSupport.JSON;
import static jswift.template.TemplateTestSupport.decode;
import static jswift.template.TemplateTestSupport.labelledSpans;
import static jswift.template.TemplateTestSupport.row;
import static jswift.template.TemplateTestSupport.swift;
import static jswift.template.TemplateTestSupport.tokenizer;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.util.List;
import jswift.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;

/** The hermes and react_en agent templates: tool descriptions, calls and results, and their place in a row. */
class AgentTemplateTest {
  private static final String TOOL = "{\"name\": \"get_time\", \"description\": \"Current time in a city\", "
      + "\"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}}, \"required\": [\"city\"]}}";

  private static JsonNode json(String s) throws IOException {
    return JSON.readTree(s);
  }

  @Test
  void hermesToolsSectionWrapsBareFunctions() throws IOException {
    AgentTemplate h = AgentTemplate.forName("hermes");
    String tools = "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
        + "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n"
        + "{\"type\": \"function\", \"function\": {\"name\": \"get_time\", \"description\": \"Current time in a city\", "
        + "\"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}}, \"required\": [\"city\"]}}}\n"
        + "</tools>\n\nFor each function call, return a json object with function name and arguments within "
        + "<tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call>";
    assertEquals(tools, h.formatTools(List.of(json(TOOL)), null));
    assertEquals("Be brief.\n\n" + tools, h.formatTools(List.of(json(TOOL)), "Be brief."));
  }

  @Test
  void hermesParallelCallsAndResults() throws IOException {
    Tokenizer t = tokenizer("qwen3");
    Conversation c = row("""
        {"tools": [%s], "messages": [{"role": "user", "content": "Oslo and Rome?"},
          {"role": "tool_call", "content": "{\\"name\\": \\"get_time\\", \\"arguments\\": \\"{\\\\\\"city\\\\\\": \\\\\\"Oslo\\\\\\"}\\"}"},
          {"role": "tool_call", "content": "{\\"name\\": \\"get_time\\", \\"parameters\\": {\\"city\\": \\"Roma\\"}}"},
          {"role": "tool_response", "content": "14:05"}, {"role": "tool", "content": "14:05"},
          {"role": "assistant", "content": "Both 14:05."}]}""".formatted(TOOL));
    Encoded e = swift("qwen2_5", "qwen3").encode(c);
    String text = decode(t, e.inputIds());
    // Arguments given as a JSON string, or as "parameters", print as the same object.
    String calls = "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {\"city\": \"Oslo\"}}\n</tool_call>\n"
        + "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {\"city\": \"Roma\"}}\n</tool_call>";
    assertTrue(text.endsWith("<|im_start|>user\nOslo and Rome?<|im_end|>\n<|im_start|>assistant\n" + calls + "<|im_end|>\n"
        + "<|im_start|>user\n<tool_response>\n14:05\n</tool_response>\n<tool_response>\n14:05\n</tool_response><|im_end|>\n"
        + "<|im_start|>assistant\nBoth 14:05.<|im_end|>\n"), text);
    assertEquals(List.of(calls + "<|im_end|>\n", "Both 14:05.<|im_end|>\n"), labelledSpans(t, e));
  }

  @Test
  void textBeforeToolCallsIsSeparatedByANewline() {
    Tokenizer t = tokenizer("qwen3");
    // OpenAI tool_calls on the assistant message, as chat templates receive them.
    Conversation c = row("""
        {"messages": [{"role": "user", "content": "Time?"},
          {"role": "assistant", "content": "Let me check.", "tool_calls": [{"type": "function", "function": {"name": "now", "arguments": {}}}]},
          {"role": "tool", "content": "noon"}, {"role": "assistant", "content": "Noon."}]}""");
    String text = decode(t, swift("qwen", "qwen3").encode(c).inputIds());
    assertTrue(text.contains("<|im_start|>assistant\nLet me check.\n<tool_call>\n{\"name\": \"now\", \"arguments\": {}}\n</tool_call><|im_end|>"), text);
  }

  @Test
  void reactSystemPromptListsEveryTool() throws IOException {
    AgentTemplate r = AgentTemplate.forName("react_en");
    JsonNode other = json("{\"type\": \"function\", \"function\": {\"name\": \"add\", \"description\": \"Adds\", \"parameters\": {}}}");
    String system = r.formatTools(List.of(json(TOOL), other), "ignored, as in ms-swift");
    assertEquals("Answer the following questions as best you can. You have access to the following tools:\n\n"
        + "get_time: Call this tool to interact with the get_time API. What is the get_time API useful for? Current time in a city "
        + "Parameters: {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}}, \"required\": [\"city\"]} "
        + "Format the arguments as a JSON object.\n\n"
        + "add: Call this tool to interact with the add API. What is the add API useful for? Adds Parameters: {} "
        + "Format the arguments as a JSON object.\n\n"
        + "Use the following format:\n\nQuestion: the input question you must answer\nThought: you should always think about what to do\n"
        + "Action: the action to take, should be one of [get_time,add]\nAction Input: the input to the action\n"
        + "Observation: the result of the action\n... (this Thought/Action/Action Input/Observation can be repeated zero or more times)\n"
        + "Thought: I now know the final answer\nFinal Answer: the final answer to the original input question\n\nBegin!\n", system);
  }

  @Test
  void reactSeveralResultsAreSeparatedByObservation() {
    AgentTemplate.ToolTurn turn = AgentTemplate.forName("react_en").formatToolResponses(
        "Thought: two calls\nAction: a\nAction Input: {}", List.of("1", "2\n"), Templates.meta("llama3"));
    assertEquals("Thought: two calls\nAction: a\nAction Input: {}\nObservation:", turn.assistantContent());
    assertEquals(List.of(PromptPart.text("1\n"), PromptPart.text("Observation:"), PromptPart.text("2\n")), turn.query());
  }

  @Test
  void hermesFallsBackToReactForReactStyleTurns() {
    AgentTemplate.ToolTurn turn = AgentTemplate.forName("hermes").formatToolResponses(
        "Action: a\nAction Input: {}\nObservation:", List.of("42"), Templates.meta("qwen"));
    assertEquals("Action: a\nAction Input: {}\nObservation:", turn.assistantContent());
    assertEquals(List.of(PromptPart.text("42\n")), turn.query());
  }

  @Test
  void llama3PutsToolsIntoTheFirstUserMessageAndResultsIntoToolTurns() {
    Tokenizer t = tokenizer("llama3");
    Conversation c = row("""
        {"tools": [%s], "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Time in Oslo?"},
          {"role": "tool_call", "content": "{\\"name\\": \\"get_time\\", \\"arguments\\": {\\"city\\": \\"Oslo\\"}}"},
          {"role": "tool_response", "content": "14:05"}, {"role": "assistant", "content": "It is 14:05."}]}""".formatted(TOOL));
    Encoded e = swift("llama3", "llama3").encode(c);
    String call = "{\"name\": \"get_time\", \"parameters\": {\"city\": \"Oslo\"}}";
    assertEquals("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
        + "<|start_header_id|>user<|end_header_id|>\n\nGiven the following functions, please respond with a JSON for a function "
        + "call with its proper arguments that best answers the given prompt.\n\nRespond in the format {\"name\": function name, "
        + "\"parameters\": dictionary of argument name and its value}. Do not use variables.\n\n"
        + "{\n    \"name\": \"get_time\",\n    \"description\": \"Current time in a city\",\n    \"parameters\": {\n"
        + "        \"type\": \"object\",\n        \"properties\": {\n            \"city\": {\n                \"type\": \"string\"\n"
        + "            }\n        },\n        \"required\": [\n            \"city\"\n        ]\n    }\n}\n\nTime in Oslo?<|eot_id|>"
        + "<|start_header_id|>assistant<|end_header_id|>\n\n" + call + "<|eot_id|>"
        + "<|start_header_id|>tool<|end_header_id|>\n\n14:05<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
        + "It is 14:05.<|eot_id|>", decode(t, e.inputIds()));
    assertEquals(List.of(call + "<|eot_id|>", "It is 14:05.<|eot_id|>"), labelledSpans(t, e));
  }

  @Test
  void agentTemplateCanBeChosen() {
    Tokenizer t = tokenizer("qwen3");
    Conversation c = row("""
        {"tools": [%s], "messages": [{"role": "user", "content": "Time in Oslo?"},
          {"role": "tool_call", "content": "{\\"name\\": \\"get_time\\", \\"arguments\\": {\\"city\\": \\"Oslo\\"}}"},
          {"role": "tool_response", "content": "14:05"}, {"role": "assistant", "content": "14:05."}]}""".formatted(TOOL));
    String text = decode(t, swift("qwen", "qwen3", TemplateOptions.DEFAULT.withAgentTemplate("react_en")).encode(c).inputIds());
    assertTrue(text.startsWith("<|im_start|>system\nAnswer the following questions"), text);
    assertTrue(text.endsWith("<|im_start|>assistant\nAction: get_time\nAction Input: {\"city\": \"Oslo\"}\nObservation:14:05\n14:05.<|im_end|>\n"), text);
  }

  /** What a template writes for calls it reads back (the server's tool_calls), with the text before them. */
  @Test
  void everyAgentTemplateReadsBackTheCallsItWrites() throws IOException {
    List<ToolCall> calls = List.of(new ToolCall("get_time", json("{\"city\": \"Rome\"}")),
        new ToolCall("get_weather", json("{\"city\": \"Paris\", \"days\": [1, 2]}")));
    for (String name : List.of("hermes", "llama3", "react_en")) {
      AgentTemplate t = AgentTemplate.forName(name);
      AgentTemplate.Reply alone = t.parseReply(t.formatToolCalls(calls));
      assertEquals(calls, alone.calls(), name);
      assertEquals("", alone.content(), name);
      String lead = name.equals("react_en") ? "Thought: I need the time and the weather." : "Let me look that up.";
      AgentTemplate.Reply withText = t.parseReply(t.joinToolCalls(lead, t.formatToolCalls(calls)));
      assertEquals(calls, withText.calls(), name);
      assertEquals(lead, withText.content(), name);
      AgentTemplate.Reply plain = t.parseReply("It is noon in Rome.");
      assertEquals(List.of(), plain.calls(), name);
      assertEquals("It is noon in Rome.", plain.content(), name);
    }
  }

  @Test
  void textThatOnlyLooksLikeACallStaysText() throws IOException {
    AgentTemplate h = AgentTemplate.forName("hermes");
    String broken = "Sure.\n<tool_call>\n{\"name\": \"get_time\", \"arguments\": {\"city\": }\n</tool_call>";
    assertEquals(new AgentTemplate.Reply(broken, List.of()), h.parseReply(broken));
    AgentTemplate l = AgentTemplate.forName("llama3");
    assertEquals(List.of(), l.parseReply("{\"not\": \"a call\"}").calls());
    AgentTemplate r = AgentTemplate.forName("react_en");
    AgentTemplate.Reply words = r.parseReply("Action: search\nAction Input: cheap flights to Rome\nObservation:");
    assertEquals(List.of(new ToolCall("search", JSON.getNodeFactory().textNode("cheap flights to Rome"))), words.calls(),
        "ReAct input that is not JSON is passed as a string");
  }
}
