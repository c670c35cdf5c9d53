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

  @Test
  void removesTheStopStringTheAnswerEndsWith() {
    assertEquals("Hello", ChatCompletion.withoutStop("Hello<|im_end|>", List.of("<|im_end|>", "end|>")));
    assertEquals("Hello <|im", ChatCompletion.withoutStop("Hello <|im", List.of("<|im_end|>")));
    assertEquals("a", ChatCompletion.withoutStop("a\n", List.of("\n", "")));
  }
}
