package jswift.template;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.junit.jupiter.api.Test;

/** ms-swift's agent loss scales cut a response as its split_str_parts_by / split_parts_by_regex do. */
class AgentWeightsTest {
  private static List<AgentWeights.Part> parts(Object... textThenWeight) {
    List<AgentWeights.Part> out = new java.util.ArrayList<>();
    for (int i = 0; i < textThenWeight.length; i += 2)
      out.add(new AgentWeights.Part((String) textThenWeight[i], ((Number) textThenWeight[i + 1]).doubleValue()));
    return out;
  }

  @Test
  void reactWeighsEachKeywordAndWhatFollowsIt() {
    assertEquals(parts("I check. ", 1, "Thought:", 1, " need time\n", 1, "Action:", 2, " get_time\n", 2,
            "Action Input:", 2, " {}\n", 2, "Observation:", 2, " 14:05\n", 0, "Final Answer:", 1, " 14:05", 1),
        AgentWeights.REACT.split("I check. Thought: need time\nAction: get_time\nAction Input: {}\nObservation: 14:05\n"
            + "Final Answer: 14:05"));
    assertEquals(parts("no keyword here", 1), AgentWeights.REACT.split("no keyword here"));
    assertEquals(parts("Action:", 2, "Action:", 2), AgentWeights.REACT.split("Action:Action:"), "empty runs left out");
  }

  @Test
  void qwenAndHermes() {
    assertEquals(parts("\u273fFUNCTION\u273f:", 2, " f\n", 2, "\u273fRESULT\u273f:", 2, " r", 0),
        AgentWeights.QWEN.split("\u273fFUNCTION\u273f: f\n\u273fRESULT\u273f: r"));
    // hermes: single-line calls match (Python's re, like Java's, has '.' stop at a newline); the order is kept
    assertEquals(parts("Calling. ", 1, "<tool_call>{\"name\": \"f\"}</tool_call>", 2, " then ", 1,
            "<tool_call>{}</tool_call>", 2, " done", 1),
        AgentWeights.HERMES.split("Calling. <tool_call>{\"name\": \"f\"}</tool_call> then <tool_call>{}</tool_call> done"));
    assertEquals(parts("<tool_call>\n{}\n</tool_call>", 1), AgentWeights.HERMES.split("<tool_call>\n{}\n</tool_call>"));
  }

  @Test
  void parsedNames() {
    assertEquals("react", LossScale.parse("react").msSwiftName());
    assertEquals("hermes+ignore_empty_think", LossScale.parse("hermes+ignore_empty_think").msSwiftName());
    assertEquals(LossScale.Strategy.DEFAULT, LossScale.parse("qwen").strategy());
  }
}
