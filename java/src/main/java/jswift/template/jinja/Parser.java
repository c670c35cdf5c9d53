package jswift.template.jinja;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import jswift.template.jinja.Token.Type;

/**
 * Builds the syntax tree from the tokens with jinja2's grammar and operator precedence (loosest first):
 * conditional {@code x if c else y}, {@code or}, {@code and}, {@code not}, comparisons and {@code in},
 * {@code + -}, {@code ~}, {@code * / // %}, {@code **}, unary {@code - +}, then primaries with their
 * postfix {@code .attr}, {@code [key]}, calls, {@code | filter} and {@code is test}. Unknown filters and
 * tests are compile-time errors, as in jinja2. Every error names line, column and what was expected.
 */
final class Parser {
  private static final Set<String> COMPARE_OPS = Set.of("==", "!=", "<", "<=", ">", ">=");
  private static final Set<String> UNSUPPORTED =
      Set.of("extends", "include", "import", "from", "block", "autoescape", "do");

  private final List<Token> tokens;
  private int pos;
  /** Open block tags, innermost last, for "expected endfor" messages. */
  private final List<Token> openBlocks = new ArrayList<>();
  private int loopDepth;
  /**
   * Inside an if statement or a conditional expression (jinja2's "soft frame"), an unknown filter or test
   * is only an error if it runs; elsewhere it is a compile-time error, reported after parsing.
   */
  private boolean soft;
  private final List<TemplateException> unknownNames = new ArrayList<>();

  private Parser(List<Token> tokens) {
    this.tokens = tokens;
  }

  static List<Node> parse(String source) {
    Parser p = new Parser(Lexer.tokenize(source));
    List<Node> body = p.subparse(Set.of());
    if (p.cur().type() != Type.EOF) throw p.fail("unexpected " + p.cur().describe(), p.cur());
    if (!p.unknownNames.isEmpty()) throw p.unknownNames.get(0);
    return body;
  }

  // ---- token stream ----

  private Token cur() {
    return tokens.get(pos);
  }

  private Token peek() {
    return tokens.get(Math.min(pos + 1, tokens.size() - 1));
  }

  private Token next() {
    Token t = tokens.get(pos);
    if (pos < tokens.size() - 1) pos++;
    return t;
  }

  private TemplateException fail(String msg, Token at) {
    return new TemplateException(TemplateException.Kind.SYNTAX, msg, at.line(), at.column());
  }

  private Token expect(Type type, String what) {
    if (cur().type() != type) throw fail("expected " + what + ", got " + cur().describe(), cur());
    return next();
  }

  private void expectOp(String op) {
    if (!cur().isOp(op)) throw fail("expected '" + op + "', got " + cur().describe(), cur());
    next();
  }

  private void expectName(String name) {
    if (!cur().isName(name)) throw fail("expected '" + name + "', got " + cur().describe(), cur());
    next();
  }

  private boolean skipOp(String op) {
    if (cur().isOp(op)) {
      next();
      return true;
    }
    return false;
  }

  private boolean skipName(String name) {
    if (cur().isName(name)) {
      next();
      return true;
    }
    return false;
  }

  // ---- statements ----

  /** Parses until a block tag whose name is in {@code endTags}; leaves the stream at that name. */
  private List<Node> subparse(Set<String> endTags) {
    List<Node> body = new ArrayList<>();
    while (true) {
      Token t = cur();
      switch (t.type()) {
        case DATA -> {
          next();
          body.add(new Node.Text(t.text(), t.line()));
        }
        case VAR_BEGIN -> {
          next();
          Expr e = parseTuple(true, Set.of(), false);
          body.add(new Node.Print(e, t.line()));
          expect(Type.VAR_END, "end of print statement '}}'");
        }
        case BLOCK_BEGIN -> {
          next();
          if (cur().type() == Type.NAME && endTags.contains(cur().text())) return body;
          Node stmt = statement(endTags);
          if (stmt != null) body.add(stmt);
          expect(Type.BLOCK_END, "end of statement block '%}'");
        }
        case EOF -> {
          return body;
        }
        default -> throw fail("unexpected " + t.describe(), t);
      }
    }
  }

  /** Parses a body up to one of {@code endTags}; fails clearly when the template ends first. */
  private List<Node> body(Token opener, Set<String> endTags) {
    skipOp(":");
    expect(Type.BLOCK_END, "end of statement block '%}'");
    openBlocks.add(opener);
    boolean savedSoft = soft;
    soft = opener.isName("if"); // only an if body shares the soft frame; loops, macros and blocks open new frames
    List<Node> nodes = subparse(endTags);
    soft = savedSoft;
    openBlocks.remove(openBlocks.size() - 1);
    if (cur().type() == Type.EOF) {
      throw fail("unexpected end of template: expected " + quoteAll(endTags) + " to close the '" + opener.text()
          + "' tag opened at line " + opener.line(), cur());
    }
    return nodes;
  }

  private static String quoteAll(Set<String> tags) {
    List<String> sorted = new ArrayList<>(tags);
    sorted.sort((a, b) -> a.startsWith("end") == b.startsWith("end") ? a.compareTo(b) : a.startsWith("end") ? -1 : 1);
    return "'" + String.join("' or '", sorted) + "'";
  }

  private Node statement(Set<String> endTags) {
    Token t = cur();
    if (t.type() != Type.NAME) throw fail("expected a tag name, got " + t.describe(), t);
    switch (t.text()) {
      case "if": return parseIf();
      case "for": return parseFor();
      case "set": return parseSet();
      case "macro": return parseMacro();
      case "call": return parseCallBlock();
      case "filter": return parseFilterBlock();
      case "with": return parseWith();
      case "print": {
        next();
        Expr e = parseExpression(true);
        if (cur().isOp(",")) throw fail("'print' with several expressions is not supported: use {{ a ~ b }}", cur());
        return new Node.Print(e, t.line());
      }
      case "generation": {
        next();
        List<Node> b = body(t, Set.of("endgeneration"));
        next();
        return new Node.Generation(b, t.line());
      }
      case "break", "continue": {
        next();
        if (loopDepth == 0) throw fail("'" + t.text() + "' outside of a loop", t);
        return t.text().equals("break") ? new Node.Break(t.line()) : new Node.Continue(t.line());
      }
      default:
        break;
    }
    if (UNSUPPORTED.contains(t.text())) {
      throw fail("the '" + t.text() + "' tag is not supported (transformers' chat-template environment"
          + (t.text().equals("do") ? " does not enable the do extension)" : " loads no other templates)"), t);
    }
    String msg = "unknown tag '" + t.text() + "'";
    if (!openBlocks.isEmpty()) {
      Token inner = openBlocks.get(openBlocks.size() - 1);
      msg += ": expected " + quoteAll(endTags) + " to close the '" + inner.text() + "' tag opened at line " + inner.line();
    }
    throw fail(msg, t);
  }

  private Node parseIf() {
    Token opener = next();
    List<Node.Branch> branches = new ArrayList<>();
    List<Node> orElse = List.of();
    Expr test = softly(() -> parseTuple(false, Set.of(), false));
    while (true) {
      List<Node> b = body(opener, Set.of("elif", "else", "endif"));
      branches.add(new Node.Branch(test, b));
      Token tag = next();
      if (tag.text().equals("elif")) {
        test = softly(() -> parseTuple(false, Set.of(), false));
        continue;
      }
      if (tag.text().equals("else")) {
        orElse = body(opener, Set.of("endif"));
        next();
      }
      return new Node.If(branches, orElse, opener.line());
    }
  }

  private Node parseFor() {
    Token opener = next();
    Node.Target target = parseAssignTarget(Set.of("in"), false);
    expectName("in");
    Expr iter = parseTuple(false, Set.of("recursive"), false);
    Expr filter = null;
    if (skipName("if")) filter = parseExpression(true);
    if (cur().isName("recursive")) throw fail("recursive for loops are not supported", cur());
    loopDepth++;
    List<Node> b = body(opener, Set.of("endfor", "else"));
    loopDepth--;
    List<Node> orElse = List.of();
    if (next().text().equals("else")) {
      orElse = body(opener, Set.of("endfor"));
      next();
    }
    return new Node.For(target, iter, filter, b, orElse, opener.line());
  }

  private Node parseSet() {
    Token opener = next();
    Node.Target target = parseAssignTarget(Set.of(), true);
    if (skipOp("=")) return new Node.Set(target, parseTuple(true, Set.of(), false), opener.line());
    Expr.Filter filter = cur().isOp("|") ? parseFilterChain(null, false) : null;
    List<Node> b = body(opener, Set.of("endset"));
    next();
    return new Node.SetBlock(target, filter, b, opener.line());
  }

  private Node parseMacro() {
    Token opener = next();
    String name = expect(Type.NAME, "a macro name").text();
    List<String> params = new ArrayList<>();
    List<Expr> defaults = new ArrayList<>();
    parseSignature(params, defaults);
    int saved = loopDepth;
    loopDepth = 0;
    List<Node> b = body(opener, Set.of("endmacro"));
    loopDepth = saved;
    next();
    return new Node.Macro(name, params, defaults, b, opener.line());
  }

  private void parseSignature(List<String> params, List<Expr> defaults) {
    expectOp("(");
    while (!cur().isOp(")")) {
      if (!params.isEmpty()) expectOp(",");
      params.add(expect(Type.NAME, "a parameter name").text());
      if (skipOp("=")) defaults.add(parseExpression(true));
      else if (!defaults.isEmpty()) throw fail("non-default argument follows default argument", cur());
    }
    expectOp(")");
  }

  private Node parseCallBlock() {
    Token opener = next();
    List<String> params = new ArrayList<>();
    List<Expr> defaults = new ArrayList<>();
    if (cur().isOp("(")) parseSignature(params, defaults);
    Expr call = parseExpression(true);
    if (!(call instanceof Expr.Call c)) throw fail("expected a macro call after 'call'", opener);
    int saved = loopDepth;
    loopDepth = 0;
    List<Node> b = body(opener, Set.of("endcall"));
    loopDepth = saved;
    next();
    return new Node.CallBlock(c, params, defaults, b, opener.line());
  }

  private Node parseFilterBlock() {
    Token opener = next();
    Expr.Filter filter = parseFilterChain(null, true);
    List<Node> b = body(opener, Set.of("endfilter"));
    next();
    return new Node.FilterBlock(filter, b, opener.line());
  }

  private Node parseWith() {
    Token opener = next();
    List<Node.Target> targets = new ArrayList<>();
    List<Expr> values = new ArrayList<>();
    while (cur().type() != Type.BLOCK_END) {
      if (!targets.isEmpty()) expectOp(",");
      targets.add(parseAssignTarget(Set.of(), false));
      expectOp("=");
      values.add(parseExpression(true));
    }
    List<Node> b = body(opener, Set.of("endwith"));
    next();
    return new Node.With(targets, values, b, opener.line());
  }

  /** A name, {@code ns.attr} (for set), or a comma list of names, optionally parenthesised. */
  private Node.Target parseAssignTarget(Set<String> extraEnd, boolean withNamespace) {
    List<Node.Target> items = new ArrayList<>();
    boolean tuple = false;
    while (true) {
      if (!items.isEmpty()) expectOp(",");
      if (isTupleEnd(extraEnd) || cur().isOp("=")) break;
      items.add(targetPrimary(withNamespace));
      if (cur().isOp(",")) tuple = true;
      else break;
    }
    if (items.isEmpty()) throw fail("expected an assignment target, got " + cur().describe(), cur());
    return tuple ? new Node.TupleTarget(items) : items.get(0);
  }

  private Node.Target targetPrimary(boolean withNamespace) {
    Token t = cur();
    if (t.isOp("(")) {
      next();
      Node.Target inner = parseAssignTarget(Set.of(), false);
      expectOp(")");
      return inner;
    }
    if (t.type() != Type.NAME || Set.of("true", "false", "none", "True", "False", "None").contains(t.text())) {
      throw fail("cannot assign to " + t.describe(), t);
    }
    next();
    if (withNamespace && cur().isOp(".")) {
      next();
      return new Node.NamespaceTarget(t.text(), expect(Type.NAME, "an attribute name").text());
    }
    return new Node.NameTarget(t.text());
  }

  // ---- expressions ----

  private boolean isTupleEnd(Set<String> extraEnd) {
    Token t = cur();
    if (t.type() == Type.VAR_END || t.type() == Type.BLOCK_END || t.isOp(")")) return true;
    return t.type() == Type.NAME && extraEnd.contains(t.text());
  }

  /** An expression, or a tuple when commas follow ({@code {{ a, b }}}, {@code {% set x = 1, 2 %}}). */
  private Expr parseTuple(boolean withCondExpr, Set<String> extraEnd, boolean explicitParens) {
    int line = cur().line();
    List<Expr> items = new ArrayList<>();
    boolean tuple = false;
    while (true) {
      if (!items.isEmpty()) expectOp(",");
      if (isTupleEnd(extraEnd)) break;
      items.add(parseExpression(withCondExpr));
      if (cur().isOp(",")) tuple = true;
      else break;
    }
    if (!tuple) {
      if (!items.isEmpty()) return items.get(0);
      if (!explicitParens) throw fail("expected an expression, got " + cur().describe(), cur());
    }
    return new Expr.TupleLit(items, line);
  }

  private Expr parseExpression(boolean withCondExpr) {
    return withCondExpr ? parseCondExpr() : parseOr();
  }

  private Expr parseCondExpr() {
    int line = cur().line();
    int unknownMark = unknownNames.size();
    Expr e = parseOr();
    while (skipName("if")) {
      // The whole conditional expression is a soft frame, including the part parsed before the "if".
      while (unknownNames.size() > unknownMark) unknownNames.remove(unknownNames.size() - 1);
      Expr then = e;
      e = softly(() -> {
        Expr test = parseOr();
        Expr orElse = skipName("else") ? parseCondExpr() : null;
        return new Expr.Conditional(test, then, orElse, line);
      });
    }
    return e;
  }

  private Expr softly(java.util.function.Supplier<Expr> parse) {
    boolean saved = soft;
    soft = true;
    try {
      return parse.get();
    } finally {
      soft = saved;
    }
  }

  private void checkKnown(boolean known, String kind, String name, Token at) {
    if (!known && !soft) unknownNames.add(fail("no " + kind + " named '" + name + "'", at));
  }

  private Expr parseOr() {
    Expr left = parseAnd();
    while (cur().isName("or")) {
      int line = next().line();
      left = new Expr.Binary("or", left, parseAnd(), line);
    }
    return left;
  }

  private Expr parseAnd() {
    Expr left = parseNot();
    while (cur().isName("and")) {
      int line = next().line();
      left = new Expr.Binary("and", left, parseNot(), line);
    }
    return left;
  }

  private Expr parseNot() {
    if (cur().isName("not")) {
      int line = next().line();
      return new Expr.Unary("not", parseNot(), line);
    }
    return parseCompare();
  }

  private Expr parseCompare() {
    int line = cur().line();
    Expr first = parseMath1();
    List<String> ops = new ArrayList<>();
    List<Expr> operands = new ArrayList<>();
    while (true) {
      Token t = cur();
      if (t.type() == Type.OPERATOR && COMPARE_OPS.contains(t.text())) {
        next();
        ops.add(t.text());
      } else if (t.isName("in")) {
        next();
        ops.add("in");
      } else if (t.isName("not") && peek().isName("in")) {
        next();
        next();
        ops.add("notin");
      } else {
        break;
      }
      operands.add(parseMath1());
    }
    return ops.isEmpty() ? first : new Expr.Compare(first, ops, operands, line);
  }

  private Expr parseMath1() {
    Expr left = parseConcat();
    while (cur().isOp("+") || cur().isOp("-")) {
      Token op = next();
      left = new Expr.Binary(op.text(), left, parseConcat(), op.line());
    }
    return left;
  }

  private Expr parseConcat() {
    Expr left = parseMath2();
    while (cur().isOp("~")) {
      Token op = next();
      left = new Expr.Binary("~", left, parseMath2(), op.line());
    }
    return left;
  }

  private Expr parseMath2() {
    Expr left = parsePow();
    while (cur().isOp("*") || cur().isOp("/") || cur().isOp("//") || cur().isOp("%")) {
      Token op = next();
      left = new Expr.Binary(op.text(), left, parsePow(), op.line());
    }
    return left;
  }

  private Expr parsePow() {
    Expr left = parseUnary(true);
    while (cur().isOp("**")) {
      Token op = next();
      left = new Expr.Binary("**", left, parseUnary(true), op.line());
    }
    return left;
  }

  private Expr parseUnary(boolean withFilter) {
    Token t = cur();
    Expr e;
    if (t.isOp("-") || t.isOp("+")) {
      next();
      e = new Expr.Unary(t.text(), parseUnary(false), t.line());
    } else {
      e = parsePrimary();
    }
    e = parsePostfix(e);
    return withFilter ? parseFilterExpr(e) : e;
  }

  private Expr parsePrimary() {
    Token t = cur();
    switch (t.type()) {
      case NAME -> {
        next();
        return switch (t.text()) {
          case "true", "True" -> new Expr.Literal(Boolean.TRUE, t.line());
          case "false", "False" -> new Expr.Literal(Boolean.FALSE, t.line());
          case "none", "None" -> new Expr.Literal(null, t.line());
          default -> new Expr.Name(t.text(), t.line());
        };
      }
      case STRING -> {
        // Adjacent literals concatenate, as in Python.
        StringBuilder sb = new StringBuilder();
        while (cur().type() == Type.STRING) sb.append((String) next().value());
        return new Expr.Literal(sb.toString(), t.line());
      }
      case INTEGER, FLOAT -> {
        next();
        return new Expr.Literal(t.value(), t.line());
      }
      case OPERATOR -> {
        if (t.isOp("(")) {
          next();
          Expr e = parseTuple(true, Set.of(), true);
          expectOp(")");
          return e;
        }
        if (t.isOp("[")) return parseList();
        if (t.isOp("{")) return parseDict();
      }
      default -> {}
    }
    throw fail("unexpected " + t.describe() + ", expected an expression", t);
  }

  private Expr parseList() {
    int line = next().line();
    List<Expr> items = new ArrayList<>();
    while (!cur().isOp("]")) {
      if (!items.isEmpty()) expectOp(",");
      if (cur().isOp("]")) break;
      items.add(parseExpression(true));
    }
    expectOp("]");
    return new Expr.ListLit(items, line);
  }

  private Expr parseDict() {
    int line = next().line();
    List<Expr> keys = new ArrayList<>();
    List<Expr> values = new ArrayList<>();
    while (!cur().isOp("}")) {
      if (!keys.isEmpty()) expectOp(",");
      if (cur().isOp("}")) break;
      keys.add(parseExpression(true));
      expectOp(":");
      values.add(parseExpression(true));
    }
    expectOp("}");
    return new Expr.DictLit(keys, values, line);
  }

  private Expr parsePostfix(Expr e) {
    while (true) {
      Token t = cur();
      if (t.isOp(".")) {
        next();
        Token attr = next();
        if (attr.type() == Type.NAME) e = new Expr.GetAttr(e, attr.text(), t.line());
        else if (attr.type() == Type.INTEGER) e = new Expr.GetItem(e, new Expr.Literal(attr.value(), attr.line()), t.line());
        else throw fail("expected an attribute name or number after '.', got " + attr.describe(), attr);
      } else if (t.isOp("[")) {
        next();
        List<Expr> keys = new ArrayList<>();
        while (!cur().isOp("]")) {
          if (!keys.isEmpty()) expectOp(",");
          keys.add(parseSubscribed());
        }
        expectOp("]");
        if (keys.isEmpty()) throw fail("expected a subscript expression", t);
        e = new Expr.GetItem(e, keys.size() == 1 ? keys.get(0) : new Expr.TupleLit(keys, t.line()), t.line());
      } else if (t.isOp("(")) {
        e = parseCall(e);
      } else {
        return e;
      }
    }
  }

  private Expr parseSubscribed() {
    int line = cur().line();
    Expr start = null;
    if (!cur().isOp(":")) {
      start = parseExpression(true);
      if (!cur().isOp(":")) return start;
    }
    next();
    Expr stop = null, step = null;
    if (!cur().isOp(":") && !cur().isOp("]") && !cur().isOp(",")) stop = parseExpression(true);
    if (skipOp(":") && !cur().isOp("]") && !cur().isOp(",")) step = parseExpression(true);
    return new Expr.Slice(start, stop, step, line);
  }

  private Expr parseFilterExpr(Expr e) {
    while (true) {
      Token t = cur();
      if (t.isOp("|")) e = parseFilterChain(e, false);
      else if (t.isName("is")) e = parseTest(e);
      else if (t.isOp("(")) e = parseCall(e);
      else return e;
    }
  }

  private record CallArgs(List<Expr> args, List<Expr.Kwarg> kwargs, Expr dynArgs, Expr dynKwargs) {}

  private CallArgs parseCallArgs() {
    Token open = cur();
    expectOp("(");
    List<Expr> args = new ArrayList<>();
    List<Expr.Kwarg> kwargs = new ArrayList<>();
    Expr dynArgs = null, dynKwargs = null;
    boolean needComma = false;
    while (!cur().isOp(")")) {
      if (needComma) {
        expectOp(",");
        if (cur().isOp(")")) break;
      }
      if (skipOp("*")) {
        if (dynArgs != null || dynKwargs != null) throw fail("invalid syntax for function call expression", open);
        dynArgs = parseExpression(true);
      } else if (skipOp("**")) {
        if (dynKwargs != null) throw fail("invalid syntax for function call expression", open);
        dynKwargs = parseExpression(true);
      } else if (cur().type() == Type.NAME && peek().isOp("=")) {
        if (dynKwargs != null) throw fail("invalid syntax for function call expression", open);
        String key = next().text();
        next();
        kwargs.add(new Expr.Kwarg(key, parseExpression(true)));
      } else {
        if (dynArgs != null || dynKwargs != null || !kwargs.isEmpty()) {
          throw fail("positional argument follows keyword argument", cur());
        }
        args.add(parseExpression(true));
      }
      needComma = true;
    }
    expectOp(")");
    return new CallArgs(args, kwargs, dynArgs, dynKwargs);
  }

  private Expr parseCall(Expr fn) {
    int line = cur().line();
    CallArgs a = parseCallArgs();
    return new Expr.Call(fn, a.args(), a.kwargs(), a.dynArgs(), a.dynKwargs(), line);
  }

  /** One or more {@code | name(args)}; with {@code startInline} the first filter has no leading pipe. */
  private Expr.Filter parseFilterChain(Expr value, boolean startInline) {
    Expr e = value;
    while (cur().isOp("|") || startInline) {
      if (!startInline) next();
      startInline = false;
      Token nameTok = expect(Type.NAME, "a filter name");
      String name = nameTok.text();
      while (skipOp(".")) name += "." + expect(Type.NAME, "a name").text();
      checkKnown(Filters.exists(name), "filter", name, nameTok);
      List<Expr> args = List.of();
      List<Expr.Kwarg> kwargs = List.of();
      if (cur().isOp("(")) {
        CallArgs a = parseCallArgs();
        if (a.dynArgs() != null || a.dynKwargs() != null) throw fail("*args and **kwargs are not supported in filters", nameTok);
        args = a.args();
        kwargs = a.kwargs();
      }
      e = new Expr.Filter(e, name, args, kwargs, nameTok.line());
    }
    return (Expr.Filter) e;
  }

  private Expr parseTest(Expr value) {
    Token is = next();
    boolean negated = skipName("not");
    Token nameTok = expect(Type.NAME, "a test name");
    String name = nameTok.text();
    while (skipOp(".")) name += "." + expect(Type.NAME, "a name").text();
    checkKnown(Tests.exists(name), "test", name, nameTok);
    List<Expr> args = List.of();
    List<Expr.Kwarg> kwargs = List.of();
    Token t = cur();
    if (t.isOp("(")) {
      CallArgs a = parseCallArgs();
      if (a.dynArgs() != null || a.dynKwargs() != null) throw fail("*args and **kwargs are not supported in tests", nameTok);
      args = a.args();
      kwargs = a.kwargs();
    } else if ((t.type() == Type.NAME || t.type() == Type.STRING || t.type() == Type.INTEGER || t.type() == Type.FLOAT
            || t.isOp("[") || t.isOp("{"))
        && !t.isName("else") && !t.isName("or") && !t.isName("and")) {
      // jinja2 accepts one bare argument: "x is divisibleby 3", "x is sameas false".
      if (t.isName("is")) throw fail("you cannot chain multiple tests with 'is'", t);
      args = List.of(parsePostfix(parsePrimary()));
    }
    Expr test = new Expr.Test(value, name, args, kwargs, is.line());
    return negated ? new Expr.Unary("not", test, is.line()) : test;
  }
}
