package jswift.eval;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import jswift.data.DatasetException;
import jswift.data.RecordFile;

/**
 * HellaSwag (EvalScope's {@code hellaswag}) from its Hugging Face jsonl ({@code activity_label}, {@code ctx_a},
 * {@code ctx_b}, four {@code endings}, {@code label} "0"-"3"): the question is the activity and the context, the
 * options the endings, both cleaned as EvalScope and lm-evaluation-harness clean them (WikiHow's "[title]" becomes a
 * full stop, other bracketed tags go, double spaces close; ctx_b capitalised as Python's str.capitalize). Scored
 * as {@code general_mcq} questions (the likeliest option letter).
 */
public final class Hellaswag {
  private Hellaswag() {}

  public static List<MultipleChoice.Question> read(Path file) throws IOException {
    List<MultipleChoice.Question> out = new ArrayList<>();
    for (RecordFile.Record r : RecordFile.read(file)) {
      JsonNode endings = r.fields().path("endings");
      if (!endings.isArray() || endings.size() < 2)
        throw new DatasetException(r.location(), "a HellaSwag row needs \"endings\" (a list of 2-10 texts); the fields "
            + "are " + r.names());
      List<String> options = new ArrayList<>();
      endings.forEach(e -> options.add(clean(e.asText())));
      String ctx = r.fields().hasNonNull("ctx_a")
          ? r.text("ctx_a") + " " + capitalize(r.fields().path("ctx_b").asText(""))
          : r.text("ctx");
      String question = clean(r.fields().path("activity_label").asText("") + ": " + ctx);
      int answer = MultipleChoice.index(r, r.text("label"), options.size());
      String id = r.fields().hasNonNull("ind") ? r.fields().get("ind").asText() : String.valueOf(out.size());
      out.add(new MultipleChoice.Question(id, question, List.copyOf(options), answer, r.location()));
    }
    return out;
  }

  /** The harness's preprocess: trimmed, " [title]" as ". ", [tags] removed, double spaces made single. */
  static String clean(String text) {
    return text.strip().replace(" [title]", ". ").replaceAll("\\[.*?\\]", "").replace("  ", " ");
  }

  /** Python's str.capitalize: the first character upper-cased, the rest lower-cased. */
  static String capitalize(String s) {
    return s.isEmpty() ? s : s.substring(0, 1).toUpperCase(java.util.Locale.ROOT)
        + s.substring(1).toLowerCase(java.util.Locale.ROOT);
  }
}
