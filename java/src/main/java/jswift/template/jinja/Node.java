package jswift.template.jinja;

import java.util.List;

/**
 * The statements of a parsed template. Every node keeps the template line it starts on, so a runtime
 * error can say where it happened. Bodies are plain lists of nodes.
 */
sealed interface Node {
  int line();

  /** Literal template text. */
  record Text(String text, int line) implements Node {}

  /** {@code {{ expr }}}. */
  record Print(Expr expr, int line) implements Node {}

  /** {@code {% if %}...{% elif %}...{% else %}...{% endif %}}: one branch per if/elif. */
  record If(List<Branch> branches, List<Node> orElse, int line) implements Node {}

  record Branch(Expr test, List<Node> body) {}

  /**
   * {@code {% for target in iter if filter %}body{% else %}orElse{% endfor %}}; {@code filter} may be null.
   * The else body runs when no item passed the filter.
   */
  record For(Target target, Expr iter, Expr filter, List<Node> body, List<Node> orElse, int line) implements Node {}

  /** {@code {% set target = value %}}. */
  record Set(Target target, Expr value, int line) implements Node {}

  /** {@code {% set target | filters %}body{% endset %}}: the rendered body, optionally filtered. */
  record SetBlock(Target target, Expr.Filter filter, List<Node> body, int line) implements Node {}

  /** {@code {% macro name(params) %}body{% endmacro %}}; defaults align with the last params. */
  record Macro(String name, List<String> params, List<Expr> defaults, List<Node> body, int line) implements Node {}

  /** {@code {% call(params) macro(args) %}body{% endcall %}}: body becomes the {@code caller()} macro. */
  record CallBlock(Expr.Call call, List<String> params, List<Expr> defaults, List<Node> body, int line)
      implements Node {}

  /** {@code {% filter f(args) | g %}body{% endfilter %}}: the rendered body goes through the filters. */
  record FilterBlock(Expr.Filter filter, List<Node> body, int line) implements Node {}

  /** {@code {% with a = 1, b = 2 %}body{% endwith %}}: assignments visible only inside the body. */
  record With(List<Target> targets, List<Expr> values, List<Node> body, int line) implements Node {}

  /** {@code {% generation %}body{% endgeneration %}}: transformers' assistant-mask marker, rendered as is. */
  record Generation(List<Node> body, int line) implements Node {}

  /** {@code {% break %}} (jinja2's loopcontrols extension, which transformers enables). */
  record Break(int line) implements Node {}

  /** {@code {% continue %}}. */
  record Continue(int line) implements Node {}

  /** What a set, for or with statement assigns to. */
  sealed interface Target {}

  record NameTarget(String name) implements Target {}

  /** Unpacks an iterable into several targets: {@code for k, v in d.items()}. */
  record TupleTarget(List<Target> items) implements Target {}

  /** {@code ns.attr}, assignable only when {@code ns} is a {@code namespace()}. */
  record NamespaceTarget(String namespace, String attr) implements Target {}
}
