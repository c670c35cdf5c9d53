package jswift.template;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * ms-swift's agent loss scales ({@code --loss_scale react | qwen | hermes}; swift/plugin/loss_scale, after
 * arXiv 2309.00986), which weight the parts of an assistant response. Keyword weights [w_keyword, w_content]: the
 * response is cut at every keyword (scanning left to right, the first listed keyword that starts at a position
 * wins); a keyword gets w_keyword and the text after it, up to the next keyword, w_content; text before the first
 * keyword gets 1. Pattern weights [w]: in that leading text (the whole response when it has no keyword) each match
 * of the pattern gets w, the rest 1. (ms-swift's pattern split moves the text after the last match to the front of
 * the response; jswift keeps the text in its order.)
 */
record AgentWeights(String name, Map<String, double[]> keywords, Map<Pattern, Double> patterns) {
  /** A run of the response and its weight. */
  record Part(String text, double weight) {}

  /** ReAct (react.json): actions and their inputs weigh 2, an observation's text 0 (the model does not write it). */
  static final AgentWeights REACT = keywords("react", "Action:", 2, 2, "Action Input:", 2, 2, "Thought:", 1, 1,
      "Final Answer:", 1, 1, "Observation:", 2, 0);
  /** Qwen's function-call markers (qwen.json). */
  static final AgentWeights QWEN = keywords("qwen", "\u273fFUNCTION\u273f:", 2, 2, "\u273fARGS\u273f:", 2, 2,
      "\u273fRETURN\u273f:", 1, 1, "\u273fRESULT\u273f:", 2, 0);
  /** Hermes tool calls (hermes.json): each {@code <tool_call>...</tool_call>} weighs 2. */
  static final AgentWeights HERMES = new AgentWeights("hermes", Map.of(),
      Map.of(Pattern.compile("<tool_call>(.+?)</tool_call>"), 2.0));

  /** The weighting of a --loss_scale name, or null for a name that is not an agent weighting. */
  static AgentWeights named(String name) {
    return switch (name) {
      case "react" -> REACT;
      case "qwen" -> QWEN;
      case "hermes" -> HERMES;
      default -> null;
    };
  }

  private static AgentWeights keywords(String name, Object... keyThenWeights) {
    Map<String, double[]> k = new LinkedHashMap<>();
    for (int i = 0; i < keyThenWeights.length; i += 3)
      k.put((String) keyThenWeights[i], new double[] {((Number) keyThenWeights[i + 1]).doubleValue(),
          ((Number) keyThenWeights[i + 2]).doubleValue()});
    return new AgentWeights(name, k, Map.of());
  }

  /** The response cut into weighted runs, in order; empty runs are left out. */
  List<Part> split(String response) {
    List<String> keys = new ArrayList<>();  // null: the text before the first keyword
    List<StringBuilder> contents = new ArrayList<>();
    keys.add(null);
    contents.add(new StringBuilder());
    for (int i = 0; i < response.length(); ) {
      String hit = null;
      for (String k : keywords.keySet()) {
        if (response.startsWith(k, i)) {
          hit = k;
          break;
        }
      }
      if (hit != null) {
        keys.add(hit);
        contents.add(new StringBuilder());
        i += hit.length();
      } else {
        contents.get(contents.size() - 1).append(response.charAt(i++));
      }
    }
    List<Part> out = new ArrayList<>();
    for (int p = 0; p < keys.size(); p++) {
      String content = contents.get(p).toString();
      if (keys.get(p) == null) {
        addMatches(out, content);
      } else {
        double[] w = keywords.get(keys.get(p));
        add(out, keys.get(p), w[0]);
        add(out, content, w[1]);
      }
    }
    return out;
  }

  /** Text before any keyword: the patterns' matches with their weights, the rest 1. */
  private void addMatches(List<Part> out, String text) {
    List<Part> runs = new ArrayList<>(List.of(new Part(text, 1)));
    for (Map.Entry<Pattern, Double> e : patterns.entrySet()) {
      List<Part> next = new ArrayList<>();
      for (Part r : runs) {
        if (r.weight() != 1) {  // already a match of an earlier pattern
          next.add(r);
          continue;
        }
        Matcher m = e.getKey().matcher(r.text());
        int at = 0;
        while (m.find()) {
          if (m.start() > at) next.add(new Part(r.text().substring(at, m.start()), 1));
          next.add(new Part(m.group(), e.getValue()));
          at = m.end();
        }
        if (at < r.text().length()) next.add(new Part(r.text().substring(at), 1));
      }
      runs = next;
    }
    for (Part r : runs) add(out, r.text(), r.weight());
  }

  private static void add(List<Part> out, String text, double weight) {
    if (!text.isEmpty()) out.add(new Part(text, weight));
  }
}
