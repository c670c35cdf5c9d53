package jswift.template.jinja;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A macro defined with {@code {% macro %}} (or the body of a {@code {% call %}} block, named
 * {@code caller}). Calling it renders its body in a new scope over the scope that defined it, with
 * parameters bound as in Python; defaults are evaluated at call time, missing parameters are undefined,
 * and extra arguments land in {@code varargs} and {@code kwargs} as jinja2 provides them.
 */
final class Macro implements PyCallable {
  private final String name;
  private final List<String> params;
  private final List<Expr> defaults;
  private final List<Node> body;
  private final Interpreter.Scope closure;
  private final Interpreter interpreter;

  Macro(String name, List<String> params, List<Expr> defaults, List<Node> body, Interpreter.Scope closure, Interpreter interpreter) {
    this.name = name;
    this.params = params;
    this.defaults = defaults;
    this.body = body;
    this.closure = closure;
    this.interpreter = interpreter;
  }

  @Override
  public Object call(List<Object> args, Map<String, Object> kwargs) {
    Interpreter.Scope scope = new Interpreter.Scope(closure);
    Map<String, Object> extra = new LinkedHashMap<>(kwargs);
    int firstDefault = params.size() - defaults.size();
    for (int i = 0; i < params.size(); i++) {
      String p = params.get(i);
      if (i < args.size()) {
        if (extra.containsKey(p)) throw Operators.typeError("macro '" + name + "' got multiple values for argument '" + p + "'");
        scope.vars.put(p, args.get(i));
      } else if (extra.containsKey(p)) {
        scope.vars.put(p, extra.remove(p));
      } else if (i >= firstDefault) {
        scope.vars.put(p, interpreter.eval(defaults.get(i - firstDefault), scope));
      } else {
        scope.vars.put(p, Undefined.because("parameter '" + p + "' was not provided"));
      }
    }
    if (extra.containsKey("caller")) scope.vars.put("caller", extra.remove("caller"));
    List<Object> varargs = args.size() > params.size() ? new ArrayList<>(args.subList(params.size(), args.size())) : List.of();
    scope.vars.put("varargs", new PyTuple(varargs));
    scope.vars.put("kwargs", new LinkedHashMap<Object, Object>(extra));
    StringBuilder out = new StringBuilder();
    interpreter.exec(body, scope, out);
    return out.toString();
  }

  @Override
  public String toString() {
    return "<Macro '" + name + "'>";
  }
}
