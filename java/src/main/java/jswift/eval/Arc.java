package jswift.eval;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import jswift.data.DatasetException;
import jswift.data.RecordFile;

/**
 * The AI2 Reasoning Challenge (EvalScope's {@code arc}) from local jsonl files, in either of its published shapes:
 * the original ({@code {"question": {"stem": ..., "choices": [{"text", "label"}, ...]}, "answerKey"}}) or the
 * Hugging Face one ({@code {"question": ..., "choices": {"text": [...], "label": [...]}, "answerKey"}}); the
 * options keep their order and are lettered A, B, ... (some rows label them 1-4), and the answer key names one of
 * them. Scored as {@code general_mcq} questions.
 */
public final class Arc {
  private Arc() {}

  /** Reads an ARC jsonl file. */
  public static List<MultipleChoice.Question> read(Path file) throws IOException {
    List<MultipleChoice.Question> out = new ArrayList<>();
    for (RecordFile.Record r : RecordFile.read(file)) {
      JsonNode f = r.fields(), q = f.path("question");
      String stem = q.isObject() ? q.path("stem").asText(null) : q.isTextual() ? q.asText() : null;
      JsonNode choices = q.isObject() ? q.path("choices") : f.path("choices");
      List<String> texts = new ArrayList<>(), labels = new ArrayList<>();
      if (choices.isArray()) {
        for (JsonNode c : choices) {
          texts.add(c.path("text").asText());
          labels.add(c.path("label").asText());
        }
      } else if (choices.isObject()) {
        choices.path("text").forEach(t -> texts.add(t.asText()));
        choices.path("label").forEach(l -> labels.add(l.asText()));
      }
      if (stem == null || texts.size() < 2 || texts.size() != labels.size() || texts.size() > MultipleChoice.LETTERS.length())
        throw new DatasetException(r.location(), "an ARC row needs a question and 2-10 labelled choices "
            + "({\"question\": {\"stem\": ..., \"choices\": [{\"text\": ..., \"label\": \"A\"}, ...]}, \"answerKey\": "
            + "\"A\"} or the Hugging Face shape)");
      int answer = labels.indexOf(f.path("answerKey").asText());
      if (answer < 0)
        throw new DatasetException(r.location(), "answerKey \"" + f.path("answerKey").asText() + "\" is not one of the "
            + "choices' labels " + labels);
      String id = f.hasNonNull("id") ? f.get("id").asText() : String.valueOf(out.size());
      out.add(new MultipleChoice.Question(id, stem, List.copyOf(texts), answer, r.location()));
    }
    return out;
  }
}
