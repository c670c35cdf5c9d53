package jswift.template;

import static jswift.template.TemplateTestSupport.decode;
import static jswift.template.TemplateTestSupport.labelledSpans;
import static jswift.template.TemplateTestSupport.row;
import static jswift.template.TemplateTestSupport.swift;
import static jswift.template.TemplateTestSupport.tokenizer;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import jswift.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The registry and the layouts without a chat-template fixture to compare with (Llama 2, Mistral, Llama 3.2):
 * their text is checked against ms-swift's TemplateMeta definitions, written out by hand.
 */
class TemplatesTest {
  private static final Conversation TWO_ROUNDS = row("""
      {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"},
                    {"role": "user", "content": "again"}, {"role": "assistant", "content": "ok"}]}""");

  private static String train(String template, Conversation c) {
    return decode(tokenizer("llama3"), swift(template, "llama3").encode(c).inputIds());
  }

  private static Conversation withSystem(String system) {
    return row("""
        {"messages": [{"role": "system", "content": "%s"}, {"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"},
                      {"role": "user", "content": "again"}, {"role": "assistant", "content": "ok"}]}""".formatted(system));
  }

  @Test
  void everyNameResolves() {
    assertEquals(List.of("chatml", "qwen", "qwen2_5", "qwen3", "qwen3_thinking", "qwen3_nothinking", "qwen3_reranker",
        "llama3", "llama3_2", "llama", "mistral_nemo", "mistral_2501", "jinja"), Templates.names());
    for (String n : Templates.names()) {
      if (!n.equals(Templates.JINJA)) assertEquals(n, Templates.create(n, tokenizer("qwen3"), TemplateOptions.DEFAULT).name());
    }
  }

  @Test
  void llama2Layout() {
    // Llama 2 text uses <s>/</s>, special with a Llama 2 tokenizer; with this one they are plain text, which is
    // enough to check the layout and the labels.
    String sys = Templates.meta("llama").defaultSystem();
    assertTrue(sys.startsWith("You are a helpful, respectful and honest assistant.") && sys.endsWith("don't share false information."));
    assertEquals("<s>[INST] <<SYS>>\n" + sys + "\n<</SYS>>\n\nhi [/INST]yo</s><s>[INST] again [/INST]ok</s>", train("llama", TWO_ROUNDS));
    assertEquals("<s>[INST] hi [/INST]yo</s><s>[INST] again [/INST]ok</s>",
        decode(tokenizer("llama3"), swift("llama", "llama3", TemplateOptions.DEFAULT.withSystem("")).encode(TWO_ROUNDS).inputIds()));
  }

  @Test
  void mistralNemoPutsTheSystemIntoTheLastUserTurn() {
    assertEquals("<s>[INST] hi[/INST]yo</s>[INST] again[/INST]ok</s>", train("mistral_nemo", TWO_ROUNDS));
    assertEquals("<s>[INST] hi[/INST]yo</s>[INST] Be terse.\n\nagain[/INST]ok</s>", train("mistral_nemo", withSystem("Be terse.")));
    // The first answer's "</s>" stays untrained here: for this tokenizer it is plain text, and "</s>[INST]"
    // tokenizes into other pieces than "</s>" alone, so dynamic EOS does not find the suffix. With Mistral's
    // tokenizer "</s>" is one special token and is found (as "<|im_end|>" is in LabelsTest).
    Tokenizer t = tokenizer("llama3");
    assertEquals(List.of("yo", "ok</s>"), labelledSpans(t, swift("mistral_nemo", "llama3").encode(withSystem("Be terse."))));
  }

  @Test
  void mistral2501HasADatedDefaultSystem() {
    String text = train("mistral_2501", TWO_ROUNDS);
    assertTrue(text.startsWith("<s>[SYSTEM_PROMPT]You are Mistral Small 3, a Large Language Model (LLM) created by Mistral AI"), text);
    assertTrue(text.contains("The current date is 2024-07-05."), text);
    assertTrue(text.endsWith("[/SYSTEM_PROMPT][INST]hi[/INST]yo</s>[INST]again[/INST]ok</s>"), text);
  }

  @Test
  void llama3_2AlwaysHasItsDatedSystemHeader() {
    String header = "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\n"
        + "Today Date: 05 Jul 2024\n\n";
    String turns = "<|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nyo<|eot_id|>"
        + "<|start_header_id|>user<|end_header_id|>\n\nagain<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nok<|eot_id|>";
    assertEquals(header + "<|eot_id|>" + turns, train("llama3_2", TWO_ROUNDS));
    assertEquals(header + "Be terse.<|eot_id|>" + turns, train("llama3_2", withSystem("Be terse.")));
  }

  @Test
  void stopWordsAndTheirIds() {
    Tokenizer q = tokenizer("qwen3"), l = tokenizer("llama3");
    GenerationPrompt qp = swift("qwen", "qwen3").encodePrompt(row("{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}"));
    assertEquals(List.of("<|endoftext|>", "<|im_end|>"), qp.stopWords());
    assertEquals(List.of(q.specialTokenId("<|endoftext|>"), q.specialTokenId("<|im_end|>")), qp.stopTokenIds());
    GenerationPrompt lp = swift("llama3", "llama3").encodePrompt(row("{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}"));
    assertEquals(List.of("<|eot_id|>", "<|end_of_text|>"), lp.stopWords());
    assertEquals(List.of(l.specialTokenId("<|eot_id|>"), l.specialTokenId("<|end_of_text|>")), lp.stopTokenIds());
  }

  @Test
  void placeholdersInUserTextStayAsTyped() {
    Tokenizer t = tokenizer("qwen3");
    Conversation c = row("""
        {"messages": [{"role": "system", "content": "Echo {{QUERY}}"}, {"role": "user", "content": "say {{SYSTEM}} {{ROUND0}}"},
                      {"role": "assistant", "content": "{{RESPONSE}}"}]}""");
    assertEquals("<|im_start|>system\nEcho {{QUERY}}<|im_end|>\n<|im_start|>user\nsay {{SYSTEM}} {{ROUND0}}<|im_end|>\n"
        + "<|im_start|>assistant\n{{RESPONSE}}<|im_end|>\n", decode(t, swift("chatml", "qwen3").encode(c).inputIds()));
    assertEquals("x {{a {{SYSTEM}}", Placeholders.fill("x {{a {{SYSTEM}}", java.util.Map.of()));
    assertEquals("x {{a S", Placeholders.fill("x {{a {{SYSTEM}}", "{{SYSTEM}}", "S"));
  }

  @Test
  void consecutiveMessagesOfOneRoleAreMerged() {
    Tokenizer t = tokenizer("qwen3");
    Conversation c = row("""
        {"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"},
                      {"role": "assistant", "content": "c"}, {"role": "assistant", "content": "d"}]}""");
    Encoded e = swift("chatml", "qwen3").encode(c);
    assertEquals("<|im_start|>user\nab<|im_end|>\n<|im_start|>assistant\ncd<|im_end|>\n", decode(t, e.inputIds()));
    assertEquals(List.of("cd<|im_end|>\n"), labelledSpans(t, e));
  }

  /**
   * A word-level tokenizer whose post-processor wraps text in {@code <s> ... </s>}: auto_add_bos then starts a
   * row with the bos and ends a training row with the eos instead of the template's suffix (ms-swift's sep).
   */
  @Test
  void autoAddBosUsesWhatThePostProcessorAdds(@TempDir Path dir) throws IOException {
    Files.writeString(dir.resolve("tokenizer.json"), """
        {"version": "1.0", "truncation": null, "padding": null,
         "added_tokens": [
           {"id": 0, "content": "<s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
           {"id": 1, "content": "</s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}],
         "normalizer": null, "pre_tokenizer": {"type": "Whitespace"},
         "post_processor": {"type": "TemplateProcessing",
           "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                      {"SpecialToken": {"id": "</s>", "type_id": 0}}],
           "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
           "special_tokens": {"<s>": {"id": "<s>", "ids": [0], "tokens": ["<s>"]}, "</s>": {"id": "</s>", "ids": [1], "tokens": ["</s>"]}}},
         "decoder": null,
         "model": {"type": "WordLevel", "vocab": {"<s>": 0, "</s>": 1, "<unk>": 2, "a": 3, "Q": 4, "A": 5, "hi": 6, "yo": 7, ":": 8, "E": 9},
                   "unk_token": "<unk>"}}""");
    try (Tokenizer tok = Tokenizer.load(dir)) {
      TemplateMeta meta = TemplateMeta.builder("tiny").prompt("Q : {{QUERY}} A :").chatSep(" ").suffix("E").autoAddBos(true).build();
      SwiftTemplate t = new SwiftTemplate(meta, tok, TemplateOptions.DEFAULT);
      Conversation c = Conversation.of(Message.user("hi"), Message.assistant("yo"));
      Encoded e = t.encode(c);
      int I = Encoded.IGNORE;
      assertArrayEquals(new int[] {0, 4, 8, 6, 5, 8, 7, 1}, e.inputIds());  // <s> Q : hi A : yo </s>, no "E" suffix
      assertArrayEquals(new int[] {I, I, I, I, I, I, 7, 1}, e.labels());
      assertArrayEquals(new int[] {0, 4, 8, 6, 5, 8}, t.encodePrompt(c).inputIds());  // no </s> after a prompt
      assertFalse(t.stopWords().isEmpty());
    }
  }
}
