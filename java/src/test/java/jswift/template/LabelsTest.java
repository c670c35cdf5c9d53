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
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import jswift.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;

/**
 * Which tokens are trained on: the labelled spans of encoded rows, decoded back to text, must be exactly the
 * assistant responses and their end tokens, for each loss_scale strategy and the per-message loss flag.
 */
class LabelsTest {
  private static final Conversation THREE_TURNS = row("""
      {"messages": [{"role": "user", "content": "hello"}, {"role": "assistant", "content": "Hi!"},
                    {"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"},
                    {"role": "user", "content": "Thanks."}, {"role": "assistant", "content": "You're welcome."}]}""");

  private static Conversation withLoss(String middleLoss, String lastLoss) {
    return row("""
        {"messages": [{"role": "user", "content": "hello"}, {"role": "assistant", "content": "Hi!"},
                      {"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4", "loss": %s},
                      {"role": "user", "content": "Thanks."}, {"role": "assistant", "content": "You're welcome.", "loss": %s}]}"""
        .formatted(middleLoss, lastLoss));
  }

  @Test
  void specSketchQwen2_5SingleTurn() {
    // SWIFT-SURFACE §3: labels are -100 up to and including "assistant\n"; then "Hi!<|im_end|>\n" is labelled.
    Tokenizer t = tokenizer("qwen3");
    Encoded e = swift("qwen2_5", "qwen3").encode(row(
        "{\"messages\": [{\"role\": \"user\", \"content\": \"hello\"}, {\"role\": \"assistant\", \"content\": \"Hi!\"}]}"));
    assertEquals("<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
        + "<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\nHi!<|im_end|>\n", decode(t, e.inputIds()));
    assertEquals(List.of("Hi!<|im_end|>\n"), labelledSpans(t, e));
    int first = 0;
    while (e.labels()[first] == Encoded.IGNORE) first++;
    assertEquals("<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
        + "<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n", decode(t, Arrays.copyOf(e.inputIds(), first)));
    // Where labelled, the label is the token itself (the model shifts); binary weights leave no loss_scale array.
    for (int i = first; i < e.length(); i++) assertEquals(e.inputIds()[i], e.labels()[i]);
    assertNull(e.lossScale());
  }

  @Test
  void defaultTrainsEveryAnswerAndItsEnd() {
    // Between rounds the separator is the suffix (<|im_end|>\n): dynamic EOS labels it after each answer.
    Tokenizer t = tokenizer("qwen3");
    Encoded e = swift("qwen", "qwen3").encode(THREE_TURNS);
    assertEquals(List.of("Hi!<|im_end|>\n", "4<|im_end|>\n", "You're welcome.<|im_end|>\n"), labelledSpans(t, e));
    assertEquals(Encoded.IGNORE, e.labels()[0]);
  }

  @Test
  void llama3AnswersEndWithEotId() {
    Tokenizer t = tokenizer("llama3");
    Encoded e = swift("llama3", "llama3").encode(THREE_TURNS);
    assertEquals(List.of("Hi!<|eot_id|>", "4<|eot_id|>", "You're welcome.<|eot_id|>"), labelledSpans(t, e));
  }

  @Test
  void lastRoundTrainsOnlyTheFinalAnswer() {
    Tokenizer t = tokenizer("qwen3");
    Encoded e = swift("qwen", "qwen3", TemplateOptions.DEFAULT.withLossScale(LossScale.LAST_ROUND)).encode(THREE_TURNS);
    assertEquals(List.of("You're welcome.<|im_end|>\n"), labelledSpans(t, e));
  }

  @Test
  void allTrainsEverythingButTheFirstToken() {
    Tokenizer t = tokenizer("qwen3");
    Encoded e = swift("qwen", "qwen3", TemplateOptions.DEFAULT.withLossScale(LossScale.ALL)).encode(THREE_TURNS);
    assertEquals(Encoded.IGNORE, e.labels()[0]);
    assertEquals(List.of(decode(t, Arrays.copyOfRange(e.inputIds(), 1, e.length()))), labelledSpans(t, e));
    assertEquals(e.length() - 1, e.labelledCount());
  }

  @Test
  void lossFalseOnAMessageLeavesItAndItsEndUntrained() {
    Tokenizer t = tokenizer("qwen3");
    Encoded e = swift("qwen", "qwen3").encode(withLoss("false", "null"));
    assertEquals(List.of("Hi!<|im_end|>\n", "You're welcome.<|im_end|>\n"), labelledSpans(t, e));
    // On the last answer the flag covers the suffix as well (jswift; ms-swift would still train <|im_end|>).
    Encoded none = swift("qwen", "qwen3").encode(withLoss("null", "false"));
    assertEquals(List.of("Hi!<|im_end|>\n", "4<|im_end|>\n"), labelledSpans(t, none));
  }

  @Test
  void lossTrueTrainsAHistoryAnswerUnderLastRound() {
    Tokenizer t = tokenizer("qwen3");
    SwiftTemplate lastRound = swift("qwen", "qwen3", TemplateOptions.DEFAULT.withLossScale(LossScale.LAST_ROUND));
    assertEquals(List.of("4<|im_end|>\n", "You're welcome.<|im_end|>\n"), labelledSpans(t, lastRound.encode(withLoss("true", "null"))));
  }

  @Test
  void aNumericLossWeightsTheAnswerAndKeepsTheFloatArray() {
    Tokenizer t = tokenizer("qwen3");
    Encoded e = swift("qwen", "qwen3").encode(withLoss("2.5", "null"));
    float[] w = e.lossScale();
    assertNotNull(w);
    assertEquals(e.length(), w.length);
    // The weights sit on the labelled tokens: 2.5 on the answer "4" itself, 1 on the other answers and on every
    // end (the separator after "4" is labelled by dynamic EOS, which gives it weight 1), 0 elsewhere.
    List<Float> weightsOf4 = new ArrayList<>();
    for (int i = 0; i < e.length(); i++) {
      assertEquals(w[i] > 0, e.labels()[i] != Encoded.IGNORE, "weight and label disagree at " + i);
      if (w[i] != 0 && w[i] != 1) weightsOf4.add(w[i]);
    }
    assertEquals(List.of(2.5f), weightsOf4.stream().distinct().toList());
    assertEquals(t.encode("4").length, weightsOf4.size());
    assertEquals(List.of("Hi!<|im_end|>\n", "4<|im_end|>\n", "You're welcome.<|im_end|>\n"), labelledSpans(t, e));
  }

  @Test
  void toolCallsAreTrainedToolResultsAreNot() {
    Tokenizer t = tokenizer("qwen3");
    Conversation c = plus(fixtureConversation(), Message.assistant("Tokyo: 18 °C."));
    List<String> spans = labelledSpans(t, swift("qwen3", "qwen3").encode(c));
    String empty = "<think>\n\n</think>\n\n";
    assertEquals(List.of(
        empty + "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"unit\": \"celsius\"}}\n</tool_call><|im_end|>\n",
        empty + "It is 21 °C and sunny in Paris.<|im_end|>\n",
        "<think>\nUser asks about Tokyo.\n</think>\n\nI would need to call the tool again for Tokyo.<|im_end|>\n",
        empty + "Tokyo: 18 °C.<|im_end|>\n"), spans);
    for (String s : spans) assertFalse(s.contains("tool_response") || s.contains("temperature"), s);
  }

  @Test
  void reactToolTurnsOnLlama3() {
    // The spec's agent row with react_en (ms-swift's default for templates without a tool format of their own): the
    // call is written as Action/Action Input and ends with Observation:, and the tool output continues the assistant
    // stream untrained.
    Tokenizer t = tokenizer("llama3");
    Conversation c = row("""
        {"tools": "[{\\"type\\":\\"function\\",\\"function\\":{\\"name\\":\\"get_time\\",\\"description\\":\\"Current time in a city\\",\\"parameters\\":{\\"type\\":\\"object\\",\\"properties\\":{\\"city\\":{\\"type\\":\\"string\\"}},\\"required\\":[\\"city\\"]}}}]",
         "messages": [{"role": "user", "content": "Time in Oslo?"},
                      {"role": "tool_call", "content": "{\\"name\\":\\"get_time\\",\\"arguments\\":{\\"city\\":\\"Oslo\\"}}"},
                      {"role": "tool_response", "content": "{\\"time\\":\\"14:05\\"}"},
                      {"role": "assistant", "content": "It is 14:05 in Oslo."}]}""");
    Encoded e = swift("llama3", "llama3", TemplateOptions.DEFAULT.withAgentTemplate("react_en")).encode(c);
    String text = decode(t, e.inputIds());
    assertTrue(text.endsWith("<|start_header_id|>user<|end_header_id|>\n\nTime in Oslo?<|eot_id|>"
        + "<|start_header_id|>assistant<|end_header_id|>\n\nAction: get_time\nAction Input: {\"city\": \"Oslo\"}\nObservation:"
        + "{\"time\":\"14:05\"}\nIt is 14:05 in Oslo.<|eot_id|>"), text);
    assertTrue(text.startsWith("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nAnswer the following questions"));
    assertEquals(List.of("Action: get_time\nAction Input: {\"city\": \"Oslo\"}\nObservation:", "It is 14:05 in Oslo.<|eot_id|>"),
        labelledSpans(t, e));
  }

  @Test
  void reactLossScaleWeighsTheActionsTwice() {
    // ms-swift's --loss_scale react on the react_en row: Action / Action Input and their text weigh 2, as does the
    // Observation: keyword; the final answer and its end 1; the tool output stays untrained.
    Tokenizer t = tokenizer("llama3");
    Conversation c = row("""
        {"tools": "[{\\"type\\":\\"function\\",\\"function\\":{\\"name\\":\\"get_time\\",\\"description\\":\\"Current time in a city\\",\\"parameters\\":{\\"type\\":\\"object\\",\\"properties\\":{}}}}]",
         "messages": [{"role": "user", "content": "Time in Oslo?"},
                      {"role": "tool_call", "content": "{\\"name\\":\\"get_time\\",\\"arguments\\":{\\"city\\":\\"Oslo\\"}}"},
                      {"role": "tool_response", "content": "{\\"time\\":\\"14:05\\"}"},
                      {"role": "assistant", "content": "It is 14:05 in Oslo."}]}""");
    TemplateOptions react = TemplateOptions.DEFAULT.withAgentTemplate("react_en");
    Encoded plain = swift("llama3", "llama3", react).encode(c);
    Encoded e = swift("llama3", "llama3", react.withLossScale(LossScale.parse("react"))).encode(c);
    assertEquals(labelledSpans(t, plain), labelledSpans(t, e), "the same tokens are trained");
    float[] w = e.lossScale();
    assertNotNull(w, "weights other than 0 and 1");
    StringBuilder twice = new StringBuilder(), once = new StringBuilder();
    for (int i = 0; i < e.length(); i++) {
      if (w[i] == 2f) twice.append(decode(t, new int[] {e.inputIds()[i]}));
      else if (w[i] == 1f) once.append(decode(t, new int[] {e.inputIds()[i]}));
      else assertEquals(0f, w[i], "token " + i);
    }
    assertEquals("Action: get_time\nAction Input: {\"city\": \"Oslo\"}\nObservation:", twice.toString());
    assertEquals("It is 14:05 in Oslo.<|eot_id|>", once.toString());
  }

  @Test
  void ignoreEmptyThinkLeavesTheNonThinkingPrefixUntrained() {
    Tokenizer t = tokenizer("qwen3");
    Conversation c = row("{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": \"Hello!\"}]}");
    Encoded plain = swift("qwen3", "qwen3").encode(c);
    assertEquals(List.of("<think>\n\n</think>\n\nHello!<|im_end|>\n"), labelledSpans(t, plain));
    Encoded ignoring = swift("qwen3", "qwen3", TemplateOptions.DEFAULT.withLossScale(LossScale.parse("default+ignore_empty_think"))).encode(c);
    assertArrayEquals(plain.inputIds(), ignoring.inputIds());
    assertEquals(List.of("Hello!<|im_end|>\n"), labelledSpans(t, ignoring));
    // A real reasoning block stays trained.
    Conversation reasoned = row("{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, "
        + "{\"role\": \"assistant\", \"content\": \"<think>\\nGreet back.\\n</think>\\n\\nHello!\"}]}");
    Encoded r = swift("qwen3", "qwen3", TemplateOptions.DEFAULT.withLossScale(LossScale.parse("ignore_empty_think"))).encode(reasoned);
    assertEquals(List.of("<think>\nGreet back.\n</think>\n\nHello!<|im_end|>\n"), labelledSpans(t, r));
  }

  @Test
  void aResponseEndingInAStopWordGetsNoSuffix() {
    Tokenizer t = tokenizer("qwen3");
    Encoded e = swift("qwen", "qwen3").encode(row(
        "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": \"Hello!<|endoftext|>\"}]}"));
    assertTrue(decode(t, e.inputIds()).endsWith("assistant\nHello!<|endoftext|>"));
    assertEquals(List.of("Hello!<|endoftext|>"), labelledSpans(t, e));
  }

  @Test
  void pretrainingRowIsAnswerToAnEmptyQuery() {
    Tokenizer t = tokenizer("qwen3");
    Encoded e = swift("chatml", "qwen3").encode(row("{\"messages\": [{\"role\": \"assistant\", \"content\": \"Raw text.\"}]}"));
    assertEquals("<|im_start|>user\n<|im_end|>\n<|im_start|>assistant\nRaw text.<|im_end|>\n", decode(t, e.inputIds()));
    assertEquals(List.of("Raw text.<|im_end|>\n"), labelledSpans(t, e));
  }
}
