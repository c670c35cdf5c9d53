package jswift.eval;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import jswift.data.RecordFile;

/**
 * WinoGrande (EvalScope's {@code winogrande}) from its Hugging Face jsonl ({@code sentence} with a blank "_",
 * {@code option1}, {@code option2}, {@code answer} "1" or "2"): which option fills the blank, the sentence as the
 * question and the two options lettered A and B. Scored as {@code general_mcq} questions.
 */
public final class Winogrande {
  private Winogrande() {}

  public static List<MultipleChoice.Question> read(Path file) throws IOException {
    List<MultipleChoice.Question> out = new ArrayList<>();
    for (RecordFile.Record r : RecordFile.read(file)) {
      List<String> options = List.of(r.text("option1"), r.text("option2"));
      String answer = r.text("answer").strip();
      int index = answer.equals("1") ? 0 : answer.equals("2") ? 1 : -1;
      if (index < 0)
        throw new jswift.data.DatasetException(r.location(), "answer \"" + answer + "\" must be \"1\" or \"2\"");
      String question = "Which option fills the blank (_)? " + r.text("sentence");
      out.add(new MultipleChoice.Question(String.valueOf(out.size()), question, options, index, r.location()));
    }
    return out;
  }
}
