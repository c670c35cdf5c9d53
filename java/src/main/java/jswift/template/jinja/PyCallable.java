package jswift.template.jinja;

import java.util.List;
import java.util.Map;

/** Anything a template can call: globals such as {@code range}, bound methods such as {@code s.split}, macros. */
@FunctionalInterface
interface PyCallable {
  Object call(List<Object> args, Map<String, Object> kwargs);
}
