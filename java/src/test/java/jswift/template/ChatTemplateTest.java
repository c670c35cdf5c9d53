package jswift.template;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Map;
import jswift.template.jinja.TemplateException;
import jswift.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The real Qwen3 and Llama 3 chat templates against transformers' renders of the same conversation
 * (fixtures/chat-templates: the *.hf.txt goldens come from transformers 5.17.0 itself; the other
 * variants from generate.py, whose environment reproduces those goldens byte for byte).
 */
class ChatTemplateTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  private static Path chatFixture(String name) {
    return Fixtures.resource("chat-templates/" + name);
  }

  private static String text(String name) throws IOException {
    return Files.readString(chatFixture(name), StandardCharsets.UTF_8);
  }

  private static List<Map<String, Object>> conversation(String key) throws IOException {
    JsonNode conv = JSON.readTree(chatFixture("conversation.json").toFile());
    return JSON.convertValue(conv.get(key), new TypeReference<>() {});
  }

  private static ChatTemplate model(String name) throws IOException {
    return ChatTemplate.load(Fixtures.resource("tokenizers/" + name));
  }

  @Test
  void qwen3MatchesTransformersByteForByte() throws IOException {
    String out = model("qwen3").render(conversation("messages"), conversation("tools"), true, Map.of());
    assertEquals(text("chat_qwen3.hf.txt"), out);
  }

  @Test
  void llama3MatchesTransformersByteForByte() throws IOException {
    String out = model("llama3").render(conversation("messages"), conversation("tools"), true, Map.of());
    assertEquals(text("chat_llama3.hf.txt"), out);
  }

  @Test
  void qwen3WithoutGenerationPrompt() throws IOException {
    String out = model("qwen3").render(conversation("messages"), conversation("tools"), false, Map.of());
    assertEquals(text("chat_qwen3.no-generation-prompt.txt"), out);
  }

  @Test
  void qwen3WithThinkingDisabled() throws IOException {
    String out = model("qwen3").render(conversation("messages"), conversation("tools"), true, Map.of("enable_thinking", false));
    assertEquals(text("chat_qwen3.no-thinking.txt"), out);
    assertTrue(out.endsWith("<|im_start|>assistant\n<think>\n\n</think>\n\n"));
  }

  @Test
  void qwen3WithoutTools() throws IOException {
    String out = model("qwen3").render(conversation("messages"), true);
    assertEquals(text("chat_qwen3.no-tools.txt"), out);
  }

  @Test
  void llama3WithoutGenerationPrompt() throws IOException {
    // This Llama 3 template ignores add_generation_prompt: the file equals the golden.
    String out = model("llama3").render(conversation("messages"), conversation("tools"), false, Map.of());
    assertEquals(text("chat_llama3.no-generation-prompt.txt"), out);
  }

  @Test
  void specialTokensComeFromTheConfig() throws IOException {
    assertEquals(Map.of("eos_token", "<|im_end|>", "pad_token", "<|endoftext|>"), model("qwen3").specialTokens());
    assertEquals(Map.of("bos_token", "<|begin_of_text|>", "eos_token", "<|end_of_text|>"), model("llama3").specialTokens());
  }

  @Test
  void tokenObjectsAndTemplateListsAreReadAsTransformersDoes() throws IOException {
    JsonNode config = JSON.readTree("""
        {"bos_token": {"content": "<s>", "lstrip": false}, "eos_token": "</s>", "unk_token": null,
         "chat_template": [
           {"name": "default", "template": "D{{ bos_token }}{{ messages[0].content }}{{ eos_token }}"},
           {"name": "tool_use", "template": "T{{ tools | length }}{{ unk_token is defined }}"}]}
        """);
    ChatTemplate t = ChatTemplate.fromTokenizerConfig(config, "test config");
    List<Map<String, Object>> msgs = List.of(Map.of("role", "user", "content", "hi"));
    assertEquals("D<s>hi</s>", t.render(msgs, false));
    assertEquals("T1False", t.render(msgs, List.of(Map.of("type", "function")), false, Map.of()));
    assertEquals("D<s>hi</s>", t.render("default", msgs, List.of(Map.of()), false, Map.of()));
  }

  @Test
  void aTemplateListWithoutDefaultNeedsAName() throws IOException {
    JsonNode config = JSON.readTree("{\"chat_template\": [{\"name\": \"rag\", \"template\": \"x\"}]}");
    ChatTemplate t = ChatTemplate.fromTokenizerConfig(config, "cfg");
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> t.render(List.of(), false));
    assertTrue(e.getMessage().contains("[rag]"), e.getMessage());
    assertEquals("x", t.render("rag", List.of(), null, false, Map.of()));
  }

  @Test
  void aModelWithoutTemplateIsRefused(@TempDir Path dir) throws IOException {
    Files.writeString(dir.resolve("tokenizer_config.json"), "{\"bos_token\": \"<s>\"}");
    IOException e = assertThrows(IOException.class, () -> ChatTemplate.load(dir));
    assertTrue(e.getMessage().contains("no chat_template"), e.getMessage());
  }

  @Test
  void chatTemplateJinjaFileWinsOverTheConfig(@TempDir Path dir) throws IOException {
    Files.writeString(dir.resolve("tokenizer_config.json"), "{\"eos_token\": \"E\", \"chat_template\": \"config\"}");
    Files.writeString(dir.resolve("chat_template.jinja"), "file {{ eos_token }}\n");
    assertEquals("file E", ChatTemplate.load(dir).render(List.of(), false));
  }

  @Test
  void raiseExceptionAbortsWithTheTemplatesMessage() {
    ChatTemplate t = ChatTemplate.of("{% if messages[0].role != 'user' %}{{ raise_exception('Conversation roles must alternate') }}{% endif %}ok", Map.of());
    TemplateException e = assertThrows(TemplateException.class,
        () -> t.render(List.of(Map.of("role", "assistant", "content", "x")), false));
    assertEquals(TemplateException.Kind.RAISED, e.kind());
    assertEquals("Conversation roles must alternate", e.detail());
    assertEquals(1, e.line());
    assertEquals("ok", t.render(List.of(Map.of("role", "user", "content", "x")), false));
  }

  @Test
  void strftimeNowUsesTheGivenClock() {
    Clock clock = Clock.fixed(Instant.parse("2024-07-05T21:03:09Z"), ZoneOffset.UTC);
    ChatTemplate t = ChatTemplate.of("{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%-d %B %y, %A %I:%M:%S %p %j') }}", Map.of())
        .withClock(clock);
    assertEquals("05 Jul 2024|5 July 24, Friday 09:03:09 PM 187", t.render(List.of(), false));
  }

  @Test
  void kwargsMayNotReplaceTheCallsOwnVariables() {
    ChatTemplate t = ChatTemplate.of("x", Map.of());
    assertThrows(IllegalArgumentException.class, () -> t.render(List.of(), null, false, Map.of("messages", List.of())));
  }

  @Test
  void aBrokenTemplateIsReportedWithItsSource() {
    TemplateException e = assertThrows(TemplateException.class, () -> ChatTemplate.of("{% if x %}", Map.of()));
    assertEquals(TemplateException.Kind.SYNTAX, e.kind());
    assertTrue(e.getMessage().contains("chat template: unexpected end of template"), e.getMessage());
  }
}
