package jswift.template.jinja;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Walks the syntax tree and writes the output. Scoping follows jinja2: {@code if} opens no scope, each
 * for-loop iteration runs in a fresh scope over the enclosing one (so a {@code set} inside a loop is
 * neither seen after the loop nor carried to the next iteration; {@code namespace()} objects are the way
 * out), and a macro call runs in a fresh scope over the scope that defined the macro. Runtime errors are
 * stamped with the line of the innermost expression or statement that failed.
 */
final class Interpreter {
  /** How a statement list ended: normally, or by {@code break} / {@code continue}. */
  enum Signal { NORMAL, BREAK, CONTINUE }

  /** One level of variables; lookups walk up to the globals. */
  static final class Scope {
    final Scope parent;
    final Map<String, Object> vars = new HashMap<>();

    Scope(Scope parent) {
      this.parent = parent;
    }

    Object get(String name) {
      for (Scope s = this; s != null; s = s.parent) {
        Object v = s.vars.getOrDefault(name, Py.MISSING);
        if (v != Py.MISSING || s.vars.containsKey(name)) return v;
      }
      return Py.MISSING;
    }
  }

  String render(List<Node> body, Scope scope) {
    StringBuilder out = new StringBuilder();
    exec(body, scope, out);
    return out.toString();
  }

  // ---- statements ----

  Signal exec(List<Node> nodes, Scope scope, StringBuilder out) {
    for (Node n : nodes) {
      Signal s = exec(n, scope, out);
      if (s != Signal.NORMAL) return s;
    }
    return Signal.NORMAL;
  }

  private Signal exec(Node node, Scope scope, StringBuilder out) {
    try {
      return execInner(node, scope, out);
    } catch (TemplateException e) {
      throw e.atLine(node.line());
    } catch (ArithmeticException e) {
      throw TemplateException.runtime("OverflowError: integer result does not fit in 64 bits").atLine(node.line());
    } catch (StackOverflowError e) {
      throw TemplateException.runtime("RecursionError: maximum recursion depth exceeded").atLine(node.line());
    }
  }

  private Signal execInner(Node node, Scope scope, StringBuilder out) {
    // Java 17 has no pattern switch: an instanceof chain over the sealed node types.
    if (node instanceof Node.Text t) {
      out.append(t.text());
    } else if (node instanceof Node.Print p) {
      out.append(Py.str(eval(p.expr(), scope)));
    } else if (node instanceof Node.If i) {
      for (Node.Branch b : i.branches()) {
        if (Py.truthy(eval(b.test(), scope))) return exec(b.body(), scope, out);
      }
      return exec(i.orElse(), scope, out);
    } else if (node instanceof Node.For f) {
      return execFor(f, scope, out);
    } else if (node instanceof Node.Set s) {
      assign(s.target(), eval(s.value(), scope), scope);
    } else if (node instanceof Node.SetBlock s) {
      StringBuilder body = new StringBuilder();
      exec(s.body(), scope, body);
      Object v = s.filter() == null ? body.toString() : applyFilter(s.filter(), body.toString(), scope);
      assign(s.target(), v, scope);
    } else if (node instanceof Node.Macro m) {
      scope.vars.put(m.name(), new Macro(m.name(), m.params(), m.defaults(), m.body(), scope, this));
    } else if (node instanceof Node.CallBlock c) {
      Macro caller = new Macro("caller", c.params(), c.defaults(), c.body(), scope, this);
      out.append(Py.str(call(c.call(), scope, caller)));
    } else if (node instanceof Node.FilterBlock f) {
      StringBuilder body = new StringBuilder();
      exec(f.body(), scope, body);
      out.append(Py.str(applyFilter(f.filter(), body.toString(), scope)));
    } else if (node instanceof Node.With w) {
      Scope inner = new Scope(scope);
      for (int k = 0; k < w.targets().size(); k++) assign(w.targets().get(k), eval(w.values().get(k), scope), inner);
      return exec(w.body(), inner, out);
    } else if (node instanceof Node.Generation g) {
      return exec(g.body(), scope, out);
    } else if (node instanceof Node.Break) {
      return Signal.BREAK;
    } else if (node instanceof Node.Continue) {
      return Signal.CONTINUE;
    }
    return Signal.NORMAL;
  }

  private Signal execFor(Node.For f, Scope scope, StringBuilder out) {
    List<Object> items = Py.iterate(eval(f.iter(), scope));
    if (f.filter() != null) {
      // The loop's "if" filters before loop.index and loop.length are computed, as in jinja2.
      List<Object> kept = new ArrayList<>();
      for (Object item : items) {
        Scope probe = new Scope(scope);
        assign(f.target(), item, probe);
        if (Py.truthy(eval(f.filter(), probe))) kept.add(item);
      }
      items = kept;
    }
    if (items.isEmpty()) return exec(f.orElse(), scope, out);
    LoopInfo loop = new LoopInfo(items);
    for (int i = 0; i < items.size(); i++) {
      loop.index0 = i;
      Scope iteration = new Scope(scope);
      assign(f.target(), items.get(i), iteration);
      iteration.vars.put("loop", loop);
      if (exec(f.body(), iteration, out) == Signal.BREAK) break;
    }
    return Signal.NORMAL;
  }

  private void assign(Node.Target target, Object value, Scope scope) {
    if (target instanceof Node.NameTarget n) {
      scope.vars.put(n.name(), value);
    } else if (target instanceof Node.NamespaceTarget t) {
      Object ns = scope.get(t.namespace());
      if (!(ns instanceof Namespace namespace)) {
        throw TemplateException.runtime("TemplateRuntimeError: cannot assign attribute on non-namespace object");
      }
      namespace.attrs.put(t.attr(), value);
    } else if (target instanceof Node.TupleTarget t) {
      List<Object> items = Py.iterate(value);
      int n = t.items().size();
      if (items.size() < n) throw TemplateException.runtime("ValueError: not enough values to unpack (expected " + n + ", got " + items.size() + ")");
      if (items.size() > n) throw TemplateException.runtime("ValueError: too many values to unpack (expected " + n + ")");
      for (int k = 0; k < n; k++) assign(t.items().get(k), items.get(k), scope);
    }
  }

  // ---- expressions ----

  Object eval(Expr e, Scope scope) {
    try {
      return evalInner(e, scope);
    } catch (TemplateException ex) {
      throw ex.atLine(e.line());
    }
  }

  private Object evalInner(Expr e, Scope scope) {
    if (e instanceof Expr.Literal l) {
      return l.value();
    } else if (e instanceof Expr.Name n) {
      Object v = scope.get(n.name());
      return v == Py.MISSING ? Undefined.name(n.name()) : v;
    } else if (e instanceof Expr.ListLit l) {
      List<Object> out = new ArrayList<>(l.items().size());
      for (Expr item : l.items()) out.add(eval(item, scope));
      return out;
    } else if (e instanceof Expr.TupleLit t) {
      List<Object> out = new ArrayList<>(t.items().size());
      for (Expr item : t.items()) out.add(eval(item, scope));
      return new PyTuple(out);
    } else if (e instanceof Expr.DictLit d) {
      Map<Object, Object> out = new LinkedHashMap<>();
      for (int k = 0; k < d.keys().size(); k++) {
        Object key = eval(d.keys().get(k), scope);
        if (key instanceof List && !(key instanceof PyTuple) || key instanceof Map || key instanceof Undefined) {
          throw Operators.typeError("unhashable type: '" + Py.typeName(key) + "'");
        }
        Object existing = Py.findKey(out, key);
        out.put(existing == Py.MISSING ? key : existing, eval(d.values().get(k), scope));
      }
      return out;
    } else if (e instanceof Expr.GetAttr g) {
      return Attributes.getattr(eval(g.obj(), scope), g.name());
    } else if (e instanceof Expr.GetItem g) {
      Object obj = eval(g.obj(), scope);
      // jinja2 compiles slices to plain Python subscripts (no getitem fallback): bad slices raise.
      if (g.key() instanceof Expr.Slice s) return Operators.slice(obj, slice(s, scope));
      return Attributes.getitem(obj, eval(g.key(), scope));
    } else if (e instanceof Expr.Slice s) {
      return slice(s, scope);
    } else if (e instanceof Expr.Call c) {
      return call(c, scope, null);
    } else if (e instanceof Expr.Filter f) {
      return applyFilter(f, null, scope);
    } else if (e instanceof Expr.Test t) {
      Object v = eval(t.value(), scope);
      return Tests.apply(this, t.name(), v, evalArgs(t.args(), scope), evalKwargs(t.kwargs(), scope));
    } else if (e instanceof Expr.Unary u) {
      Object v = eval(u.operand(), scope);
      return u.op().equals("not") ? !Py.truthy(v) : Operators.unary(u.op(), v);
    } else if (e instanceof Expr.Binary b) {
      Object left = eval(b.left(), scope);
      switch (b.op()) {
        case "and":
          return Py.truthy(left) ? eval(b.right(), scope) : left;
        case "or":
          return Py.truthy(left) ? left : eval(b.right(), scope);
        case "~":
          return Py.str(left) + Py.str(eval(b.right(), scope));
        default:
          return Operators.binary(b.op(), left, eval(b.right(), scope));
      }
    } else if (e instanceof Expr.Compare c) {
      Object left = eval(c.first(), scope);
      for (int k = 0; k < c.ops().size(); k++) {
        Object right = eval(c.operands().get(k), scope);
        if (!compare(c.ops().get(k), left, right)) return false;
        left = right;
      }
      return true;
    } else if (e instanceof Expr.Conditional c) {
      if (Py.truthy(eval(c.test(), scope))) return eval(c.then(), scope);
      if (c.orElse() != null) return eval(c.orElse(), scope);
      return Undefined.because("the inline if-expression on line " + c.line() + " evaluated to false and no else section was defined.");
    }
    throw new IllegalStateException("unknown expression " + e);
  }

  private static boolean compare(String op, Object a, Object b) {
    return switch (op) {
      case "==" -> Py.eq(a, b);
      case "!=" -> !Py.eq(a, b);
      case "<" -> Py.compare(a, b, op) < 0;
      case "<=" -> Py.compare(a, b, op) <= 0;
      case ">" -> Py.compare(a, b, op) > 0;
      case ">=" -> Py.compare(a, b, op) >= 0;
      case "in" -> Py.contains(b, a);
      case "notin" -> !Py.contains(b, a);
      default -> throw new IllegalStateException(op);
    };
  }

  private Operators.SliceValue slice(Expr.Slice s, Scope scope) {
    return new Operators.SliceValue(sliceIndex(s.start(), scope), sliceIndex(s.stop(), scope), sliceIndex(s.step(), scope));
  }

  private Long sliceIndex(Expr e, Scope scope) {
    if (e == null) return null;
    Object v = eval(e, scope);
    if (v == null) return null;
    if (!Py.isInt(v)) throw Operators.typeError("slice indices must be integers or None or have an __index__ method");
    return Py.asLong(v);
  }

  private List<Object> evalArgs(List<Expr> args, Scope scope) {
    List<Object> out = new ArrayList<>(args.size());
    for (Expr a : args) out.add(eval(a, scope));
    return out;
  }

  private Map<String, Object> evalKwargs(List<Expr.Kwarg> kwargs, Scope scope) {
    Map<String, Object> out = new LinkedHashMap<>();
    for (Expr.Kwarg k : kwargs) out.put(k.name(), eval(k.value(), scope));
    return out;
  }

  /** Evaluates a call; {@code caller} is the body of a {@code {% call %}} block, passed as a keyword. */
  private Object call(Expr.Call c, Scope scope, Macro caller) {
    Object fn = eval(c.fn(), scope);
    List<Object> args = evalArgs(c.args(), scope);
    Map<String, Object> kwargs = evalKwargs(c.kwargs(), scope);
    if (c.dynArgs() != null) args.addAll(Py.iterate(eval(c.dynArgs(), scope)));
    if (c.dynKwargs() != null) {
      Object m = eval(c.dynKwargs(), scope);
      if (!(m instanceof Map<?, ?> map)) throw Operators.typeError("argument after ** must be a mapping, not " + Py.typeName(m));
      for (Map.Entry<?, ?> en : map.entrySet()) kwargs.put(Py.str(en.getKey()), en.getValue());
    }
    if (caller != null) kwargs.put("caller", caller);
    if (fn instanceof Undefined u) throw u.fail();
    if (!(fn instanceof PyCallable callable)) throw Operators.typeError("'" + Py.typeName(fn) + "' object is not callable");
    return callable.call(args, kwargs);
  }

  /** Applies a filter chain; a chain whose innermost value is null (filter and set blocks) starts from {@code input}. */
  private Object applyFilter(Expr.Filter f, Object input, Scope scope) {
    Object v;
    if (f.value() == null) v = input;
    else if (f.value() instanceof Expr.Filter inner && input != null) v = applyFilter(inner, input, scope);
    else v = eval(f.value(), scope);
    try {
      return Filters.apply(this, f.name(), v, evalArgs(f.args(), scope), evalKwargs(f.kwargs(), scope));
    } catch (TemplateException ex) {
      throw ex.atLine(f.line());
    }
  }
}
