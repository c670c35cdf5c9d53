package jswift.train;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.ServiceLoader;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Pattern;

/**
 * ms-swift's built-in GRPO rewards ({@code swift/plugin/orm.py}), by their {@code --reward_funcs} names:
 * <ul>
 *   <li>{@code accuracy}: 1 when the completion's final answer equals the row's {@code solution} column, else 0
 *       ({@link MathAnswer});
 *   <li>{@code format}: 1 when the completion is {@code <think>...</think>} then {@code <answer>...</answer>} and
 *       nothing after, else 0;
 *   <li>{@code react_format}: 1 when it is {@code <think>...</think>} then {@code Action: ... Action Input: ...};
 *   <li>{@code cosine} (Yeo et al. 2025): by length L in tokens, r_L + (r_0 - r_L)(1 + cos(pi L / L_max)) / 2, with
 *       the correct pair (r_0, r_L) = (1.0, 0.5) or the wrong pair (-0.5, 0.0): short right answers are worth
 *       most, short wrong ones are punished most;
 *   <li>{@code repetition}: max_penalty (-1.0) times the fraction of repeated word n-grams (n = 3);
 *   <li>{@code soft_overlong} (DAPO): min(0, -(L - (soft_max_length - soft_cache_length)) / soft_cache_length).
 * </ul>
 * Any other name is looked up among the {@link RewardFunction}s on the class path and in the jars of
 * {@code --external_plugins}.
 */
final class Rewards {
  private Rewards() {}

  /** The built-ins' coefficients, with ms-swift's defaults (lengths default to max_completion_length). */
  record Settings(double cosineMinLenValueWrong, double cosineMaxLenValueWrong, double cosineMinLenValueCorrect,
      double cosineMaxLenValueCorrect, int cosineMaxLen, int repetitionNGrams, double repetitionMaxPenalty,
      int softMaxLength, Integer softCacheLength) {
    static Settings defaults(int maxCompletionLength) {
      return new Settings(-0.5, 0.0, 1.0, 0.5, maxCompletionLength, 3, -1.0, maxCompletionLength, null);
    }
  }

  static final List<String> BUILT_IN = List.of("accuracy", "format", "react_format", "cosine", "repetition",
      "soft_overlong");

  /** The reward functions of {@code --reward_funcs}, in order (services from the application class path). */
  static List<RewardFunction> resolve(List<String> names, Settings s) {
    return resolve(names, s, List.of());
  }

  /**
   * The reward functions of {@code --reward_funcs}, in order; names that are not built in are looked up among the
   * {@link RewardFunction} services of the class path and of the {@code plugins} jars ({@code --external_plugins}).
   */
  static List<RewardFunction> resolve(List<String> names, Settings s, List<java.nio.file.Path> plugins) {
    ClassLoader loader = pluginLoader(plugins);
    if (names.isEmpty())
      throw new IllegalArgumentException("--rlhf_type grpo needs --reward_funcs (built in: " + String.join(", ", BUILT_IN)
          + "; or a jswift.train.RewardFunction of --external_plugins) or --reward_model");
    List<RewardFunction> out = new ArrayList<>();
    Set<String> seen = new HashSet<>();
    for (String name : names) {
      if (!seen.add(name)) throw new IllegalArgumentException("--reward_funcs names " + name + " twice");
      out.add(create(name, s, loader));
    }
    return out;
  }

  /** A class loader over the plugin jars (the application's when there are none). */
  private static ClassLoader pluginLoader(List<java.nio.file.Path> plugins) {
    ClassLoader app = Rewards.class.getClassLoader();
    if (plugins.isEmpty()) return app;
    java.net.URL[] urls = new java.net.URL[plugins.size()];
    for (int i = 0; i < urls.length; i++) {
      java.nio.file.Path p = plugins.get(i);
      if (!java.nio.file.Files.isRegularFile(p))
        throw new IllegalArgumentException("--external_plugins " + p + ": no such file (a jar of RewardFunction classes "
            + "listed in its META-INF/services/jswift.train.RewardFunction)");
      try {
        urls[i] = p.toUri().toURL();
      } catch (java.net.MalformedURLException e) {
        throw new IllegalArgumentException("--external_plugins " + p + ": " + e.getMessage(), e);
      }
    }
    return new java.net.URLClassLoader(urls, app);  // lives as long as the run: its classes are in use
  }

  private static RewardFunction create(String name, Settings s, ClassLoader loader) {
    switch (name) {
      case "accuracy":
        return of(name, c -> jswift.eval.MathAnswer.matches(c.text(), solution(c, name)) ? 1.0 : 0.0);
      case "format":
        return matching(name, Pattern.compile("^<think>.*?</think>\\s*<answer>.*?</answer>(?![\\s\\S])",
            Pattern.DOTALL | Pattern.MULTILINE));
      case "react_format":
        return matching(name, Pattern.compile("^<think>.*?</think>\\s*Action:.*?Action Input:.*?$",
            Pattern.DOTALL | Pattern.MULTILINE));
      case "cosine":
        if (s.cosineMaxLen() < 1) throw new IllegalArgumentException("--cosine_max_len must be >= 1, got " + s.cosineMaxLen());
        return of(name, c -> {
          boolean right = jswift.eval.MathAnswer.matches(c.text(), solution(c, name));
          double r0 = right ? s.cosineMinLenValueCorrect() : s.cosineMinLenValueWrong();
          double rL = right ? s.cosineMaxLenValueCorrect() : s.cosineMaxLenValueWrong();
          return cosine(c.tokens(), s.cosineMaxLen(), r0, rL);
        });
      case "repetition":
        if (s.repetitionNGrams() < 1)
          throw new IllegalArgumentException("--repetition_n_grams must be >= 1, got " + s.repetitionNGrams());
        return of(name, c -> repetition(c.text(), s.repetitionNGrams(), s.repetitionMaxPenalty()));
      case "soft_overlong":
        if (s.softCacheLength() == null)
          throw new IllegalArgumentException("--reward_funcs soft_overlong needs --soft_cache_length (the length over "
              + "soft_max_length - soft_cache_length where the penalty starts)");
        if (s.softCacheLength() < 1 || s.softCacheLength() >= s.softMaxLength())
          throw new IllegalArgumentException("--soft_cache_length must be in [1, soft_max_length " + s.softMaxLength()
              + "), got " + s.softCacheLength());
        return of(name, c -> softOverlong(c.tokens(), s.softMaxLength(), s.softCacheLength()));
      default:
        Set<String> known = new TreeSet<>(BUILT_IN);
        try {
          for (RewardFunction f : ServiceLoader.load(RewardFunction.class, loader)) {
            if (f.name().equals(name)) return f;
            known.add(f.name());
          }
        } catch (java.util.ServiceConfigurationError e) {
          throw new IllegalArgumentException("--reward_funcs " + name + ": a RewardFunction service could not be loaded: "
              + e.getMessage(), e);
        }
        throw new IllegalArgumentException("--reward_funcs " + name + ": no such reward function (known: "
            + String.join(", ", known) + "; add your own as a jswift.train.RewardFunction service on the class path)");
    }
  }

  /** The row's solution column, which accuracy and cosine compare with. */
  private static String solution(RewardFunction.Completion c, String reward) {
    String s = c.column("solution");
    if (s == null)
      throw new IllegalArgumentException("--reward_funcs " + reward + " compares each completion with the row's "
          + "\"solution\" column, and a row has none (its columns: " + c.columns().keySet() + ")");
    return s;
  }

  static double cosine(int length, int maxLength, double atZero, double atMax) {
    double t = Math.min(length, maxLength);
    return atMax + (atZero - atMax) * (1 + Math.cos(Math.PI * t / maxLength)) / 2;
  }

  static double repetition(String text, int n, double maxPenalty) {
    String[] words = text.toLowerCase(Locale.ROOT).trim().split("\\s+");
    if (text.isBlank() || words.length < n) return 0;
    Set<String> distinct = new HashSet<>();
    int total = words.length - n + 1;
    for (int i = 0; i < total; i++) distinct.add(String.join(" ", java.util.Arrays.copyOfRange(words, i, i + n)));
    double r = (1 - (double) distinct.size() / total) * maxPenalty;
    return r == 0 ? 0 : r;  // no repetition is 0, not -0
  }

  static double softOverlong(int length, int softMaxLength, int softCacheLength) {
    int expected = softMaxLength - softCacheLength;
    return Math.min(0, -(double) (length - expected) / softCacheLength);
  }

  private static RewardFunction matching(String name, Pattern p) {
    return of(name, c -> p.matcher(c.text()).lookingAt() ? 1.0 : 0.0);
  }

  private static RewardFunction of(String name, java.util.function.ToDoubleFunction<RewardFunction.Completion> f) {
    return RewardFunction.of(name, f);
  }
}
