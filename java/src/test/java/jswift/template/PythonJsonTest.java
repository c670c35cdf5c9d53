package jswift.template;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import org.junit.jupiter.api.Test;

/** Python's json.dumps(ensure_ascii=False) output; the expected strings were printed by CPython 3. */
class PythonJsonTest {
  private static String dumps(String json) throws IOException {
    return PythonJson.dumps(new ObjectMapper().readTree(json));
  }

  @Test
  void spacingOrderAndEscapes() throws IOException {
    assertEquals("{\"b\": [1, 2, {}], \"a\": {\"x\": null, \"y\": true, \"z\": []}}", dumps("{\"b\":[1,2,{}],\"a\":{\"x\":null,\"y\":true,\"z\":[]}}"));
    assertEquals("\"東京 \\\"q\\\" \\\\ \\n\\t\\u0001 é \u007f\"", dumps("\"東京 \\\"q\\\" \\\\ \\n\\t\\u0001 é \\u007f\""));
    assertEquals("12345678901234567890", dumps("12345678901234567890"));
  }

  @Test
  void indentPutsEachItemOnItsOwnLine() throws IOException {
    assertEquals("{\n    \"a\": [\n        1,\n        {\n            \"b\": {}\n        }\n    ],\n    \"c\": []\n}",
        PythonJson.dumps(new ObjectMapper().readTree("{\"a\": [1, {\"b\": {}}], \"c\": []}"), 4));
  }

  @Test
  void ensureAsciiEscapesEveryNonAsciiUnitAsPythonDoes() throws IOException {
    // json.dumps({"é": "x\x7f😀", "a": [1, 0.5, None]}, indent=2): DEL and surrogate pairs escaped too, lowercase hex.
    String in = "{\"é\": \"x\u007f\uD83D\uDE00\", \"a\": [1, 0.5, null]}";
    assertEquals("{\n  \"\\u00e9\": \"x\\u007f\\ud83d\\ude00\",\n  \"a\": [\n    1,\n    0.5,\n    null\n  ]\n}",
        PythonJson.dumps(new ObjectMapper().readTree(in), 2, true));
  }

  @Test
  void floatsPrintAsPythonRepr() {
    double[] values = {1.0, 0.1, -2.5, 1e-05, 0.0001, 1e16, 1e15, 123456789.125, 3.0e-7, 1.5e300, 0.3, 2.0 / 3, -0.0};
    String[] repr = {"1.0", "0.1", "-2.5", "1e-05", "0.0001", "1e+16", "1000000000000000.0", "123456789.125", "3e-07",
        "1.5e+300", "0.3", "0.6666666666666666", "-0.0"};
    for (int i = 0; i < values.length; i++) assertEquals(repr[i], PythonJson.floatRepr(values[i]), "value " + values[i]);
  }
}
