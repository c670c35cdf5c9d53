package jswift.template;

import java.util.Map;

/**
 * Fills the {@code {{NAME}}} placeholders of template text in one pass. The values are never scanned again, so
 * a user who types {@code {{SYSTEM}}} gets those characters, not the system prompt (ms-swift replaces one
 * placeholder after the other over the growing text).
 */
final class Placeholders {
  private Placeholders() {}

  static String fill(String template, String name, String value) {
    return fill(template, Map.of(name, value));
  }

  /** Placeholders absent from {@code values} stay as written. */
  static String fill(String template, Map<String, String> values) {
    if (template.indexOf("{{") < 0) return template;
    StringBuilder sb = new StringBuilder(template.length());
    int i = 0;
    while (i < template.length()) {
      int open = template.indexOf("{{", i);
      if (open < 0) break;
      int close = template.indexOf("}}", open + 2);
      if (close < 0) break;
      String value = values.get(template.substring(open, close + 2));
      if (value == null) {  // not one of ours: keep the braces and look further on
        sb.append(template, i, open + 2);
        i = open + 2;
        continue;
      }
      sb.append(template, i, open).append(value);
      i = close + 2;
    }
    return sb.append(template, i, template.length()).toString();
  }
}
