package jswift.template.jinja;

/**
 * jinja2's default {@code Undefined}: what a missing variable, key, attribute or index evaluates to. It
 * renders as the empty string, is falsy, iterates as empty and has length 0, so templates can probe
 * optional fields ({@code message.reasoning_content is defined}); any other use (an attribute of it, a
 * call, arithmetic, ordering) fails with an {@code UndefinedError} naming what was missing.
 */
final class Undefined {
  private final String hint;
  private final TemplateException.Kind failKind;

  private Undefined(String hint, TemplateException.Kind failKind) {
    this.hint = hint;
    this.failKind = failKind;
  }

  /** An undefined variable {@code name}. */
  static Undefined name(String name) {
    return new Undefined("'" + name + "' is undefined", TemplateException.Kind.UNDEFINED);
  }

  /** A missing attribute or item {@code key} of {@code owner}. */
  static Undefined member(Object owner, Object key) {
    String k = key instanceof String s ? s : Py.repr(key);
    return new Undefined("'" + Py.typeName(owner) + " object' has no attribute '" + k + "'", TemplateException.Kind.UNDEFINED);
  }

  /** A value with a free-form explanation, e.g. "No first item, sequence was empty.". */
  static Undefined because(String hint) {
    return new Undefined(hint, TemplateException.Kind.UNDEFINED);
  }

  /** What the sandbox returns for a refused attribute such as {@code list.append}: using it raises. */
  static Undefined unsafe(Object owner, String attr) {
    return new Undefined("access to attribute '" + attr + "' of '" + Py.typeName(owner) + "' object is unsafe.",
        TemplateException.Kind.SECURITY);
  }

  /** The error for using this value where a real one is needed. */
  TemplateException fail() {
    return new TemplateException(failKind, hint, 0, 0);
  }

  @Override
  public String toString() {
    return "";
  }
}
