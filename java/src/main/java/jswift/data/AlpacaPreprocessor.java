package jswift.data;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * Alpaca rows ({@code instruction}, {@code input}, {@code output}), as ms-swift's {@code AlpacaPreprocessor}
 * reads them: the query is {@code instruction + "\n" + input} when both are non-empty, else whichever is; the
 * response is {@code output}; the rest is the query/response form ({@link ResponsePreprocessor}), so
 * {@code system} and {@code history} work here too.
 */
final class AlpacaPreprocessor {
  private AlpacaPreprocessor() {}

  static void preprocess(ObjectNode row, ObjectNode before, Location where, Long randomSeed) {
    String instruction = text(row.remove("instruction"), "instruction", where);
    String input = text(row.remove("input"), "input", where);
    JsonNode output = row.remove("output");
    if (!ResponsePreprocessor.isNull(output)) row.set("response", output);
    String query = truthy(instruction) && truthy(input) ? instruction + "\n" + input
        : truthy(instruction) ? instruction : input;
    if (query == null) throw new DatasetException(where, "instruction and input are both missing");
    row.put("query", query);
    ResponsePreprocessor.preprocess(row, before, where, randomSeed);
  }

  private static boolean truthy(String s) {
    return s != null && !s.isEmpty();
  }

  private static String text(JsonNode v, String field, Location where) {
    if (ResponsePreprocessor.isNull(v)) return null;
    if (v.isTextual() || v.isNumber() || v.isBoolean()) return v.asText();
    throw new DatasetException(where, field + " must be a string, found " + Json.typeName(v));
  }
}
