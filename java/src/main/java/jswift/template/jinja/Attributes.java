package jswift.template.jinja;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * {@code obj.name} and {@code obj[key]} as transformers' ImmutableSandboxedEnvironment resolves them.
 * A dot looks for a Python attribute first (so {@code d.items} is the method) and falls back to the item;
 * a subscript looks for the item first and falls back to the attribute. What is missing becomes
 * {@link Undefined} rather than an error. The Python methods of str, dict and list are provided here;
 * the ones that mutate a list or dict (append, update, pop...) are refused with a SecurityError, exactly
 * as the immutable sandbox refuses them.
 */
final class Attributes {
  private Attributes() {}

  private static final Set<String> DICT_METHODS = Set.of("items", "keys", "values", "get", "copy");
  private static final Set<String> DICT_MUTATORS = Set.of("pop", "popitem", "setdefault", "update", "clear");
  private static final Set<String> LIST_METHODS = Set.of("count", "index", "copy");
  private static final Set<String> LIST_MUTATORS = Set.of("append", "extend", "insert", "pop", "remove", "reverse", "sort", "clear");
  private static final Set<String> STR_METHODS = Set.of(
      "startswith", "endswith", "strip", "lstrip", "rstrip", "split", "rsplit", "splitlines", "replace", "upper",
      "lower", "title", "capitalize", "casefold", "swapcase", "find", "rfind", "index", "rindex", "count", "join",
      "format", "isdigit", "isdecimal", "isnumeric", "isalpha", "isalnum", "isspace", "islower", "isupper",
      "removeprefix", "removesuffix", "zfill", "ljust", "rjust", "center", "partition", "rpartition");

  static Object getattr(Object obj, String name) {
    if (obj instanceof Undefined u) throw u.fail();
    if (obj instanceof Map<?, ?> m) {
      if (DICT_METHODS.contains(name)) return dictMethod(m, name);
      if (DICT_MUTATORS.contains(name)) return Undefined.unsafe(obj, name);
      Object k = Py.findKey(m, name);
      return k == Py.MISSING ? Undefined.member(obj, name) : m.get(k);
    }
    Object attr = attribute(obj, name);
    return attr != Py.MISSING ? attr : Undefined.member(obj, name);
  }

  static Object getitem(Object obj, Object key) {
    if (obj instanceof Undefined u) throw u.fail();
    Object v = Operators.item(obj, key);
    if (v != Py.MISSING) return v;
    if (key instanceof String name) {
      if (obj instanceof Map<?, ?>) {
        if (DICT_METHODS.contains(name)) return dictMethod((Map<?, ?>) obj, name);
        if (DICT_MUTATORS.contains(name)) return Undefined.unsafe(obj, name);
      } else {
        Object attr = attribute(obj, name);
        if (attr != Py.MISSING) return attr;
      }
    }
    return Undefined.member(obj, key);
  }

  /** Python attributes of non-dict values, or MISSING. */
  private static Object attribute(Object obj, String name) {
    if (obj instanceof String s && STR_METHODS.contains(name)) return (PyCallable) (a, kw) -> strMethod(s, name, a, kw);
    if (obj instanceof List<?> l) {
      if (LIST_METHODS.contains(name)) return listMethod(l, name);
      if (LIST_MUTATORS.contains(name)) return obj instanceof PyTuple ? Py.MISSING : Undefined.unsafe(obj, name);
    }
    if (obj instanceof Namespace ns) return ns.attrs.containsKey(name) ? ns.attrs.get(name) : Py.MISSING;
    if (obj instanceof LoopInfo loop) return loop.attr(name);
    return Py.MISSING;
  }

  private static PyCallable dictMethod(Map<?, ?> m, String name) {
    return (a, kw) -> switch (name) {
      case "items" -> {
        new Args("items", a, kw);
        List<Object> out = new ArrayList<>();
        for (Map.Entry<?, ?> e : m.entrySet()) out.add(PyTuple.of(e.getKey(), e.getValue()));
        yield out;
      }
      case "keys" -> {
        new Args("keys", a, kw);
        yield new ArrayList<Object>(m.keySet());
      }
      case "values" -> {
        new Args("values", a, kw);
        yield new ArrayList<Object>(m.values());
      }
      case "copy" -> {
        new Args("copy", a, kw);
        yield new LinkedHashMap<Object, Object>(m);
      }
      default -> { // get
        if (!kw.isEmpty()) throw Operators.typeError("get() takes no keyword arguments");
        Args args = new Args("get", a, kw, "key", "default");
        Object k = Py.findKey(m, args.require(0));
        yield k == Py.MISSING ? args.get(1, null) : m.get(k);
      }
    };
  }

  private static PyCallable listMethod(List<?> l, String name) {
    return (a, kw) -> switch (name) {
      case "count" -> {
        Object x = new Args("count", a, kw, "value").require(0);
        long n = 0;
        for (Object o : l) if (Py.eq(o, x)) n++;
        yield n;
      }
      case "index" -> {
        Object x = new Args("index", a, kw, "value").require(0);
        for (int i = 0; i < l.size(); i++) if (Py.eq(l.get(i), x)) yield (long) i;
        throw TemplateException.runtime("ValueError: " + Py.repr(x) + " is not in list");
      }
      default -> {
        new Args("copy", a, kw);
        yield new ArrayList<Object>(l);
      }
    };
  }

  private static Object strMethod(String s, String name, List<Object> a, Map<String, Object> kw) {
    switch (name) {
      case "startswith", "endswith": {
        Args args = new Args(name, a, kw, "prefix", "start", "end");
        String sub = substring(s, args);
        Object p = args.require(0);
        List<?> options = p instanceof PyTuple t ? t : List.of(p);
        for (Object o : options) {
          if (!(o instanceof String x)) {
            throw Operators.typeError(name + " first arg must be str or a tuple of str, not " + Py.typeName(o));
          }
          if (name.equals("startswith") ? sub.startsWith(x) : sub.endsWith(x)) return true;
        }
        return false;
      }
      case "strip", "lstrip", "rstrip": {
        String chars = new Args(name, a, kw, "chars").string(0, null);
        return PyStrings.strip(s, chars, !name.equals("rstrip"), !name.equals("lstrip"));
      }
      case "split", "rsplit": {
        Args args = new Args(name, a, kw, "sep", "maxsplit");
        String sep = args.string(0, null);
        long max = args.integer(1, -1);
        return name.equals("split") ? PyStrings.split(s, sep, max) : PyStrings.rsplit(s, sep, max);
      }
      case "splitlines":
        new Args(name, a, kw, "keepends");
        return new ArrayList<Object>(PyStrings.splitlines(s));
      case "replace": {
        Args args = new Args(name, a, kw, "old", "new", "count");
        return PyStrings.replace(s, str(args.require(0), name), str(args.require(1), name), args.integer(2, -1));
      }
      case "upper":
        return PyStrings.upper(noArgs(s, name, a, kw));
      case "lower", "casefold":
        return PyStrings.lower(noArgs(s, name, a, kw));
      case "title":
        return PyStrings.title(noArgs(s, name, a, kw));
      case "capitalize":
        return PyStrings.capitalize(noArgs(s, name, a, kw));
      case "swapcase": {
        StringBuilder sb = new StringBuilder();
        noArgs(s, name, a, kw).codePoints().forEach(cp -> sb.append(Character.isUpperCase(cp)
            ? PyStrings.lower(Character.toString(cp)) : PyStrings.upper(Character.toString(cp))));
        return sb.toString();
      }
      case "find", "rfind", "index", "rindex", "count": {
        Args args = new Args(name, a, kw, "sub", "start", "end");
        String sub = str(args.require(0), name);
        long start = args.has(1) && args.get(1, null) != null ? args.integer(1, 0) : 0;
        int n = PyStrings.length(s);
        if (start < 0) start = Math.max(0, start + n);
        String hay = substring(s, args);
        int offset = (int) Math.min(start, n);
        if (name.equals("count")) {
          if (sub.isEmpty()) return (long) PyStrings.length(hay) + 1;
          long c = 0;
          for (int i = hay.indexOf(sub); i >= 0; i = hay.indexOf(sub, i + sub.length())) c++;
          return c;
        }
        int at = name.startsWith("r") ? hay.lastIndexOf(sub) : hay.indexOf(sub);
        if (at < 0) {
          if (name.endsWith("index")) throw TemplateException.runtime("ValueError: substring not found");
          return -1L;
        }
        return (long) (offset + hay.codePointCount(0, at));
      }
      case "join": {
        Object items = new Args(name, a, kw, "iterable").require(0);
        StringBuilder sb = new StringBuilder();
        int i = 0;
        for (Object o : Py.iterate(items)) {
          if (!(o instanceof String x)) {
            throw Operators.typeError("sequence item " + i + ": expected str instance, " + Py.typeName(o) + " found");
          }
          if (i++ > 0) sb.append(s);
          sb.append(x);
        }
        return sb.toString();
      }
      case "format":
        return StrFormat.format(s, a, kw);
      case "isdigit", "isdecimal", "isnumeric":
        return allMatch(noArgs(s, name, a, kw), Character::isDigit);
      case "isalpha":
        return allMatch(noArgs(s, name, a, kw), Character::isLetter);
      case "isalnum":
        return allMatch(noArgs(s, name, a, kw), Character::isLetterOrDigit);
      case "isspace":
        return allMatch(noArgs(s, name, a, kw), PyStrings::isSpace);
      case "islower", "isupper": {
        noArgs(s, name, a, kw);
        boolean cased = false;
        for (int cp : PyStrings.codePoints(s)) {
          if (name.equals("islower") ? Character.isUpperCase(cp) || Character.isTitleCase(cp) : Character.isLowerCase(cp) || Character.isTitleCase(cp)) return false;
          if (Character.isUpperCase(cp) || Character.isLowerCase(cp)) cased = true;
        }
        return cased;
      }
      case "removeprefix", "removesuffix": {
        String x = str(new Args(name, a, kw, "affix").require(0), name);
        if (name.equals("removeprefix")) return s.startsWith(x) ? s.substring(x.length()) : s;
        return s.endsWith(x) && !x.isEmpty() ? s.substring(0, s.length() - x.length()) : s;
      }
      case "zfill": {
        long w = new Args(name, a, kw, "width").integer(0, 0);
        int pad = (int) (w - PyStrings.length(s));
        if (pad <= 0) return s;
        int sign = s.startsWith("-") || s.startsWith("+") ? 1 : 0;
        return s.substring(0, sign) + "0".repeat(pad) + s.substring(sign);
      }
      case "ljust", "rjust", "center": {
        Args args = new Args(name, a, kw, "width", "fillchar");
        long width = args.integer(0, 0);
        String fill = args.string(1, " ");
        if (PyStrings.length(fill) != 1) throw Operators.typeError("The fill character must be exactly one character long");
        int pad = (int) (width - PyStrings.length(s));
        if (pad <= 0) return s;
        if (name.equals("ljust")) return s + fill.repeat(pad);
        if (name.equals("rjust")) return fill.repeat(pad) + s;
        return PyStrings.center(s, width, fill);
      }
      default: { // partition, rpartition
        String sep = str(new Args(name, a, kw, "sep").require(0), name);
        if (sep.isEmpty()) throw TemplateException.runtime("ValueError: empty separator");
        int at = name.equals("partition") ? s.indexOf(sep) : s.lastIndexOf(sep);
        if (at < 0) return name.equals("partition") ? PyTuple.of(s, "", "") : PyTuple.of("", "", s);
        return PyTuple.of(s.substring(0, at), sep, s.substring(at + sep.length()));
      }
    }
  }

  private static String noArgs(String s, String name, List<Object> a, Map<String, Object> kw) {
    new Args(name, a, kw);
    return s;
  }

  private static String str(Object v, String fn) {
    if (v instanceof String s) return s;
    throw Operators.typeError(fn + "() argument must be str, not " + Py.typeName(v));
  }

  private static boolean allMatch(String s, java.util.function.IntPredicate p) {
    return !s.isEmpty() && s.codePoints().allMatch(p);
  }

  /** {@code s[start:end]} for the optional start/end parameters at positions 1 and 2 of {@code args}. */
  private static String substring(String s, Args args) {
    Object start = args.get(1, null), end = args.get(2, null);
    if (start == null && end == null) return s;
    Operators.SliceValue sl = new Operators.SliceValue(start == null ? null : Py.asLong(start), end == null ? null : Py.asLong(end), null);
    return (String) Operators.item(s, sl);
  }
}
