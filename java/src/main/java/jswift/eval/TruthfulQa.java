package jswift.eval;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import jswift.data.DatasetException;
import jswift.data.RecordFile;

/**
 * TruthfulQA's single-true multiple choice (MC1; EvalScope's {@code truthful_qa}) from the Hugging Face
 * {@code multiple_choice} jsonl ({@code question}, {@code mc1_targets: {choices, labels}} with exactly one label 1).
 * The published files list the true answer first; scored by option letters, that order would reward a model that
 * always says "A", so each question's options are shuffled by a generator seeded with the question's index (the
 * same order on every run). Scored as {@code general_mcq} questions.
 */
public final class TruthfulQa {
  private TruthfulQa() {}

  public static List<MultipleChoice.Question> read(Path file) throws IOException {
    List<MultipleChoice.Question> out = new ArrayList<>();
    for (RecordFile.Record r : RecordFile.read(file)) {
      JsonNode mc1 = r.fields().path("mc1_targets");
      JsonNode choices = mc1.path("choices"), labels = mc1.path("labels");
      if (!choices.isArray() || choices.size() < 2 || choices.size() > MultipleChoice.LETTERS.length()
          || labels.size() != choices.size())
        throw new DatasetException(r.location(), "a TruthfulQA row needs \"mc1_targets\": {\"choices\": [2-10 texts], "
            + "\"labels\": [one 1 per choice, 0 or 1]}; the fields are " + r.names());
      List<Integer> order = new ArrayList<>();
      for (int i = 0; i < choices.size(); i++) order.add(i);
      java.util.Collections.shuffle(order, new java.util.Random(out.size()));
      List<String> options = new ArrayList<>();
      int answer = -1, trueCount = 0;
      for (int k = 0; k < order.size(); k++) {
        int i = order.get(k);
        options.add(choices.get(i).asText());
        if (labels.get(i).asInt() == 1) {
          answer = k;
          trueCount++;
        }
      }
      if (trueCount != 1)
        throw new DatasetException(r.location(), "mc1_targets must label exactly one choice 1, got " + trueCount);
      out.add(new MultipleChoice.Question(String.valueOf(out.size()), r.text("question"), List.copyOf(options), answer,
          r.location()));
    }
    return out;
  }
}
