package jswift.eval;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import jswift.data.DatasetException;
import jswift.data.RecordFile;

/**
 * RACE reading comprehension (EvalScope's {@code race}) from its Hugging Face jsonl ({@code article}, {@code
 * question}, four {@code options}, {@code answer} a letter): the article then the question as the question, the
 * options lettered A-D. Scored as {@code general_mcq} questions.
 */
public final class Race {
  private Race() {}

  public static List<MultipleChoice.Question> read(Path file) throws IOException {
    List<MultipleChoice.Question> out = new ArrayList<>();
    for (RecordFile.Record r : RecordFile.read(file)) {
      JsonNode opts = r.fields().path("options");
      if (!opts.isArray() || opts.size() < 2 || opts.size() > MultipleChoice.LETTERS.length())
        throw new DatasetException(r.location(), "a RACE row needs \"options\" (2-10 texts); the fields are "
            + r.names());
      List<String> options = new ArrayList<>();
      opts.forEach(o -> options.add(o.asText()));
      int answer = MultipleChoice.letterIndex(r, r.text("answer"), options.size());
      String id = r.fields().hasNonNull("example_id") ? r.fields().get("example_id").asText() : String.valueOf(out.size());
      out.add(new MultipleChoice.Question(id, r.text("article") + "\n\n" + r.text("question"), List.copyOf(options),
          answer, r.location()));
    }
    return out;
  }
}
