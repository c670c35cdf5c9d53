package jswift.data;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.IOException;
import java.util.Locale;

/** The dataset layer's JSON reader settings and the type names its error messages use. */
final class Json {
  /**
   * JSON as Python's json module reads it: strict (no comments, no single quotes), but with the NaN and
   * Infinity that Python writes for such floats.
   */
  static final ObjectMapper MAPPER = JsonMapper.builder()
      .enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS)
      .build();

  private Json() {}

  /** "a string", "an array"..., for messages such as "content must be a string, found an array". */
  static String typeName(JsonNode node) {
    if (node == null || node.isNull()) return "null";
    if (node.isTextual()) return "a string";
    if (node.isArray()) return "an array";
    if (node.isObject()) return "an object";
    if (node.isBoolean()) return "a boolean (" + node.asText() + ")";
    if (node.isNumber()) return "a number (" + node.asText() + ")";
    return node.getNodeType().toString().toLowerCase(Locale.ROOT);
  }

  /** Creates a parser over a byte range (one JSONL line). */
  static JsonParser parser(byte[] bytes, int from, int to) throws IOException {
    return MAPPER.getFactory().createParser(bytes, from, to - from);
  }
}
