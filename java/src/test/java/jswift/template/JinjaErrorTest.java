package jswift.template;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import jswift.template.jinja.Template;
import jswift.template.jinja.TemplateException;
import org.junit.jupiter.api.Test;

/** What the engine says when a template is wrong, and how caller values enter it. */
class JinjaErrorTest {

  private static TemplateException syntaxError(String source) {
    TemplateException e = assertThrows(TemplateException.class, () -> Template.compile(source));
    assertEquals(TemplateException.Kind.SYNTAX, e.kind(), e.getMessage());
    return e;
  }

  private static TemplateException renderError(String source, Map<String, ?> vars) {
    Template t = Template.compile(source);
    return assertThrows(TemplateException.class, () -> t.render(vars));
  }

  @Test
  void syntaxErrorNamesLineColumnAndWhatWasExpected() {
    TemplateException e = syntaxError("{{ 1 + }}");
    assertEquals(1, e.line());
    assertEquals(8, e.column());
    assertTrue(e.getMessage().contains("line 1, column 8"), e.getMessage());
    assertTrue(e.detail().contains("expected an expression"), e.detail());

    e = syntaxError("{% for x in y %}\n  {{ x + }}\n{% endfor %}");
    assertEquals(2, e.line());
    assertEquals(10, e.column());
  }

  @Test
  void unclosedBlockSaysWhichTagIsMissing() {
    TemplateException e = syntaxError("line1\n{% if x %}\nbody");
    assertEquals(3, e.line());
    assertTrue(e.detail().contains("'endif'") && e.detail().contains("opened at line 2"), e.detail());

    e = syntaxError("{% for m in messages %}\n{% if m %}{% endfor %}");
    assertEquals(2, e.line());
    assertEquals(14, e.column());
    assertTrue(e.detail().contains("unknown tag 'endfor'") && e.detail().contains("'endif'"), e.detail());
  }

  @Test
  void unknownFilterAndTestAreCompileErrorsOutsideIfs() {
    TemplateException e = syntaxError("ok\n{{ messages | frobnicate }}");
    assertEquals(2, e.line());
    assertEquals(15, e.column());
    assertTrue(e.detail().contains("no filter named 'frobnicate'"), e.detail());

    e = syntaxError("{{ x is frobnicated }}");
    assertTrue(e.detail().contains("no test named 'frobnicated'"), e.detail());

    // Inside an if, jinja2 only fails when the filter actually runs.
    Template t = Template.compile("{% if x %}{{ x | frobnicate }}{% endif %}done");
    assertEquals("done", t.render(Map.of("x", false)));
    TemplateException run = assertThrows(TemplateException.class, () -> t.render(Map.of("x", true)));
    assertEquals(TemplateException.Kind.RUNTIME, run.kind());
    assertTrue(run.detail().contains("No filter named 'frobnicate'"), run.detail());
  }

  @Test
  void lexicalErrors() {
    assertTrue(syntaxError("{{ 'abc }}").detail().contains("unexpected character"));
    assertTrue(syntaxError("a {# never closed").detail().contains("missing end of comment"));
    assertTrue(syntaxError("{{ (1, 2] }}").detail().contains("unexpected ']', expected ')'"));
    assertTrue(syntaxError("{{ '\\x4' }}").detail().contains("truncated \\x escape"));
    assertTrue(syntaxError("{% raw %}never closed").detail().contains("endraw"));
  }

  @Test
  void unsupportedTagsAreRefusedClearly() {
    assertTrue(syntaxError("{% include 'x.jinja' %}").detail().contains("not supported"));
    assertTrue(syntaxError("{% do x.append(1) %}").detail().contains("does not enable the do extension"));
    assertTrue(syntaxError("{% break %}").detail().contains("outside of a loop"));
    assertTrue(syntaxError("{% for x in y recursive %}{% endfor %}").detail().contains("recursive"));
    assertTrue(syntaxError("{% set true = 1 %}").detail().contains("cannot assign"));
  }

  @Test
  void raiseExceptionCarriesTheMessageAndLine() {
    TemplateException e = renderError("{% for m in messages %}\n{% if m.role == 'tool' %}\n{{ raise_exception('no tools: ' ~ loop.index) }}\n{% endif %}\n{% endfor %}",
        Map.of("messages", List.of(Map.of("role", "user"), Map.of("role", "tool"))));
    assertEquals(TemplateException.Kind.RAISED, e.kind());
    assertEquals("no tools: 2", e.detail());
    assertEquals(3, e.line());
    assertTrue(e.getMessage().contains("line 3") && e.getMessage().contains("no tools: 2"), e.getMessage());
  }

  @Test
  void runtimeErrorsNameTheTemplateLine() {
    TemplateException e = renderError("a\n\n{{ 'x' + 1 }}", Map.of());
    assertEquals(TemplateException.Kind.RUNTIME, e.kind());
    assertEquals(3, e.line());
    assertTrue(e.detail().startsWith("TypeError: can only concatenate str"), e.detail());

    e = renderError("{% set x = 1 %}\n{{ m.content.strip() }}", Map.of("m", Map.of("role", "user")));
    assertEquals(TemplateException.Kind.UNDEFINED, e.kind());
    assertEquals(2, e.line());
    assertTrue(e.detail().contains("has no attribute 'content'"), e.detail());

    e = renderError("{{ 9223372036854775807 + 1 }}", Map.of());
    assertTrue(e.detail().contains("OverflowError"), e.detail());
  }

  @Test
  void theSandboxRefusesMutation() {
    TemplateException e = renderError("{% set l = [] %}{% set _ = l.append(1) %}", Map.of());
    assertEquals(TemplateException.Kind.SECURITY, e.kind());
    assertTrue(e.detail().contains("'append' of 'list' object is unsafe"), e.detail());
  }

  @Test
  void callerValuesAreConvertedAndNeverMutated() throws Exception {
    Map<String, Object> inner = new HashMap<>();
    inner.put("n", 3); // Integer becomes a Python int
    inner.put("x", new BigDecimal("1.5"));
    List<Object> list = new ArrayList<>(List.of(inner));
    Map<String, Object> vars = Map.of("l", list, "json", new ObjectMapper().readTree("{\"a\": [1, 2.0, null, true, \"s\"]}"));
    String out = Template.compile("{{ l[0].n + 1 }} {{ l[0].x }} {{ json.a }} {{ json|tojson }}").render(vars);
    assertEquals("4 1.5 [1, 2.0, None, True, 's'] {\"a\": [1, 2.0, null, true, \"s\"]}", out);
    assertEquals(List.of(inner), list);
    assertEquals(3, inner.get("n"));
  }

  @Test
  void compiledTemplatesAreReusable() {
    Template t = Template.compile("{% set ns = namespace(n=0) %}{% for x in xs %}{% set ns.n = ns.n + x %}{% endfor %}{{ ns.n }}");
    assertEquals("6", t.render(Map.of("xs", List.of(1, 2, 3))));
    assertEquals("0", t.render(Map.of("xs", List.of())));
  }
}
