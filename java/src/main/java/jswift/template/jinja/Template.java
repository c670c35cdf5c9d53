package jswift.template.jinja;

import java.time.Clock;
import java.util.List;
import java.util.Map;

/**
 * A compiled Jinja2 template, rendered the way Hugging Face transformers renders chat templates: jinja2's
 * syntax and Python semantics in an immutable sandbox with {@code trim_blocks} and {@code lstrip_blocks},
 * the loop controls and {@code {% generation %}} tags, {@code tojson} as {@code json.dumps(ensure_ascii=False)},
 * and the globals {@code raise_exception}, {@code strftime_now}, {@code range}, {@code namespace} and
 * {@code dict}. Compile once with {@link #compile}; {@link #render} is thread-safe and may be called
 * concurrently, each call getting its own scope.
 *
 * <p>Variables may be any mix of {@link String}, boxed numbers, {@link Boolean}, {@code null}, {@link Map},
 * {@link List} and Jackson {@code JsonNode}; they are copied into Python-like values first, so a template
 * never sees or changes the caller's objects.
 */
public final class Template {
  private final List<Node> body;

  private Template(List<Node> body) {
    this.body = body;
  }

  /**
   * Parses {@code source}.
   *
   * @throws TemplateException of kind SYNTAX, naming the line, column and what was expected
   */
  public static Template compile(String source) {
    return new Template(Parser.parse(source));
  }

  /** Renders with the system clock (for {@code strftime_now}). */
  public String render(Map<String, ?> variables) {
    return render(variables, Clock.systemDefaultZone());
  }

  /**
   * Renders with {@code variables} as the template's top-level names.
   *
   * @throws TemplateException when evaluation fails or the template calls {@code raise_exception}
   */
  public String render(Map<String, ?> variables, Clock clock) {
    Interpreter.Scope globals = new Interpreter.Scope(null);
    globals.vars.putAll(Globals.create(clock));
    Interpreter.Scope context = new Interpreter.Scope(globals);
    for (Map.Entry<String, ?> e : variables.entrySet()) context.vars.put(e.getKey(), Py.fromJava(e.getValue()));
    return new Interpreter().render(body, context);
  }
}
