package jswift.template;

import static jswift.template.TemplateTestSupport.decode;
import static jswift.template.TemplateTestSupport.labelledSpans;
import static jswift.template.TemplateTestSupport.row;
import static jswift.template.TemplateTestSupport.swift;
import static jswift.template.TemplateTestSupport.tokenizer;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import jswift.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;

/** The reasoning rules of the qwen3 templates: non-thinking prefix, history reasoning, response prefixes. */
class ThinkingTest {
  private static final Conversation TWO_TURNS = row("""
      {"messages": [{"role": "user", "content": "A?"},
                    {"role": "assistant", "content": "<think>\\nabout A\\n</think>\\n\\n  a  "},
                    {"role": "user", "content": "B?"}, {"role": "assistant", "content": "b"}]}""");

  private static String text(SwiftTemplate t, Conversation c, boolean training) {
    Tokenizer tok = tokenizer("qwen3");
    return decode(tok, training ? t.encode(c).inputIds() : t.encodePrompt(c).inputIds());
  }

  @Test
  void defaultTrainingKeepsEveryTurnsReasoning() {
    assertEquals("<|im_start|>user\nA?<|im_end|>\n<|im_start|>assistant\n<think>\nabout A\n</think>\n\n  a  <|im_end|>\n"
        + "<|im_start|>user\nB?<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\nb<|im_end|>\n",
        text(swift("qwen3", "qwen3"), TWO_TURNS, true));
  }

  @Test
  void lastRoundAndInferenceDropEarlierReasoning() {
    // Everything up to the last </think> goes and the rest is stripped (Python's split(...)[-1].strip()).
    String history = "<|im_start|>user\nA?<|im_end|>\n<|im_start|>assistant\na<|im_end|>\n<|im_start|>user\nB?<|im_end|>\n"
        + "<|im_start|>assistant\n";
    assertEquals(history + "<think>\n\n</think>\n\nb<|im_end|>\n",
        text(swift("qwen3", "qwen3", TemplateOptions.DEFAULT.withLossScale(LossScale.LAST_ROUND)), TWO_TURNS, true));
    assertEquals(history, text(swift("qwen3", "qwen3"), TWO_TURNS, false));
  }

  @Test
  void responsePrefixesAtInference() {
    Conversation q = row("{\"messages\": [{\"role\": \"user\", \"content\": \"Q\"}]}");
    String prompt = "<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n";
    assertEquals(prompt, text(swift("qwen3", "qwen3"), q, false));  // the hybrid model decides, as its chat template lets it
    assertEquals(prompt + "<think>\n\n</think>\n\n", text(swift("qwen3", "qwen3", TemplateOptions.DEFAULT.withEnableThinking(false)), q, false));
    // qwen3 has no thinking prefix of its own (ms-swift's choice): thinking on leaves the prompt as is.
    assertEquals(prompt, text(swift("qwen3", "qwen3", TemplateOptions.DEFAULT.withEnableThinking(true)), q, false));
    assertEquals(prompt + "<think>\n", text(swift("qwen3_thinking", "qwen3"), q, false));
    assertEquals(prompt + "Sure", text(swift("qwen3", "qwen3",
        TemplateOptions.DEFAULT.withEnableThinking(false).withResponsePrefix("Sure")), q, false));
  }

  @Test
  void theNonThinkingPrefixCanBeTurnedOff() {
    SwiftTemplate t = swift("qwen3", "qwen3", TemplateOptions.DEFAULT.withAddNonThinkingPrefix(false));
    assertTrue(text(t, TWO_TURNS, true).endsWith("<|im_start|>assistant\nb<|im_end|>\n"));
  }

  @Test
  void aToolCallAfterTheLastUserTurnGetsThePrefixAtInference() {
    // ms-swift adds the prefix to every turn after the last user message; Qwen3's chat template writes a tool-call
    // turn in the middle of such a run without one. jswift follows ms-swift, so prompts built from such agent loops
    // differ from the chat template's by this block.
    Conversation loop = row("""
        {"messages": [{"role": "user", "content": "Time?"},
          {"role": "tool_call", "content": "{\\"name\\": \\"now\\", \\"arguments\\": {}}"}, {"role": "tool", "content": "noon"}]}""");
    String text = text(swift("qwen3", "qwen3"), loop, false);
    assertTrue(text.contains("<|im_start|>assistant\n<think>\n\n</think>\n\n<tool_call>"), text);
    String hf = TemplateTestSupport.chatTemplate("qwen3").render(JinjaTemplate.hfMessages(loop.messages()), null, true, java.util.Map.of());
    assertEquals(hf, text.replace("<think>\n\n</think>\n\n<tool_call>", "<tool_call>"));
  }

  @Test
  void qwen3ThinkingTrainsOnTheReasoningAsWritten() {
    Tokenizer t = tokenizer("qwen3");
    Encoded e = swift("qwen3_thinking", "qwen3").encode(TWO_TURNS);
    // No non-thinking prefix for a model that always reasons; reasoning of history turns kept (default strategy).
    assertEquals(List.of("<think>\nabout A\n</think>\n\n  a  <|im_end|>\n", "b<|im_end|>\n"), labelledSpans(t, e));
  }
}
