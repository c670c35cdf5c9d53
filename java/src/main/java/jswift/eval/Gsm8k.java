package jswift.eval;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import jswift.data.DatasetException;
import jswift.data.RecordFile;

/**
 * EvalScope's {@code gsm8k} benchmark (ms-swift's {@code swift eval --eval_dataset gsm8k}) on local files: the
 * grade-school math problems of GSM8K ({@code {"question": ..., "answer": "reasoning #### 72"}} per line), each asked
 * with EvalScope's prompt ("{question}\nPlease reason step by step, and put your final answer within \boxed{}."),
 * after its few-shot preamble and the first {@code shots} training problems worked out ("{question}\n\nReasoning:\n
 * {reasoning}\n\nANSWER: \boxed{answer}"); an answer is right when its final answer ({@link MathAnswer}: the last
 * \boxed{}, else the last number) equals the number after "####".
 */
public final class Gsm8k {
  private Gsm8k() {}

  static final String PROMPT = "\nPlease reason step by step, and put your final answer within \\boxed{}.";
  static final String FEW_SHOT_PREAMBLE = "Here are some examples of how to solve similar problems:\n\n";
  /** EvalScope's default few_shot_num for gsm8k. */
  public static final int DEFAULT_SHOTS = 4;

  /** A problem: its question, worked reasoning and final answer (the text after "####"). */
  public record Problem(String question, String reasoning, String answer) {}

  /** Reads a GSM8K jsonl file. */
  public static List<Problem> read(Path file) throws IOException {
    List<Problem> out = new ArrayList<>();
    for (RecordFile.Record r : RecordFile.read(file)) {
      String q = r.text("question"), a = r.text("answer");
      int at = a.lastIndexOf("####");
      if (q.isBlank() || at < 0)
        throw new DatasetException(r.location(), "a GSM8K row needs \"question\" and an \"answer\" ending in "
            + "\"#### <number>\"");
      out.add(new Problem(q, a.substring(0, at).strip(), a.substring(at + 4).strip()));
    }
    return out;
  }

  /**
   * The test problems and the few-shot examples of a {@code local_path}: a folder with test.jsonl (and train.jsonl
   * for the examples), or one jsonl file of test problems (zero-shot).
   */
  public static List<Problem>[] load(Path local) throws IOException {
    Path test = Files.isDirectory(local) ? local.resolve("test.jsonl") : local;
    if (!Files.isRegularFile(test))
      throw new IOException("gsm8k: " + test + " not found (local_path: a folder with test.jsonl and train.jsonl, or a "
          + "jsonl file)");
    Path train = Files.isDirectory(local) ? local.resolve("train.jsonl") : null;
    @SuppressWarnings("unchecked")
    List<Problem>[] out = new List[] {read(test), train != null && Files.isRegularFile(train) ? read(train) : List.of()};
    return out;
  }

  /** The prompt of a question after {@code examples} worked examples. */
  public static String prompt(String question, List<Problem> examples) {
    if (examples.isEmpty()) return question + PROMPT;
    List<String> shown = new ArrayList<>();
    for (Problem p : examples)
      shown.add(p.question() + "\n\nReasoning:\n" + p.reasoning() + "\n\nANSWER: \\boxed{" + p.answer() + "}");
    return FEW_SHOT_PREAMBLE + String.join("\n\n", shown) + "\n\n" + question + PROMPT;
  }
}
