package jswift.infer;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.junit.jupiter.api.Test;

/** The stop-string bookkeeping of streamed answers (the server tests run it end to end). */
class ChatCompletionTest {
  @Test
  void holdsBackWhatCouldStillBecomeAStopString() {
    List<String> stops = List.of("<|im_end|>", "\n\nUser:");
    assertEquals(0, ChatCompletion.heldBack("Hello there", stops));
    assertEquals(1, ChatCompletion.heldBack("Hello <", stops));
    assertEquals(4, ChatCompletion.heldBack("Hello <|im", stops));
    assertEquals(10, ChatCompletion.heldBack("Hello <|im_end|>", stops), "a whole stop string is held back too");
    assertEquals(2, ChatCompletion.heldBack("Hi\n\n", stops));
    assertEquals(3, ChatCompletion.heldBack("Hi\n\nU", stops));
    assertEquals(0, ChatCompletion.heldBack("Hi\n\nX", stops));
    assertEquals(0, ChatCompletion.heldBack("", stops));
    assertEquals(0, ChatCompletion.heldBack("abc", List.of()));
  }

  /**
   * As ms-swift's Template.decode: the stop token that ended the answer is dropped, any other special token stays in
   * the text (an answer may use a token the run added with --new_special_tokens).
   */
  @Test
  void keepsSpecialTokensInsideTheAnswerAndDropsTheStopToken(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
      throws java.io.IOException {
    jswift.tokenizer.Tokenizer t = jswift.tokenizer.Tokenizer.load(jswift.testing.Fixtures.tinyChatModel(dir.resolve("m")));
    int start = t.specialTokenId("<s>"), end = t.specialTokenId("</s>");
    int[] hi = t.encode("Hi", false), there = t.encode(" there", false);
    int[] answer = new int[hi.length + 1 + there.length + 1];
    System.arraycopy(hi, 0, answer, 0, hi.length);
    answer[hi.length] = start;
    System.arraycopy(there, 0, answer, hi.length + 1, there.length);
    answer[answer.length - 1] = end;
    GenerationConfig cfg = GenerationConfig.greedy(16, List.of(end)).withStopStrings(List.of("</s>"));
    int[] body = java.util.Arrays.copyOf(answer, answer.length - 1);
    String text = ChatCompletion.answerText(t, answer, cfg);
    assertEquals(t.decode(body, false), text);
    org.junit.jupiter.api.Assertions.assertTrue(text.contains("<s>") && !text.contains("</s>"), text);
    // cut by the length limit, with no stop token: nothing dropped
    assertEquals(text, ChatCompletion.answerText(t, body, cfg));
  }

  @Test
  void removesTheStopStringTheAnswerEndsWith() {
    assertEquals("Hello", ChatCompletion.withoutStop("Hello<|im_end|>", List.of("<|im_end|>", "end|>")));
    assertEquals("Hello <|im", ChatCompletion.withoutStop("Hello <|im", List.of("<|im_end|>")));
    assertEquals("a", ChatCompletion.withoutStop("a\n", List.of("\n", "")));
  }
}
