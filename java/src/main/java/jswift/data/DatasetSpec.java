package jswift.data;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One {@code --dataset} value, in ms-swift's syntax {@code id_or_path[:subset1/subset2][#N]}: a file, a folder
 * or a bundled dataset's name, and optionally how many rows to take ({@code #N}: sampled without replacement
 * below the row count, repeated and topped up above it). A path that exists is taken whole, even when it
 * contains {@code #} or {@code :}.
 *
 * <p>jswift reads local data: besides files and folders it knows only its bundled datasets,
 * {@value #QUICKSTART} and {@value #SELF_COGNITION}. A hub id is reported with what to do instead.
 */
public record DatasetSpec(String name, List<String> subsets, Integer sample) {
  /** The bundled quick-start SFT dataset. */
  public static final String QUICKSTART = "jswift/quickstart-sft";
  /** The bundled self-cognition dataset, filled in with {@code --model_name} and {@code --model_author}. */
  public static final String SELF_COGNITION = "swift/self-cognition";

  private static final Pattern SAMPLE = Pattern.compile("(.*)#([^#]*)");

  public DatasetSpec {
    subsets = List.copyOf(subsets);
    if (sample != null && sample <= 0) throw new IllegalArgumentException(name + ": #N must be positive");
  }

  /** Parses a spec. */
  public static DatasetSpec parse(String spec) {
    String s = spec.strip();
    if (s.isEmpty()) throw new IllegalArgumentException("empty dataset spec");
    if (exists(s)) return new DatasetSpec(s, List.of(), null);
    Integer sample = null;
    Matcher m = SAMPLE.matcher(s);
    if (m.matches()) {
      try {
        sample = Integer.valueOf(m.group(2).strip());
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException("dataset spec " + spec + ": after '#' comes the number of rows to use, "
            + "not \"" + m.group(2) + "\"");
      }
      s = m.group(1).strip();
    }
    if (exists(s)) return new DatasetSpec(s, List.of(), sample);
    int colon = s.indexOf(':');
    if (colon > 0) {
      List<String> subsets = List.of(s.substring(colon + 1).split("/"));
      return new DatasetSpec(s.substring(0, colon).strip(), subsets.stream().map(String::strip).toList(), sample);
    }
    return new DatasetSpec(s, List.of(), sample);
  }

  /** The bundled dataset this spec names ({@link #QUICKSTART} or {@link #SELF_COGNITION}), or null. */
  public String bundledName() {
    String lower = name.toLowerCase(Locale.ROOT);
    if (lower.equals(QUICKSTART)) return QUICKSTART;
    // ms-swift's id on ModelScope, and its Hugging Face id
    if (lower.equals(SELF_COGNITION) || lower.equals("modelscope/self-cognition")) return SELF_COGNITION;
    return null;
  }

  @Override
  public String toString() {
    return name + (subsets.isEmpty() ? "" : ":" + String.join("/", subsets)) + (sample == null ? "" : "#" + sample);
  }

  private static boolean exists(String path) {
    try {
      return Files.exists(Path.of(path));
    } catch (java.nio.file.InvalidPathException e) {
      return false;
    }
  }
}
