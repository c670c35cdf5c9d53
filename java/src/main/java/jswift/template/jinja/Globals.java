package jswift.template.jinja;

import java.time.Clock;
import java.time.LocalDateTime;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The functions a chat template can call without arguments from the caller: jinja2's {@code range},
 * {@code namespace} and {@code dict}, and transformers' {@code raise_exception(message)} and
 * {@code strftime_now(format)}. {@code range} keeps the sandbox's limit of 100000 items.
 */
final class Globals {
  private Globals() {}

  static final int MAX_RANGE = 100_000;

  static Map<String, Object> create(Clock clock) {
    Map<String, Object> g = new LinkedHashMap<>();
    g.put("range", (PyCallable) Globals::range);
    g.put("namespace", (PyCallable) (a, kw) -> {
      Namespace ns = new Namespace();
      for (Object arg : a) {
        if (!(arg instanceof Map<?, ?> m)) throw Operators.typeError("namespace() takes a mapping or keyword arguments");
        for (Map.Entry<?, ?> e : m.entrySet()) ns.attrs.put(Py.str(e.getKey()), e.getValue());
      }
      ns.attrs.putAll(kw);
      return ns;
    });
    g.put("dict", (PyCallable) (a, kw) -> {
      Map<Object, Object> d = new LinkedHashMap<>();
      if (a.size() > 1) throw Operators.typeError("dict expected at most 1 argument, got " + a.size());
      if (a.size() == 1) {
        if (a.get(0) instanceof Map<?, ?> m) d.putAll(m);
        else for (Object pair : Py.iterate(a.get(0))) {
          List<Object> kv = Py.iterate(pair);
          if (kv.size() != 2) throw TemplateException.runtime("ValueError: dictionary update sequence element has length " + kv.size() + "; 2 is required");
          d.put(kv.get(0), kv.get(1));
        }
      }
      d.putAll(kw);
      return d;
    });
    g.put("raise_exception", (PyCallable) (a, kw) -> {
      Object msg = new Args("raise_exception", a, kw, "message").require(0);
      throw new TemplateException(TemplateException.Kind.RAISED, Py.str(msg), 0, 0);
    });
    g.put("strftime_now", (PyCallable) (a, kw) -> {
      Object fmt = new Args("strftime_now", a, kw, "format").require(0);
      if (!(fmt instanceof String f)) throw Operators.typeError("strftime() argument 1 must be str, not " + Py.typeName(fmt));
      return Strftime.format(LocalDateTime.now(clock), f);
    });
    return g;
  }

  private static Object range(List<Object> a, Map<String, Object> kw) {
    if (!kw.isEmpty()) throw Operators.typeError("range() takes no keyword arguments");
    if (a.isEmpty() || a.size() > 3) throw Operators.typeError("range expected 1 to 3 arguments, got " + a.size());
    for (Object o : a) {
      if (!Py.isInt(o)) throw Operators.typeError("'" + Py.typeName(o) + "' object cannot be interpreted as an integer");
    }
    long start = a.size() == 1 ? 0 : Py.asLong(a.get(0));
    long stop = Py.asLong(a.get(a.size() == 1 ? 0 : 1));
    long step = a.size() == 3 ? Py.asLong(a.get(2)) : 1;
    if (step == 0) throw TemplateException.runtime("ValueError: range() arg 3 must not be zero");
    long n = step > 0 ? Math.max(0, (stop - start + step - 1) / step) : Math.max(0, (start - stop - step - 1) / -step);
    if (n > MAX_RANGE) {
      throw TemplateException.runtime("OverflowError: Range too big. The sandbox blocks ranges larger than MAX_RANGE (" + MAX_RANGE + ").");
    }
    List<Object> out = new ArrayList<>((int) n);
    for (long i = 0, v = start; i < n; i++, v += step) out.add(v);
    return out;
  }
}
