package jswift.eval;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import jswift.data.DatasetException;
import jswift.data.RecordFile;

/**
 * MMLU (EvalScope's {@code mmlu}) from its original files on disk: {@code local_path} holds {@code test/} and
 * {@code dev/} (or the files themselves) with one headerless CSV a subject, {@code <subject>_test.csv} and
 * {@code <subject>_dev.csv}, each row {@code question,A,B,C,D,answer}. Each subject's test questions are scored as
 * {@code general_mcq} questions ({@link MultipleChoice}: the option letter the model finds likeliest), after its
 * first {@code few_shot_num} (5) dev questions.
 */
public final class Mmlu {
  private Mmlu() {}

  /** EvalScope's default few_shot_num for MMLU. */
  public static final int DEFAULT_SHOTS = 5;

  private static final List<String> COLUMNS = List.of("question", "A", "B", "C", "D", "answer");

  /** The subjects under {@code local}: every {@code <subject>_test.csv}, sorted. */
  public static List<String> subjects(Path local) throws IOException {
    Path dir = Files.isDirectory(local.resolve("test")) ? local.resolve("test") : local;
    List<String> out = new ArrayList<>();
    try (Stream<Path> files = Files.list(dir)) {
      files.map(p -> p.getFileName().toString()).filter(n -> n.endsWith("_test.csv")).sorted()
          .forEach(n -> out.add(n.substring(0, n.length() - "_test.csv".length())));
    }
    if (out.isEmpty()) throw new IOException("mmlu: " + dir + " has no <subject>_test.csv file (MMLU's data/test)");
    return out;
  }

  /** A subject's questions of one split ("test" or "dev"); a missing dev file gives none. */
  public static List<MultipleChoice.Question> read(Path local, String subject, String split) throws IOException {
    Path dir = Files.isDirectory(local.resolve(split)) ? local.resolve(split) : local;
    Path file = dir.resolve(subject + "_" + split + ".csv");
    if (!Files.exists(file)) {
      if (split.equals("dev")) return List.of();
      throw new IOException("mmlu: " + file + " not found");
    }
    List<MultipleChoice.Question> out = new ArrayList<>();
    for (RecordFile.Record r : RecordFile.readHeaderlessCsv(file, COLUMNS)) {
      String answer = r.text("answer").strip();
      int index = answer.length() == 1 ? "ABCD".indexOf(answer.charAt(0)) : -1;
      if (index < 0)
        throw new DatasetException(r.location(), "answer \"" + answer + "\" is not A, B, C or D (MMLU rows are "
            + "question,A,B,C,D,answer)");
      out.add(new MultipleChoice.Question(String.valueOf(out.size()), r.text("question"), List.of(r.text("A"),
          r.text("B"), r.text("C"), r.text("D")), index, r.location()));
    }
    return out;
  }
}
