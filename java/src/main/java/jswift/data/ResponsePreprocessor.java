package jswift.data;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * The query/response form of ms-swift 2.x datasets, read as ms-swift's {@code ResponsePreprocessor} reads it:
 * the query is in one of query, prompt, input, instruction, question, problem; the response in one of
 * response, answer, output, targets, target, answer_key, answers, solution, text, completion, content; the
 * system prompt in system or system_prompt; earlier turns in {@code history}, a list of {@code [query, response]}
 * pairs or the Python text of one. A row with only a response (such as {@code {"text": ...}} for pre-training)
 * becomes a single assistant message; one with only a query, a single user message.
 *
 * <p>A list-valued response is a set of acceptable answers: the first is used, or a seeded random one when
 * {@code randomListResponse} is on (ms-swift's {@code RANDOM_DATASET_RESPONSE}); the draw depends only on the
 * seed and the row's location, so a row re-read by the random-access index converts to the same messages.
 */
final class ResponsePreprocessor {
  static final List<String> QUERY_KEYS = List.of("query", "prompt", "input", "instruction", "question", "problem");
  static final List<String> RESPONSE_KEYS = List.of("response", "answer", "output", "targets", "target",
      "answer_key", "answers", "solution", "text", "completion", "content");
  static final Map<String, String> COLUMNS;

  static {
    Map<String, String> m = new LinkedHashMap<>();
    for (String k : List.of("system", "system_prompt")) m.put(k, "system");
    for (String k : QUERY_KEYS) m.put(k, "query");
    for (String k : RESPONSE_KEYS) m.put(k, "response");
    COLUMNS = Map.copyOf(m);
  }

  private ResponsePreprocessor() {}

  /**
   * Converts the row in place: query, response, history and system become {@code messages}.
   *
   * @param before the row before this preprocessor renamed its columns, for the "no usable fields" message
   * @param randomSeed null to take a list response's first element; else the seed of the draw
   */
  static void preprocess(ObjectNode row, ObjectNode before, Location where, Long randomSeed) {
    JsonNode response = row.remove("response");
    JsonNode query = row.remove("query");
    JsonNode system = row.remove("system");
    JsonNode history = row.remove("history");
    if (response != null && response.isArray()) response = pick((ArrayNode) response, where, randomSeed);
    ArrayNode pairs = historyPairs(history, where);
    if (isNull(query) && isNull(response) && pairs.isEmpty())
      throw new DatasetException(where, noUsableFields(before));
    ArrayNode messages = row.arrayNode();
    if (!isNull(system)) messages.add(message(messages, "system", system));
    for (JsonNode pair : pairs) {
      if (!isNull(pair.get(0))) messages.add(message(messages, "user", pair.get(0)));
      if (!isNull(pair.get(1))) messages.add(message(messages, "assistant", pair.get(1)));
    }
    if (!isNull(query)) messages.add(message(messages, "user", query));
    if (!isNull(response)) messages.add(message(messages, "assistant", response));
    row.set("messages", messages);
  }

  private static JsonNode pick(ArrayNode answers, Location where, Long randomSeed) {
    if (answers.isEmpty()) throw new DatasetException(where, "the response is an empty list");
    if (randomSeed == null) return answers.get(0);
    SplittableRandom random = new SplittableRandom(randomSeed * 0x9E3779B97F4A7C15L + where.hashCode());
    return answers.get(random.nextInt(answers.size()));
  }

  /** The history as a list of two-element arrays; empty when absent or empty (Python's {@code or []}). */
  private static ArrayNode historyPairs(JsonNode history, Location where) {
    ArrayNode empty = Json.MAPPER.createArrayNode();
    if (isNull(history) || (history.isTextual() && history.asText().isEmpty())) return empty;
    JsonNode list = history;
    if (history.isTextual()) {
      try {
        list = PyLiteral.parse(history.asText());
      } catch (IllegalArgumentException e) {
        throw new DatasetException(where, "history is a string, but not the text of a list of [query, response] "
            + "pairs: " + e.getMessage());
      }
    }
    if (!list.isArray())
      throw new DatasetException(where, "history must be a list of [query, response] pairs, found "
          + Json.typeName(list));
    for (int i = 0; i < list.size(); i++) {
      JsonNode pair = list.get(i);
      if (!pair.isArray() || pair.size() < 2)
        throw new DatasetException(where, "history[" + i + "] must be a [query, response] pair, found "
            + Json.typeName(pair) + (pair.isArray() ? " of " + pair.size() : ""));
    }
    return (ArrayNode) list;
  }

  private static String noUsableFields(ObjectNode before) {
    List<String> keys = new ArrayList<>();
    before.fieldNames().forEachRemaining(keys::add);
    List<String> ambiguous = Columns.ambiguities(before, COLUMNS);
    return "no usable fields (found: " + (keys.isEmpty() ? "none" : String.join(", ", keys)) + ")"
        + (ambiguous.isEmpty() ? "" : "; " + String.join("; ", ambiguous) + ", so none of them is used")
        + ". A row needs messages (or conversation/conversations); or instruction + input + output (alpaca); or a "
        + "query (" + String.join("/", QUERY_KEYS) + ") and/or a response (" + String.join("/", RESPONSE_KEYS)
        + "). Name other columns with --columns '{\"your_column\": \"query\"}'";
  }

  private static ObjectNode message(ArrayNode factory, String role, JsonNode content) {
    ObjectNode m = factory.objectNode();
    m.put("role", role);
    // a number or boolean in a query/response column is text, as the Arrow cast in ms-swift makes it
    if (content.isNumber() || content.isBoolean()) m.put("content", content.asText());
    else m.set("content", content);
    return m;
  }

  static boolean isNull(JsonNode v) {
    return v == null || v.isNull();
  }
}
