package jswift.template;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import jswift.template.jinja.Template;
import jswift.template.jinja.TemplateException;
import jswift.testing.Fixtures;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * Differential test against Python's jinja2 in transformers' environment: every template of
 * fixtures/chat-templates/corpus/cases.json must render exactly what jinja2 rendered
 * (corpus/expected.json, written by generate.py), or fail where jinja2 failed, with the same kind of error
 * and, for syntax errors, on the same line. Plain string equality, so any whitespace difference fails.
 */
class JinjaCorpusTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  @TestFactory
  Stream<DynamicTest> corpusMatchesJinja2() throws IOException {
    JsonNode cases = JSON.readTree(Fixtures.resource("chat-templates/corpus/cases.json").toFile());
    JsonNode expected = JSON.readTree(Fixtures.resource("chat-templates/corpus/expected.json").toFile());
    List<DynamicTest> tests = new ArrayList<>();
    for (JsonNode c : cases) {
      String name = c.get("name").textValue();
      JsonNode want = expected.get(name);
      tests.add(DynamicTest.dynamicTest(name, () -> check(name, c, want)));
    }
    return tests.stream();
  }

  @Test
  void everyCaseHasAnExpectation() throws IOException {
    JsonNode cases = JSON.readTree(Fixtures.resource("chat-templates/corpus/cases.json").toFile());
    JsonNode expected = JSON.readTree(Fixtures.resource("chat-templates/corpus/expected.json").toFile());
    assertEquals(cases.size(), expected.size(), "cases.json and expected.json differ: rerun generate.py");
    assertTrue(cases.size() >= 100, "the corpus should cover every feature: " + cases.size());
    for (JsonNode c : cases) assertTrue(expected.has(c.get("name").textValue()), c.get("name").textValue());
  }

  private static void check(String name, JsonNode c, JsonNode want) {
    String source = c.get("template").textValue();
    @SuppressWarnings("unchecked")
    Map<String, Object> context = JSON.convertValue(c.path("context"), Map.class);
    if (context == null) context = Map.of();
    if (want.has("output")) {
      assertEquals(want.get("output").textValue(), Template.compile(source).render(context), name);
      return;
    }
    Map<String, Object> vars = context;
    String error = want.get("error").textValue();
    TemplateException e = assertThrows(TemplateException.class, () -> Template.compile(source).render(vars),
        name + ": jinja2 raised " + error + ": " + want.path("message").textValue());
    assertEquals(expectedKind(error), e.kind(), name + ": jinja2 raised " + error + ": " + want.path("message").textValue() + "; we said " + e.getMessage());
    if (error.equals("syntax")) {
      assertEquals(want.get("line").intValue(), e.line(), e.getMessage());
      assertTrue(e.column() > 0, "a syntax error names its column: " + e.getMessage());
    } else if (error.equals("TemplateError")) {
      assertEquals(want.get("message").textValue(), e.detail());
    } else {
      assertTrue(e.line() > 0, "a runtime error names its line: " + e.getMessage());
    }
  }

  private static TemplateException.Kind expectedKind(String pythonError) {
    return switch (pythonError) {
      case "syntax" -> TemplateException.Kind.SYNTAX;
      case "TemplateError" -> TemplateException.Kind.RAISED;
      case "UndefinedError" -> TemplateException.Kind.UNDEFINED;
      case "SecurityError" -> TemplateException.Kind.SECURITY;
      default -> TemplateException.Kind.RUNTIME;
    };
  }
}
