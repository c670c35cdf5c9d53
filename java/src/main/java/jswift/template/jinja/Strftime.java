package jswift.template.jinja;

import java.time.LocalDateTime;
import java.time.format.TextStyle;
import java.util.Locale;

/**
 * Python's {@code datetime.now().strftime(fmt)} in the C locale, for transformers' {@code strftime_now}
 * global (Llama 3.1+ templates print "Today Date: 26 Jul 2024" with {@code "%d %b %Y"}). Supports the
 * common directives plus glibc's {@code %-d} style no-padding flag; unknown directives are kept as typed.
 */
final class Strftime {
  private Strftime() {}

  static String format(LocalDateTime t, String fmt) {
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < fmt.length(); i++) {
      char c = fmt.charAt(i);
      if (c != '%' || i + 1 >= fmt.length()) {
        sb.append(c);
        continue;
      }
      boolean noPad = fmt.charAt(i + 1) == '-' && i + 2 < fmt.length();
      char d = fmt.charAt(noPad ? i + 2 : i + 1);
      String v = directive(t, d);
      if (v == null) {
        sb.append(fmt, i, noPad ? i + 3 : i + 2);
      } else {
        if (noPad && v.length() > 1) v = v.replaceFirst("^[0 ]+(?=.)", "");
        sb.append(v);
      }
      i += noPad ? 2 : 1;
    }
    return sb.toString();
  }

  private static String directive(LocalDateTime t, char d) {
    return switch (d) {
      case 'a' -> t.getDayOfWeek().getDisplayName(TextStyle.SHORT, Locale.ENGLISH);
      case 'A' -> t.getDayOfWeek().getDisplayName(TextStyle.FULL, Locale.ENGLISH);
      case 'b', 'h' -> t.getMonth().getDisplayName(TextStyle.SHORT, Locale.ENGLISH);
      case 'B' -> t.getMonth().getDisplayName(TextStyle.FULL, Locale.ENGLISH);
      case 'd' -> two(t.getDayOfMonth());
      case 'e' -> String.format(Locale.ROOT, "%2d", t.getDayOfMonth());
      case 'm' -> two(t.getMonthValue());
      case 'y' -> two(t.getYear() % 100);
      case 'Y' -> String.valueOf(t.getYear());
      case 'H' -> two(t.getHour());
      case 'I' -> two(t.getHour() % 12 == 0 ? 12 : t.getHour() % 12);
      case 'M' -> two(t.getMinute());
      case 'S' -> two(t.getSecond());
      case 'p' -> t.getHour() < 12 ? "AM" : "PM";
      case 'j' -> String.format(Locale.ROOT, "%03d", t.getDayOfYear());
      case 'f' -> String.format(Locale.ROOT, "%06d", t.getNano() / 1000);
      case 'w' -> String.valueOf(t.getDayOfWeek().getValue() % 7);
      case 'u' -> String.valueOf(t.getDayOfWeek().getValue());
      case 'F' -> t.getYear() + "-" + two(t.getMonthValue()) + "-" + two(t.getDayOfMonth());
      case 'T' -> two(t.getHour()) + ":" + two(t.getMinute()) + ":" + two(t.getSecond());
      case 'D' -> two(t.getMonthValue()) + "/" + two(t.getDayOfMonth()) + "/" + two(t.getYear() % 100);
      case 'z', 'Z' -> ""; // datetime.now() is naive: Python prints nothing for these
      case '%' -> "%";
      default -> null;
    };
  }

  private static String two(int v) {
    return v < 10 ? "0" + v : String.valueOf(v);
  }
}
