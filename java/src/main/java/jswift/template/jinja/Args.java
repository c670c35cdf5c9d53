package jswift.template.jinja;

import java.util.List;
import java.util.Map;

/**
 * Python-style binding of a call's positional and keyword arguments to named parameters, with Python's
 * error messages for too many arguments and unknown keywords. Built-ins (filters, tests, methods, globals)
 * read their parameters through it so {@code x|indent(2, first=true)} and {@code s.split(maxsplit=1)} work.
 */
final class Args {
  private final String function;
  private final List<Object> positional;
  private final Map<String, Object> keywords;
  private final String[] names;

  Args(String function, List<Object> positional, Map<String, Object> keywords, String... names) {
    this.function = function;
    this.positional = positional;
    this.keywords = keywords;
    this.names = names;
    if (positional.size() > names.length) {
      throw Operators.typeError(function + "() takes at most " + names.length + " argument(s) (" + positional.size() + " given)");
    }
    for (String k : keywords.keySet()) {
      int i = List.of(names).indexOf(k);
      if (i < 0) throw Operators.typeError(function + "() got an unexpected keyword argument '" + k + "'");
      if (i < positional.size()) throw Operators.typeError(function + "() got multiple values for argument '" + k + "'");
    }
  }

  boolean has(int i) {
    return i < positional.size() || keywords.containsKey(names[i]);
  }

  Object get(int i, Object dflt) {
    if (i < positional.size()) return positional.get(i);
    return keywords.getOrDefault(names[i], dflt);
  }

  /** A required parameter. */
  Object require(int i) {
    if (!has(i)) throw Operators.typeError(function + "() missing required argument '" + names[i] + "'");
    return get(i, null);
  }

  String string(int i, String dflt) {
    Object v = get(i, dflt);
    if (v == null || v instanceof String) return (String) v;
    throw Operators.typeError(function + "() argument '" + names[i] + "' must be str, not " + Py.typeName(v));
  }

  long integer(int i, long dflt) {
    Object v = get(i, dflt);
    if (Py.isInt(v)) return Py.asLong(v);
    if (v == null) return dflt;
    throw Operators.typeError("'" + Py.typeName(v) + "' object cannot be interpreted as an integer");
  }

  boolean bool(int i, boolean dflt) {
    return Py.truthy(get(i, dflt));
  }
}
