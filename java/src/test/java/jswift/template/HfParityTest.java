package jswift.template;

import static jswift.template.TemplateTestSupport.chatTemplate;
import static jswift.template.TemplateTestSupport.decode;
import static jswift.template.TemplateTestSupport.fixtureConversation;
import static jswift.template.TemplateTestSupport.plus;
import static jswift.template.TemplateTestSupport.row;
import static jswift.template.TemplateTestSupport.swift;
import static jswift.template.TemplateTestSupport.tokenizer;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import jswift.testing.Fixtures;
import jswift.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;

/**
 * Each built-in template against what the model's own Hugging Face chat template renders (the Qwen3 and Llama 3
 * templates of fixtures/tokenizers, rendered by {@link ChatTemplate}, itself checked byte for byte against
 * transformers). The encoded ids are decoded back to text, which for these byte-level BPE tokenizers is exact.
 * Where ms-swift's layout and the chat template disagree by design, the test says so and checks the difference.
 */
class HfParityTest {
  private static String golden(String name) throws IOException {
    return Files.readString(Fixtures.resource("chat-templates/" + name), StandardCharsets.UTF_8);
  }

  private static String hf(String model, Conversation c, boolean generationPrompt, Map<String, ?> kwargs) {
    return chatTemplate(model).render(JinjaTemplate.hfMessages(c.messages()), JinjaTemplate.hfTools(c), generationPrompt, kwargs);
  }

  private static Conversation withSystem(String system, Conversation c) {
    List<Message> m = new ArrayList<>();
    m.add(Message.system(system));
    m.addAll(c.messages());
    return new Conversation(m, c.tools());
  }

  // ---- qwen3 -------------------------------------------------------------------------------------------

  @Test
  void qwen3PromptIsTransformersGoldenWithToolsAndHistory() throws IOException {
    // The golden is transformers' own output. History reasoning is dropped at inference by both (ms-swift's
    // rule and the template's last_query_index logic); tool calls and results use the same hermes text.
    Tokenizer t = tokenizer("qwen3");
    GenerationPrompt p = swift("qwen3", "qwen3").encodePrompt(fixtureConversation());
    assertEquals(golden("chat_qwen3.hf.txt"), decode(t, p.inputIds()));
    assertArrayEquals(t.encode(golden("chat_qwen3.hf.txt")), p.inputIds());
  }

  @Test
  void qwen3PromptWithThinkingDisabledAndWithoutTools() throws IOException {
    Tokenizer t = tokenizer("qwen3");
    SwiftTemplate noThink = swift("qwen3", "qwen3", TemplateOptions.DEFAULT.withEnableThinking(false));
    assertEquals(golden("chat_qwen3.no-thinking.txt"), decode(t, noThink.encodePrompt(fixtureConversation()).inputIds()));
    Conversation noTools = new Conversation(fixtureConversation().messages(), List.of());
    assertEquals(golden("chat_qwen3.no-tools.txt"), decode(t, swift("qwen3", "qwen3").encodePrompt(noTools).inputIds()));
  }

  @Test
  void qwen3TrainingRowWithLastRoundIsTheChatTemplatesRender() {
    // With loss_scale last_round, ms-swift drops the reasoning of turns before the last user message (the
    // model never sees it later) and gives the final answer the empty reasoning block: exactly how the chat
    // template renders a finished conversation (add_generation_prompt=False).
    Conversation c = plus(fixtureConversation(), Message.assistant("Tokyo: 18 °C, cloudy."));
    SwiftTemplate lastRound = swift("qwen3", "qwen3", TemplateOptions.DEFAULT.withLossScale(LossScale.LAST_ROUND));
    Encoded e = lastRound.encode(c);
    String hf = hf("qwen3", c, false, Map.of());
    assertEquals(hf, decode(tokenizer("qwen3"), e.inputIds()));
    assertTrue(hf.endsWith("<|im_start|>assistant\n<think>\n\n</think>\n\nTokyo: 18 °C, cloudy.<|im_end|>\n"));
  }

  @Test
  void qwen3TrainingRowWithDefaultLossScaleKeepsHistoryReasoningUnlikeTheChatTemplate() {
    // With the default loss_scale every assistant turn is trained on, so ms-swift keeps each turn's reasoning
    // and gives turns written without one the non-thinking prefix; the chat template shows history turns bare.
    // Removing those two additions gives the chat template's text back.
    Conversation c = plus(fixtureConversation(), Message.assistant("Tokyo: 18 °C, cloudy."));
    String swiftText = decode(tokenizer("qwen3"), swift("qwen3", "qwen3").encode(c).inputIds());
    String hf = hf("qwen3", c, false, Map.of());
    assertNotEquals(hf, swiftText);
    String empty = "<think>\n\n</think>\n\n";
    String history = "<think>\nUser asks about Tokyo.\n</think>\n\n";
    assertTrue(swiftText.contains("<|im_start|>assistant\n" + empty + "<tool_call>"));
    assertTrue(swiftText.contains("<|im_start|>assistant\n" + empty + "It is 21 °C"));
    assertTrue(swiftText.contains("<|im_start|>assistant\n" + history + "I would need"));
    String stripped = swiftText.replace("assistant\n" + empty + "<tool_call>", "assistant\n<tool_call>")
        .replace("assistant\n" + empty + "It is", "assistant\nIt is").replace("assistant\n" + history, "assistant\n");
    assertEquals(hf, stripped);
  }

  // ---- chatml, qwen, qwen2_5 (ChatML; compared with the Qwen3 chat template, which renders ChatML) --------

  @Test
  void chatmlFamilyPromptsMatchTheQwenChatTemplate() {
    Conversation c = row("""
        {"messages": [{"role": "user", "content": "Bonjour, ça va ?"}, {"role": "assistant", "content": "Oui, merci."},
                      {"role": "user", "content": "Et toi ?"}]}""");
    Tokenizer t = tokenizer("qwen3");
    // chatml has no default system; qwen and qwen2_5 add theirs, which the chat template shows when given it.
    assertEquals(hf("qwen3", c, true, Map.of()), decode(t, swift("chatml", "qwen3").encodePrompt(c).inputIds()));
    assertEquals(hf("qwen3", withSystem("You are a helpful assistant.", c), true, Map.of()),
        decode(t, swift("qwen", "qwen3").encodePrompt(c).inputIds()));
    assertEquals(hf("qwen3", withSystem("You are Qwen, created by Alibaba Cloud. You are a helpful assistant.", c), true, Map.of()),
        decode(t, swift("qwen2_5", "qwen3").encodePrompt(c).inputIds()));
    // A system message in the row replaces the default.
    Conversation sys = withSystem("Réponds en français.", c);
    assertEquals(hf("qwen3", sys, true, Map.of()), decode(t, swift("qwen2_5", "qwen3").encodePrompt(sys).inputIds()));
  }

  @Test
  void chatmlFamilyTrainingRowsMatchTheQwenChatTemplate() {
    // The Qwen3 chat template wraps the last answer in a reasoning block; an answer that has one renders verbatim,
    // which is what a plain ChatML template writes.
    Conversation c = row("""
        {"messages": [{"role": "system", "content": "Be brief."},
                      {"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"},
                      {"role": "user", "content": "And 3+3?"},
                      {"role": "assistant", "content": "<think>\\nAdd.\\n</think>\\n\\n6"}]}""");
    Tokenizer t = tokenizer("qwen3");
    String hf = hf("qwen3", c, false, Map.of());
    for (String name : List.of("chatml", "qwen", "qwen2_5", "qwen3_nothinking"))
      assertEquals(hf, decode(t, swift(name, "qwen3").encode(c).inputIds()), name);
  }

  @Test
  void qwen2_5HermesToolsMatchTheQwenChatTemplate() {
    // Qwen2.5's tool format is Qwen3's: the default system, then the # Tools section; calls and results as in Qwen3.
    Conversation c = new Conversation(fixtureConversation().messages().subList(1, 5), fixtureConversation().tools());
    Tokenizer t = tokenizer("qwen3");
    String hf = hf("qwen3", withSystem("You are Qwen, created by Alibaba Cloud. You are a helpful assistant.", c), false, Map.of());
    String swiftText = decode(t, swift("qwen2_5", "qwen3").encode(c).inputIds());
    // The chat template wraps the last answer in an empty reasoning block; Qwen2.5 never had one.
    assertEquals(hf.replace("assistant\n<think>\n\n</think>\n\nIt is 21", "assistant\nIt is 21"), swiftText);
  }

  // ---- llama3 --------------------------------------------------------------------------------------------

  @Test
  void llama3PromptMatchesTheLlama3ChatTemplate() {
    // The first Llama-3-8B-Instruct template trims every message; ms-swift writes them as they are. The
    // conversation has no edge whitespace, so both agree.
    Conversation c = row("""
        {"messages": [{"role": "system", "content": "You are a pirate."},
                      {"role": "user", "content": "Where is the treasure?"}, {"role": "assistant", "content": "Arr, on the isle."},
                      {"role": "user", "content": "Which isle? 🏝️"}]}""");
    Tokenizer t = tokenizer("llama3");
    GenerationPrompt p = swift("llama3", "llama3").encodePrompt(c);
    String hf = hf("llama3", c, true, Map.of());
    assertEquals(hf, decode(t, p.inputIds()));
    assertArrayEquals(t.encode(hf), p.inputIds());
  }

  @Test
  void llama3TrainingRowIsTheChatTemplateWithoutItsTrailingHeader() {
    // This Llama 3 template always appends the assistant header (it ignores add_generation_prompt); a training row
    // ends with the answer's <|eot_id|> instead.
    Conversation c = row("""
        {"messages": [{"role": "user", "content": "Name a prime."}, {"role": "assistant", "content": "7"},
                      {"role": "user", "content": "Another?"}, {"role": "assistant", "content": "11"}]}""");
    String hf = hf("llama3", c, false, Map.of());
    String header = "<|start_header_id|>assistant<|end_header_id|>\n\n";
    assertTrue(hf.endsWith("11<|eot_id|>" + header));
    assertEquals(hf.substring(0, hf.length() - header.length()), decode(tokenizer("llama3"), swift("llama3", "llama3").encode(c).inputIds()));
  }

  @Test
  void llama3DiffersWhereTheChatTemplateTrims() {
    Conversation c = row("{\"messages\": [{\"role\": \"user\", \"content\": \"  Please do that.  \"}]}");
    String swiftText = decode(tokenizer("llama3"), swift("llama3", "llama3").encodePrompt(c).inputIds());
    assertTrue(swiftText.contains("\n\n  Please do that.  <|eot_id|>"));
    assertTrue(hf("llama3", c, true, Map.of()).contains("\n\nPlease do that.<|eot_id|>"));
  }

  // ---- jinja -------------------------------------------------------------------------------------------

  @Test
  void jinjaBackendRendersTheModelsTemplateForInferenceOnly() throws IOException {
    Tokenizer t = tokenizer("qwen3");
    ConversationEncoder jinja = Templates.create("jinja", t, chatTemplate("qwen3"), TemplateOptions.DEFAULT);
    GenerationPrompt p = jinja.encodePrompt(fixtureConversation());
    assertArrayEquals(t.encode(golden("chat_qwen3.hf.txt")), p.inputIds());
    assertEquals(List.of(t.specialTokenId("<|im_end|>")), p.stopTokenIds());
    ConversationEncoder noThink = Templates.create("jinja", t, chatTemplate("qwen3"), TemplateOptions.DEFAULT.withEnableThinking(false));
    assertEquals(golden("chat_qwen3.no-thinking.txt"), decode(t, noThink.encodePrompt(fixtureConversation()).inputIds()));
    // A trailing answer is the one to generate: the prompt is the same without it.
    Conversation answered = plus(fixtureConversation(), Message.assistant("Tokyo: 18 °C."));
    assertArrayEquals(p.inputIds(), jinja.encodePrompt(answered).inputIds());
    UnsupportedOperationException e = assertThrows(UnsupportedOperationException.class, () -> jinja.encode(answered));
    assertTrue(e.getMessage().contains("inference-only"), e.getMessage());
  }
}
