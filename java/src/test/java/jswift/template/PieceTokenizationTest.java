package jswift.template;

import static jswift.template.TemplateTestSupport.decode;
import static jswift.template.TemplateTestSupport.fixtureConversation;
import static jswift.template.TemplateTestSupport.labelledSpans;
import static jswift.template.TemplateTestSupport.plus;
import static jswift.template.TemplateTestSupport.row;
import static jswift.template.TemplateTestSupport.swift;
import static jswift.template.TemplateTestSupport.tokenizer;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.util.List;
import jswift.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;

/**
 * Rows are tokenized span by span (a span = adjacent pieces of one loss weight), not in one go. In the usual
 * layouts a span boundary sits next to a special token or after a newline the next span does not continue, so
 * the ids equal those of tokenizing the whole text at once; where a response itself starts with whitespace that
 * the tokenizer would have merged with the prompt's last newline, they legitimately differ: the span keeps the
 * response's tokens its own, which is what ms-swift trains on too.
 */
class PieceTokenizationTest {
  private static void assertOneGo(String tokenizerName, int[] ids) {
    Tokenizer t = tokenizer(tokenizerName);
    assertArrayEquals(t.encode(decode(t, ids)), ids);
  }

  @Test
  void ordinaryRowsTokenizeAsTheirWholeText() {
    Conversation answered = plus(fixtureConversation(), Message.assistant("Tokyo: 18 °C, cloudy."));
    assertOneGo("qwen3", swift("qwen3", "qwen3").encode(answered).inputIds());
    assertOneGo("qwen3", swift("qwen3", "qwen3", TemplateOptions.DEFAULT.withLossScale(LossScale.LAST_ROUND)).encode(answered).inputIds());
    assertOneGo("qwen3", swift("qwen3", "qwen3", TemplateOptions.DEFAULT.withLossScale(LossScale.parse("ignore_empty_think")))
        .encode(answered).inputIds());
    assertOneGo("qwen3", swift("qwen3", "qwen3").encodePrompt(answered).inputIds());
    Conversation chat = row("""
        {"messages": [{"role": "system", "content": "Réponds brièvement."},
                      {"role": "user", "content": "  spaces around  "}, {"role": "assistant", "content": "Noted — 😊 trailing space "},
                      {"role": "user", "content": "código\\n\\nnuevo"}, {"role": "assistant", "content": "print('hola')\\n"}]}""");
    for (String name : List.of("qwen2_5", "chatml", "qwen3")) assertOneGo("qwen3", swift(name, "qwen3").encode(chat).inputIds());
    for (String name : List.of("llama3", "llama3_2")) assertOneGo("llama3", swift(name, "llama3").encode(chat).inputIds());
  }

  @Test
  void aResponseStartingWithANewlineKeepsItsOwnTokens() {
    Conversation c = row("{\"messages\": [{\"role\": \"user\", \"content\": \"Code?\"}, {\"role\": \"assistant\", \"content\": \"\\nx = 1\"}]}");
    for (String[] tt : new String[][] {{"llama3", "llama3"}, {"qwen2_5", "qwen3"}}) {
      Tokenizer t = tokenizer(tt[1]);
      Encoded e = swift(tt[0], tt[1]).encode(c);
      String text = decode(t, e.inputIds());
      // One go, the prompt's last newline(s) and the response's first merge into one token ...
      assertFalse(java.util.Arrays.equals(t.encode(text), e.inputIds()), tt[0]);
      assertEquals(text, decode(t, t.encode(text)));
      // ... span by span, the trained tokens are exactly the response and its end.
      String end = tt[0].equals("llama3") ? "<|eot_id|>" : "<|im_end|>\n";
      assertEquals(List.of("\nx = 1" + end), labelledSpans(t, e), tt[0]);
    }
  }

  @Test
  void dynamicEosLabelsTheSuffixOpeningEachUntrainedStretch() {
    int[] suffix = {9, 8};
    int I = Encoded.IGNORE;
    // trained | 9 8 untrained ... | trained | 9 8 at the very end
    int[] ids = {1, 5, 6, 9, 8, 2, 3, 7, 9, 8};
    int[] labels = {I, 5, 6, I, I, I, I, 7, I, I};
    float[] w = {0, 1, 1, 0, 0, 0, 0, 1, 0, 0};
    PieceTokenizer.addDynamicEos(ids, labels, w, suffix);
    assertArrayEquals(new int[] {I, 5, 6, 9, 8, I, I, 7, 9, 8}, labels);
    assertArrayEquals(new float[] {0, 1, 1, 1, 1, 0, 0, 1, 1, 1}, w);

    // A stretch that does not start with the suffix, or is shorter than it, stays untrained.
    int[] ids2 = {1, 5, 8, 9, 2, 7, 9};
    int[] labels2 = {I, 5, I, I, I, 7, I};
    PieceTokenizer.addDynamicEos(ids2, labels2, new float[7], suffix);
    assertArrayEquals(new int[] {I, 5, I, I, I, 7, I}, labels2);
  }
}
