package jswift.eval;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * EvalScope's {@code bbh} benchmark (BIG-Bench Hard, Suzgun et al. 2022) on local files: per subset a
 * {@code <subset>.json} of BBH's own shape ({@code {"examples": [{"input": ..., "target": ...}, ...]}}), each question
 * asked as "Q: {input}\nA: Let's think step by step.", after BBH's three chain-of-thought examples of that subset
 * (its {@code cot-prompts/<subset>.txt}, which EvalScope ships and jswift reads from {@code
 * <local_path>/cot_prompts/}) introduced by "Follow the given examples and answer the question.\n". The answer is
 * read as EvalScope reads it: for the 17 multiple-choice subsets the letter after "answer is" (else the first
 * capital letter), for the 10 free-form ones the text between "answer is" and the next period; it is right when it
 * equals the target without its parentheses.
 */
public final class Bbh {
  private Bbh() {}

  /** The subsets whose targets are option letters "(A)"... */
  public static final List<String> MULTIPLE_CHOICE = List.of("temporal_sequences", "disambiguation_qa",
      "date_understanding", "tracking_shuffled_objects_three_objects", "penguins_in_a_table", "geometric_shapes",
      "snarks", "ruin_names", "tracking_shuffled_objects_seven_objects", "tracking_shuffled_objects_five_objects",
      "logical_deduction_three_objects", "hyperbaton", "logical_deduction_five_objects",
      "logical_deduction_seven_objects", "movie_recommendation", "salient_translation_error_detection",
      "reasoning_about_colored_objects");
  /** The subsets whose targets are free text (a number, "True", "valid", a sorted word list, ...). */
  public static final List<String> FREE_FORM = List.of("multistep_arithmetic_two", "navigate", "dyck_languages",
      "word_sorting", "sports_understanding", "boolean_expressions", "object_counting", "formal_fallacies",
      "causal_judgement", "web_of_lies");
  /** BBH is run with its three chain-of-thought examples (EvalScope's default) or none. */
  public static final int DEFAULT_SHOTS = 3;

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Pattern LETTER_IN_PARENS = Pattern.compile("\\(([A-Z])\\)*");
  private static final Pattern LETTER = Pattern.compile("([A-Z])");
  private static final Pattern FREE_ANSWER = Pattern.compile("answer is\\s+(.*?)\\.");

  /** A question and its target as the file gives it ("(B)", "24", "True"). */
  public record Question(String input, String target) {}

  /** Whether a subset's answers are option letters; an unknown subset is an error listing the known ones. */
  public static boolean isMultipleChoice(String subset) {
    if (MULTIPLE_CHOICE.contains(subset)) return true;
    if (FREE_FORM.contains(subset)) return false;
    throw new IllegalArgumentException("bbh: '" + subset + "' is not a BBH subset (" + MULTIPLE_CHOICE + ", "
        + FREE_FORM + ")");
  }

  /** Reads a BBH subset file; a row without input or target is an error naming the file and the row. */
  public static List<Question> read(Path file) throws IOException {
    if (!Files.isRegularFile(file)) throw new IOException("bbh: " + file + " not found");
    JsonNode root;
    try {
      root = JSON.readTree(file.toFile());
    } catch (IOException e) {
      throw new IOException(file + " is not JSON: " + e.getMessage().lines().findFirst().orElse(""), e);
    }
    JsonNode examples = root == null ? null : root.get("examples");
    if (examples == null || !examples.isArray())
      throw new IOException(file + ": a BBH file is {\"examples\": [{\"input\": ..., \"target\": ...}, ...]}");
    List<Question> out = new ArrayList<>();
    for (int i = 0; i < examples.size(); i++) {
      JsonNode e = examples.get(i);
      if (!e.path("input").isTextual() || !e.has("target") || e.get("target").isNull())
        throw new IOException(file + ": example " + i + " needs \"input\" (text) and \"target\"");
      out.add(new Question(e.get("input").asText(), e.get("target").asText()));
    }
    return out;
  }

  /** The chain-of-thought examples of a subset ({@code <local>/cot_prompts/<subset>.txt}). */
  public static String cotExamples(Path local, String subset) throws IOException {
    Path f = local.resolve("cot_prompts").resolve(subset + ".txt");
    if (!Files.isRegularFile(f))
      throw new IOException("bbh: " + f + " not found: BBH's 3-shot prompts are its cot-prompts/<subset>.txt files "
          + "(EvalScope ships them); put them in " + local.resolve("cot_prompts") + ", or set \"few_shot_num\": 0");
    return Files.readString(f);
  }

  /** The prompt of a question, after the chain-of-thought examples (null: zero-shot). */
  public static String prompt(String input, String cotExamples) {
    String prefix = cotExamples == null ? "" : "Follow the given examples and answer the question.\n" + cotExamples;
    return prefix + "Q: " + input + "\nA: Let's think step by step.";
  }

  /** The target as it is compared: without its parentheses ("(B)" -> "B"). */
  public static String gold(String target) {
    return target.replace("(", "").replace(")", "");
  }

  /** The answer read from a model's text, as EvalScope reads it for the subset's kind. */
  public static String extract(String answer, boolean multipleChoice) {
    return multipleChoice ? extractLetter(answer) : extractFreeForm(answer);
  }

  /** Python's text.split('answer is ')[1] when the phrase occurs: up to its next occurrence, stripped. */
  private static String afterAnswerIs(String text) {
    String phrase = "answer is ";
    int at = text.indexOf(phrase);
    if (at < 0) return text;
    int next = text.indexOf(phrase, at + phrase.length());
    return text.substring(at + phrase.length(), next < 0 ? text.length() : next).strip();
  }

  static String extractLetter(String text) {
    String s = afterAnswerIs(text);
    Matcher m = LETTER_IN_PARENS.matcher(s);
    if (m.find()) return m.group(1);
    m = LETTER.matcher(s);
    if (m.find()) return m.group(1);
    return s;
  }

  static String extractFreeForm(String text) {
    Matcher m = FREE_ANSWER.matcher(text);
    if (m.find()) return m.group(1);
    String s = afterAnswerIs(text);
    s = s.split("\n", -1)[0];
    return s.endsWith(".") ? s.substring(0, s.length() - 1) : s;
  }

  /** EvalScope's exact match: equal once surrounding whitespace is stripped. */
  public static boolean correct(String answer, String target, boolean multipleChoice) {
    return extract(answer, multipleChoice).strip().equals(gold(target).strip());
  }
}
