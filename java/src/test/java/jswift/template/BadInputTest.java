package jswift.template;

import static jswift.template.TemplateTestSupport.row;
import static jswift.template.TemplateTestSupport.swift;
import static jswift.template.TemplateTestSupport.tokenizer;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/** Malformed rows and settings fail before any token is produced, with a message naming the problem. */
class BadInputTest {
  private static void fails(Executable e, String... fragments) {
    IllegalArgumentException x = assertThrows(IllegalArgumentException.class, e);
    for (String f : fragments) assertTrue(x.getMessage().contains(f), "'" + f + "' missing from: " + x.getMessage());
  }

  private static Conversation messages(String json) {
    return row("{\"messages\": " + json + "}");
  }

  @Test
  void unknownRoleNamesTheMessageAndTheAcceptedRoles() {
    fails(() -> messages("[{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"bot\", \"content\": \"b\"}]"),
        "message 1", "unknown role 'bot'", "tool_response");
  }

  @Test
  void emptyConversations() {
    fails(() -> swift("qwen", "qwen3").encode(messages("[]")), "no messages");
    fails(() -> swift("qwen", "qwen3").encode(messages("[{\"role\": \"system\", \"content\": \"s\"}]")), "no user or assistant message");
    fails(() -> row("{\"conversation\": []}"), "no \"messages\"", "conversation");
  }

  @Test
  void trainingNeedsAFinalAnswer() {
    SwiftTemplate t = swift("qwen", "qwen3");
    fails(() -> t.encode(messages("[{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"assistant\", \"content\": \"b\"}, "
        + "{\"role\": \"user\", \"content\": \"c\"}]")), "ends with a user turn", "message 2", "assistant response");
    fails(() -> t.encode(messages("[{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"tool_call\", \"content\": "
        + "\"{\\\"name\\\": \\\"f\\\", \\\"arguments\\\": {}}\"}, {\"role\": \"tool\", \"content\": \"42\"}]")), "ends with tool results", "message 2");
    // The same rows are fine prompts.
    t.encodePrompt(messages("[{\"role\": \"user\", \"content\": \"a\"}]"));
  }

  @Test
  void unknownTemplateListsTheKnownOnesAndGuessesTheSpelling() {
    fails(() -> Templates.meta("qwen2.5"), "unknown template 'qwen2.5'", "did you mean 'qwen2_5'", "llama3", "jinja");
    fails(() -> Templates.meta("gpt4"), "unknown template 'gpt4'", "chatml");
    fails(() -> Templates.meta("jinja"), "renders the model's chat template");
    fails(() -> Templates.create("jinja", tokenizer("qwen3"), TemplateOptions.DEFAULT), "needs the model's chat template");
  }

  @Test
  void structuralMistakesNameTheMessage() {
    SwiftTemplate t = swift("qwen", "qwen3");
    fails(() -> t.encode(messages("[{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"system\", \"content\": \"s\"}, "
        + "{\"role\": \"assistant\", \"content\": \"b\"}]")), "message 1 is a system message", "first");
    fails(() -> t.encode(messages("[{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"tool\", \"content\": \"r\"}, "
        + "{\"role\": \"assistant\", \"content\": \"b\"}]")), "message 1 (tool_response)", "must follow an assistant turn");
    fails(() -> t.encode(messages("[{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"tool_call\", \"content\": \"get_time(Oslo)\"}, "
        + "{\"role\": \"tool\", \"content\": \"r\"}, {\"role\": \"assistant\", \"content\": \"b\"}]")), "message 1 (tool_call)", "not JSON");
    fails(() -> t.encode(messages("[{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"tool_call\", \"content\": \"{\\\"arguments\\\": {}}\"}, "
        + "{\"role\": \"tool\", \"content\": \"r\"}, {\"role\": \"assistant\", \"content\": \"b\"}]")), "message 1 (tool_call)", "\"name\"");
    fails(() -> t.encode(messages("[{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"assistant\", \"content\": \"b\"}, "
        + "{\"role\": \"tool\", \"content\": \"r\"}, {\"role\": \"user\", \"content\": \"c\"}, {\"role\": \"assistant\", \"content\": \"d\"}]")),
        "message 3 (user) follows tool results");
  }

  @Test
  void fieldMistakesNameTheField() {
    fails(() -> messages("[{\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"a\"}]}]"), "message 0 (user)", "list of parts");
    fails(() -> messages("[{\"role\": \"user\", \"content\": 3}]"), "message 0 (user)", "content must be a string");
    fails(() -> messages("[{\"role\": \"user\", \"content\": \"a\", \"loss\": false}]"), "message 0 (user)", "assistant messages only");
    fails(() -> messages("[{\"role\": \"user\"}]"), "message 0 (user) has no \"content\"");
    fails(() -> messages("[{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"assistant\", \"content\": \"b\", \"loss\": \"yes\"}]"),
        "message 1 (assistant)", "\"loss\" must be true, false or a number");
    fails(() -> row("{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}], \"tools\": \"[{not json\"}"), "\"tools\" is a string that is not JSON");
    fails(() -> row("{\"system\": \"s\", \"messages\": [{\"role\": \"system\", \"content\": \"t\"}]}"), "both a \"system\" field");
  }

  @Test
  void toolsNeedWhatTheirPromptPrints() {
    Conversation noDescription = row("{\"tools\": [{\"name\": \"f\"}], \"messages\": [{\"role\": \"user\", \"content\": \"a\"}]}");
    fails(() -> swift("chatml", "qwen3").encodePrompt(noDescription), "tools[0] ('f') has no \"description\"");
  }

  @Test
  void aSystemPromptNeedsATemplateWithAPlaceForIt() {
    TemplateMeta bare = TemplateMeta.builder("bare").prompt("Q: {{QUERY}}\nA: ").chatSep("\n").suffix("\n").build();
    SwiftTemplate t = new SwiftTemplate(bare, tokenizer("qwen3"), TemplateOptions.DEFAULT);
    fails(() -> t.encode(messages("[{\"role\": \"system\", \"content\": \"s\"}, {\"role\": \"user\", \"content\": \"a\"}, "
        + "{\"role\": \"assistant\", \"content\": \"b\"}]")), "template 'bare' has no system prompt");
    fails(() -> new SwiftTemplate(bare, tokenizer("qwen3"), TemplateOptions.DEFAULT.withSystem("s")), "has no system prompt");
    fails(() -> TemplateMeta.builder("x").prompt("no query here").suffix("").build(), "the prompt has no {{QUERY}}");
    TemplateMeta single = TemplateMeta.builder("single").prompt("{{QUERY}}").noChatSep().suffix("").build();
    fails(() -> new SwiftTemplate(single, tokenizer("qwen3"), TemplateOptions.DEFAULT).encode(messages(
        "[{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"assistant\", \"content\": \"b\"}, "
            + "{\"role\": \"user\", \"content\": \"c\"}, {\"role\": \"assistant\", \"content\": \"d\"}]")), "no multi-turn format", "2 rounds");
  }

  @Test
  void unknownSettingsListWhatIsAccepted() {
    fails(() -> LossScale.parse("everything"), "unknown loss_scale 'everything'", "default, last_round, all, react");
    fails(() -> LossScale.parse("agentflan"), "not supported by jswift yet");
    fails(() -> swift("qwen", "qwen3", TemplateOptions.DEFAULT.withAgentTemplate("glm4")), "unknown agent template 'glm4'", "hermes");
    fails(() -> new Conversation(List.of(Message.user("a")), List.of(TemplateTestSupport.JSON.valueToTree("f"))), "tools[0] must be a JSON object");
  }
}
