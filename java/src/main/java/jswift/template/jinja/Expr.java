package jswift.template.jinja;

import java.util.List;

/** The expressions of a parsed template, each with the line it starts on. */
sealed interface Expr {
  int line();

  /** A string, number, boolean or None literal. */
  record Literal(Object value, int line) implements Expr {}

  record Name(String name, int line) implements Expr {}

  record ListLit(List<Expr> items, int line) implements Expr {}

  record TupleLit(List<Expr> items, int line) implements Expr {}

  record DictLit(List<Expr> keys, List<Expr> values, int line) implements Expr {}

  /** {@code obj.name}: attribute first, then item, as jinja2's {@code getattr}. */
  record GetAttr(Expr obj, String name, int line) implements Expr {}

  /** {@code obj[key]}: item first, then attribute, as jinja2's {@code getitem}. */
  record GetItem(Expr obj, Expr key, int line) implements Expr {}

  /** {@code start:stop:step} inside a subscript; absent parts are null. */
  record Slice(Expr start, Expr stop, Expr step, int line) implements Expr {}

  /** Keyword argument of a call, filter or test. */
  record Kwarg(String name, Expr value) {}

  /** {@code fn(args, k=v, *dynArgs, **dynKwargs)}. */
  record Call(Expr fn, List<Expr> args, List<Kwarg> kwargs, Expr dynArgs, Expr dynKwargs, int line) implements Expr {}

  /** {@code value | name(args)}; {@code value} is null inside filter blocks and {@code set} blocks. */
  record Filter(Expr value, String name, List<Expr> args, List<Kwarg> kwargs, int line) implements Expr {}

  /** {@code value is name(args)}. */
  record Test(Expr value, String name, List<Expr> args, List<Kwarg> kwargs, int line) implements Expr {}

  /** {@code not x}, {@code -x}, {@code +x}. */
  record Unary(String op, Expr operand, int line) implements Expr {}

  /** Arithmetic, {@code ~} and the short-circuit {@code and} / {@code or}. */
  record Binary(String op, Expr left, Expr right, int line) implements Expr {}

  /** A comparison chain {@code a < b <= c}, evaluated pairwise as in Python. Ops include "in", "notin". */
  record Compare(Expr first, List<String> ops, List<Expr> operands, int line) implements Expr {}

  /** {@code then if test else orElse}; a missing else yields undefined. */
  record Conditional(Expr test, Expr then, Expr orElse, int line) implements Expr {}
}
