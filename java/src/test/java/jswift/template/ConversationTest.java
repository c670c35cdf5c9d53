package jswift.template;

import static jswift.template.TemplateTestSupport.row;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.util.List;
import org.junit.jupiter.api.Test;

/** Reading ms-swift dataset rows: fields, aliases and the shapes tools and tool calls come in. */
class ConversationTest {
  @Test
  void messagesWithRolesAliasesAndLoss() {
    Conversation c = row("""
        {"system": "Be brief.", "messages": [{"role": "user", "content": "a"},
          {"role": "assistant", "content": "b", "loss": false}, {"role": "USER", "content": "c"},
          {"role": "assistant", "content": "d", "loss": 0.5}, {"role": "tool", "content": "e"}]}""");
    assertEquals(List.of(Role.SYSTEM, Role.USER, Role.ASSISTANT, Role.USER, Role.ASSISTANT, Role.TOOL_RESPONSE),
        c.messages().stream().map(Message::role).toList());
    assertEquals("Be brief.", c.messages().get(0).content());
    assertEquals(0.0, c.messages().get(2).loss());
    assertEquals(0.5, c.messages().get(4).loss());
    assertNull(c.messages().get(1).loss());
    assertEquals(List.of(), c.tools());
  }

  @Test
  void toolsAsAJsonStringAListOrAListOfStrings() {
    String tool = "{\"name\": \"f\", \"description\": \"d\"}";
    String msgs = "\"messages\": [{\"role\": \"user\", \"content\": \"a\"}]";
    Conversation asString = row("{\"tools\": " + TemplateTestSupport.JSON.valueToTree("[" + tool + "]") + ", " + msgs + "}");
    Conversation asList = row("{\"tools\": [" + tool + "], " + msgs + "}");
    Conversation asStrings = row("{\"tools\": [" + TemplateTestSupport.JSON.valueToTree(tool) + "], " + msgs + "}");
    assertEquals(asList.tools(), asString.tools());
    assertEquals(asList.tools(), asStrings.tools());
    assertEquals("f", asList.tools().get(0).get("name").asText());
    assertEquals(List.of(), row("{\"tools\": \"\", " + msgs + "}").tools());
  }

  @Test
  void toolCallsInEveryAcceptedShape() {
    ToolCall plain = ToolCall.parse("{\"name\": \"f\", \"arguments\": {\"x\": 1}}");
    assertEquals(plain, ToolCall.parse("{\"name\": \"f\", \"arguments\": \"{\\\"x\\\": 1}\"}"));
    assertEquals(plain, ToolCall.parse("{\"name\": \"f\", \"parameters\": {\"x\": 1}}"));
    assertEquals(plain, ToolCall.parse("{\"type\": \"function\", \"function\": {\"name\": \"f\", \"arguments\": {\"x\": 1}}}"));
    Conversation openAi = row("""
        {"messages": [{"role": "user", "content": "a"},
          {"role": "assistant", "content": null, "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": "{\\"x\\": 1}"}}]}]}""");
    Message m = openAi.messages().get(1);
    assertEquals("", m.content());
    assertEquals(List.of(plain), m.toolCalls());
  }
}
