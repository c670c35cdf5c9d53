package jswift.template.jinja;

import java.util.List;

/**
 * The {@code loop} variable inside a for loop: {@code index}, {@code index0}, {@code revindex},
 * {@code revindex0}, {@code first}, {@code last}, {@code length}, {@code previtem}, {@code nextitem},
 * {@code depth}, {@code cycle(...)} and {@code changed(...)}. Lengths count the items that passed the
 * loop's {@code if} filter, as in jinja2.
 */
final class LoopInfo {
  private final List<Object> items;
  int index0;
  private List<Object> lastChanged;

  LoopInfo(List<Object> items) {
    this.items = items;
  }

  Object attr(String name) {
    int n = items.size();
    return switch (name) {
      case "index" -> (long) index0 + 1;
      case "index0" -> (long) index0;
      case "revindex" -> (long) (n - index0);
      case "revindex0" -> (long) (n - index0 - 1);
      case "first" -> index0 == 0;
      case "last" -> index0 == n - 1;
      case "length" -> (long) n;
      case "depth" -> 1L;
      case "depth0" -> 0L;
      case "previtem" -> index0 > 0 ? items.get(index0 - 1) : Undefined.because("there is no previous item");
      case "nextitem" -> index0 < n - 1 ? items.get(index0 + 1) : Undefined.because("there is no next item");
      case "cycle" -> (PyCallable) (args, kw) -> {
        if (args.isEmpty()) throw Operators.typeError("no items for cycling given");
        return args.get(index0 % args.size());
      };
      case "changed" -> (PyCallable) (args, kw) -> {
        if (lastChanged != null && Py.eq(lastChanged, args)) return false;
        lastChanged = args;
        return true;
      };
      default -> Undefined.member(this, name);
    };
  }

  @Override
  public String toString() {
    return "<LoopContext " + (index0 + 1) + "/" + items.size() + ">";
  }
}
