package jswift.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Stream;
import jswift.eval.Arc;
import jswift.eval.Gsm8k;
import jswift.eval.MathAnswer;
import jswift.eval.Mmlu;
import jswift.eval.MultipleChoice;
import jswift.eval.QuestionAnswering;
import jswift.infer.GenerationConfig;
import jswift.model.AtomicFile;
import jswift.model.CausalLM;
import jswift.template.ConversationEncoder;
import jswift.tokenizer.Tokenizer;

/**
 * {@code jswift eval} on ms-swift's custom evaluation sets (EvalScope's Native backend): {@code general_mcq} (per
 * subset, {@code <subset>_val.csv} scored, {@code <subset>_dev.csv} optional few-shot examples; accuracy) and
 * {@code general_qa} ({@code <subset>.jsonl} with query / response; ROUGE and BLEU), each located by
 * {@code --eval_dataset_args '{"general_mcq": {"local_path": DIR, "subset_list": [...], "few_shot_num": N}}'}.
 * Prints a line per subset and writes the report and every question's answer under the output folder.
 */
final class BenchmarkEval {
  /** The evaluation sets this runs. */
  static final List<String> SETS = List.of("general_mcq", "general_qa", "gsm8k", "mmlu", "ceval", "arc", "hellaswag",
      "truthful_qa", "winogrande", "race", "bbh");

  /** The suites read from {@code <subset>.jsonl} files in their own shapes, each as multiple-choice questions. */
  private interface ChoiceReader {
    List<MultipleChoice.Question> read(Path file) throws IOException;
  }

  private static final Map<String, ChoiceReader> JSONL_SUITES = Map.of("arc", Arc::read, "hellaswag",
      jswift.eval.Hellaswag::read, "truthful_qa", jswift.eval.TruthfulQa::read, "winogrande",
      jswift.eval.Winogrande::read, "race", jswift.eval.Race::read);
  /** Few-shot examples per general_mcq question when the dev file exists and few_shot_num is not given. */
  static final int DEFAULT_SHOTS = 5;

  private static final ObjectMapper JSON = new ObjectMapper();

  private final CausalLM model;
  private final Tokenizer tokenizer;
  private final ConversationEncoder template;
  private final String system;
  private final GenerationConfig generation;
  private final int limit;
  private final int batchSize;
  private final PrintWriter out;

  BenchmarkEval(CausalLM model, Tokenizer tokenizer, ConversationEncoder template, String system,
      GenerationConfig generation, int limit, int batchSize, PrintWriter out) {
    this.model = model;
    this.tokenizer = tokenizer;
    this.template = template;
    this.system = system;
    this.generation = generation;
    this.limit = limit;
    this.batchSize = batchSize;
    this.out = out;
  }

  /** The arguments of each set: the JSON object of --eval_dataset_args, checked against the sets asked for. */
  static Map<String, JsonNode> arguments(List<String> sets, String json) {
    if (json == null)
      throw new IllegalArgumentException("--eval_dataset " + sets + " needs --eval_dataset_args, e.g. '{\""
          + sets.get(0) + "\": {\"local_path\": \"DIR\", \"subset_list\": [\"NAME\"]}}'");
    JsonNode root;
    try {
      root = JSON.readTree(json);
    } catch (IOException e) {
      throw new IllegalArgumentException("--eval_dataset_args is not JSON: " + e.getMessage().lines().findFirst().orElse(""));
    }
    if (root == null || !root.isObject()) throw new IllegalArgumentException("--eval_dataset_args must be a JSON object");
    Map<String, JsonNode> out = new java.util.LinkedHashMap<>();
    for (String set : sets) {
      JsonNode a = root.get(set);
      if (a == null || !a.isObject() || !a.path("local_path").isTextual())
        throw new IllegalArgumentException("--eval_dataset_args has no \"" + set + "\": {\"local_path\": DIR, ...}");
      out.put(set, a);
    }
    return out;
  }

  /** Runs every set; returns the report ({set: {subset: metrics, ...}}) and writes it and the answers to {@code dir}. */
  ObjectNode run(Map<String, JsonNode> sets, Path dir) throws IOException {
    Files.createDirectories(dir);
    ObjectNode report = JSON.createObjectNode();
    for (Map.Entry<String, JsonNode> e : sets.entrySet()) {
      Path local = Path.of(e.getValue().get("local_path").asText());
      if (e.getKey().equals("gsm8k")) {
        report.putObject("gsm8k").set("main", gsm8k(e.getValue(), local, dir));
        continue;
      }
      if (e.getKey().equals("mmlu")) {
        report.set("mmlu", mmlu(e.getValue(), local, dir));
        continue;
      }
      if (e.getKey().equals("bbh")) {
        report.set("bbh", bbh(e.getValue(), local, dir));
        continue;
      }
      if (!Files.isDirectory(local)) throw new IOException(e.getKey() + ": local_path " + local + " is not a folder");
      // C-Eval's files are general_mcq's (<subject>_val.csv, <subject>_dev.csv), in its val/ and dev/ folders
      ChoiceReader suite = JSONL_SUITES.get(e.getKey());  // arc, hellaswag, ...: <subset>.jsonl in their own shape
      boolean csv = e.getKey().equals("general_mcq") || e.getKey().equals("ceval");
      boolean mcq = csv || suite != null;
      List<String> subsets = subsets(e.getValue(), csv ? split(local, "val") : local, csv ? "_val.csv" : ".jsonl");
      ObjectNode setReport = report.putObject(e.getKey());
      for (String subset : subsets) {
        setReport.set(subset, suite != null ? scoreChoices(e.getKey(), subset,
            cut(suite.read(local.resolve(subset + ".jsonl"))), List.of(), dir)
            : csv ? multipleChoice(e.getKey(), e.getValue(), local, subset, dir) : questionAnswering(local, subset, dir));
      }
      if (mcq) {  // EvalScope's AverageAccuracy: over all questions of the set
        int right = 0, total = 0;
        for (String s : subsets) {
          right += setReport.get(s).get("correct").asInt();
          total += setReport.get(s).get("total").asInt();
        }
        setReport.put("average_accuracy", total == 0 ? 0 : right / (double) total);
        out.printf(Locale.ROOT, "%s: average accuracy %.4f (%d / %d)%n", e.getKey(), total == 0 ? 0
            : right / (double) total, right, total);
      }
    }
    AtomicFile.writeString(dir.resolve("report.json"), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(report) + "\n");
    return report;
  }

  /** The folder of a split's files: {@code local/<split>} when it exists (C-Eval's layout), else {@code local}. */
  private static Path split(Path local, String split) {
    return Files.isDirectory(local.resolve(split)) ? local.resolve(split) : local;
  }

  private ObjectNode multipleChoice(String set, JsonNode args, Path local, String subset, Path dir) throws IOException {
    List<MultipleChoice.Question> questions = cut(MultipleChoice.read(split(local, "val").resolve(subset + "_val.csv")));
    Path devFile = split(local, "dev").resolve(subset + "_dev.csv");
    List<MultipleChoice.Question> dev = Files.exists(devFile) ? MultipleChoice.read(devFile) : List.of();
    int shots = args.has("few_shot_num") ? args.get("few_shot_num").asInt() : DEFAULT_SHOTS;
    if (shots < 0) throw new IllegalArgumentException(set + ": few_shot_num must be >= 0, got " + shots);
    return scoreChoices(set, subset, questions, dev.subList(0, Math.min(shots, dev.size())), dir);
  }

  /** Scores multiple-choice questions after {@code examples}; prints and writes the answers; returns the metrics. */
  private ObjectNode scoreChoices(String set, String subset, List<MultipleChoice.Question> questions,
      List<MultipleChoice.Question> examples, Path dir) throws IOException {
    MultipleChoice.Result r = MultipleChoice.evaluate(model, tokenizer, template, system, examples, questions,
        done -> progress(set + " " + subset, done, questions.size()));
    out.println();
    out.printf(Locale.ROOT, "%s %s: accuracy %.4f (%d / %d, %d-shot)%n", set, subset, r.accuracy(), r.correct(),
        r.rows().size(), examples.size());
    List<String> lines = new ArrayList<>();
    for (MultipleChoice.Scored s : r.rows()) {
      ObjectNode o = JSON.createObjectNode().put("id", s.question().id())
          .put("answer", String.valueOf(MultipleChoice.LETTERS.charAt(s.question().answer())))
          .put("prediction", String.valueOf(MultipleChoice.LETTERS.charAt(s.chosen()))).put("correct", s.correct());
      ArrayNode lp = o.putArray("logprobs");
      for (double v : s.logprobs()) lp.add(v);
      lines.add(JSON.writeValueAsString(o));
    }
    AtomicFile.writeString(dir.resolve(set + "_" + subset + ".jsonl"), String.join("\n", lines) + "\n");
    return JSON.createObjectNode().put("accuracy", r.accuracy()).put("correct", r.correct()).put("total", r.rows().size())
        .put("few_shot", examples.size());
  }

  private ObjectNode questionAnswering(Path local, String subset, Path dir) throws IOException {
    List<QuestionAnswering.Item> items = cut(QuestionAnswering.read(local.resolve(subset + ".jsonl")));
    QuestionAnswering.Result r = QuestionAnswering.evaluate(model, tokenizer, template, system, generation, items,
        batchSize, done -> progress("general_qa " + subset, done, items.size()));
    out.println();
    Map<String, Double> mean = r.mean();
    out.printf(Locale.ROOT, "general_qa %s: rouge-1-f %.4f, rouge-2-f %.4f, rouge-l-f %.4f, bleu-1 %.4f, bleu-4 %.4f (%d "
        + "questions)%n", subset, mean.get("rouge-1-f"), mean.get("rouge-2-f"), mean.get("rouge-l-f"), mean.get("bleu-1"),
        mean.get("bleu-4"), items.size());
    List<String> lines = new ArrayList<>();
    for (QuestionAnswering.Answered a : r.rows()) {
      ObjectNode o = JSON.createObjectNode().put("query", a.item().query()).put("reference", a.item().reference())
          .put("answer", a.answer());
      ObjectNode scores = o.putObject("scores");
      a.scores().forEach(scores::put);
      lines.add(JSON.writeValueAsString(o));
    }
    AtomicFile.writeString(dir.resolve("general_qa_" + subset + ".jsonl"), String.join("\n", lines) + "\n");
    ObjectNode o = JSON.createObjectNode();
    mean.forEach(o::put);
    o.put("total", items.size());
    return o;
  }

  /**
   * MMLU from its original files ({@link Mmlu}): per subject (subset_list, else every test file) its accuracy after
   * few_shot_num (5) dev questions, then the average over all questions.
   */
  private ObjectNode mmlu(JsonNode args, Path local, Path dir) throws IOException {
    List<String> subjects = new ArrayList<>();
    if (args.has("subset_list")) args.get("subset_list").forEach(x -> subjects.add(x.asText()));
    else subjects.addAll(Mmlu.subjects(local));
    int shots = args.has("few_shot_num") ? args.get("few_shot_num").asInt() : Mmlu.DEFAULT_SHOTS;
    if (shots < 0) throw new IllegalArgumentException("mmlu: few_shot_num must be >= 0, got " + shots);
    ObjectNode report = JSON.createObjectNode();
    int right = 0, total = 0;
    for (String subject : subjects) {
      List<MultipleChoice.Question> dev = Mmlu.read(local, subject, "dev");
      ObjectNode m = scoreChoices("mmlu", subject, cut(Mmlu.read(local, subject, "test")),
          dev.subList(0, Math.min(shots, dev.size())), dir);
      report.set(subject, m);
      right += m.get("correct").asInt();
      total += m.get("total").asInt();
    }
    double average = total == 0 ? 0 : right / (double) total;
    report.put("average_accuracy", average);
    out.printf(Locale.ROOT, "mmlu: average accuracy %.4f (%d / %d)%n", average, right, total);
    return report;
  }

  /** EvalScope's gsm8k ({@link Gsm8k}): accuracy of the final answers, few_shot_num (4) worked examples first. */
  private ObjectNode gsm8k(JsonNode args, Path local, Path dir) throws IOException {
    List<Gsm8k.Problem>[] data = Gsm8k.load(local);
    int shots = args.has("few_shot_num") ? args.get("few_shot_num").asInt() : Gsm8k.DEFAULT_SHOTS;
    if (shots < 0) throw new IllegalArgumentException("gsm8k: few_shot_num must be >= 0, got " + shots);
    List<Gsm8k.Problem> examples = data[1].subList(0, Math.min(shots, data[1].size()));
    List<Gsm8k.Problem> problems = cut(data[0]);
    List<String> prompts = new ArrayList<>();
    for (Gsm8k.Problem p : problems) prompts.add(Gsm8k.prompt(p.question(), examples));
    List<String> answers = generate("gsm8k", prompts);
    int right = 0;
    List<String> lines = new ArrayList<>();
    for (int i = 0; i < problems.size(); i++) {
      String answer = answers.get(i);
      boolean correct = MathAnswer.matches(answer, problems.get(i).answer());
      if (correct) right++;
      lines.add(JSON.writeValueAsString(JSON.createObjectNode().put("question", problems.get(i).question())
          .put("target", problems.get(i).answer()).put("answer", answer).put("correct", correct)));
    }
    double accuracy = problems.isEmpty() ? 0 : right / (double) problems.size();
    out.printf(Locale.ROOT, "gsm8k: accuracy %.4f (%d / %d, %d-shot)%n", accuracy, right, problems.size(),
        examples.size());
    AtomicFile.writeString(dir.resolve("gsm8k.jsonl"), String.join("\n", lines) + "\n");
    return JSON.createObjectNode().put("accuracy", accuracy).put("correct", right).put("total", problems.size())
        .put("few_shot", examples.size());
  }

  /**
   * EvalScope's bbh ({@link jswift.eval.Bbh}): per subset (subset_list, else every {@code <subset>.json} in the
   * folder) the accuracy of the chain-of-thought answers after few_shot_num (3, or 0) examples, then the average
   * over all questions.
   */
  private ObjectNode bbh(JsonNode args, Path local, Path dir) throws IOException {
    if (!Files.isDirectory(local)) throw new IOException("bbh: local_path " + local + " is not a folder");
    int shots = args.has("few_shot_num") ? args.get("few_shot_num").asInt() : jswift.eval.Bbh.DEFAULT_SHOTS;
    if (shots != 0 && shots != jswift.eval.Bbh.DEFAULT_SHOTS)
      throw new IllegalArgumentException("bbh: few_shot_num is 3 (BBH's chain-of-thought examples) or 0, got " + shots);
    List<String> subsets = subsets(args, local, ".json");
    for (String s : subsets) jswift.eval.Bbh.isMultipleChoice(s);  // an unknown subset fails before any question runs
    ObjectNode report = JSON.createObjectNode();
    int right = 0, total = 0;
    for (String subset : subsets) {
      boolean mc = jswift.eval.Bbh.isMultipleChoice(subset);
      String cot = shots == 0 ? null : jswift.eval.Bbh.cotExamples(local, subset);
      List<jswift.eval.Bbh.Question> questions = cut(jswift.eval.Bbh.read(local.resolve(subset + ".json")));
      List<String> prompts = new ArrayList<>();
      for (jswift.eval.Bbh.Question q : questions) prompts.add(jswift.eval.Bbh.prompt(q.input(), cot));
      List<String> answers = generate("bbh " + subset, prompts);
      int ok = 0;
      List<String> lines = new ArrayList<>();
      for (int i = 0; i < questions.size(); i++) {
        String answer = answers.get(i);
        boolean correct = jswift.eval.Bbh.correct(answer, questions.get(i).target(), mc);
        if (correct) ok++;
        lines.add(JSON.writeValueAsString(JSON.createObjectNode().put("input", questions.get(i).input())
            .put("target", questions.get(i).target()).put("answer", answer)
            .put("prediction", jswift.eval.Bbh.extract(answer, mc)).put("correct", correct)));
      }
      double accuracy = questions.isEmpty() ? 0 : ok / (double) questions.size();
      out.printf(Locale.ROOT, "bbh %s: accuracy %.4f (%d / %d, %d-shot)%n", subset, accuracy, ok, questions.size(),
          shots);
      AtomicFile.writeString(dir.resolve("bbh_" + subset + ".jsonl"), String.join("\n", lines) + "\n");
      report.set(subset, JSON.createObjectNode().put("accuracy", accuracy).put("correct", ok)
          .put("total", questions.size()).put("few_shot", shots));
      right += ok;
      total += questions.size();
    }
    double average = total == 0 ? 0 : right / (double) total;
    report.put("average_accuracy", average);
    out.printf(Locale.ROOT, "bbh: average accuracy %.4f (%d / %d)%n", average, right, total);
    return report;
  }

  /** The model's answer to each prompt (generated in batches, with progress under {@code label}), in order. */
  private List<String> generate(String label, List<String> prompts) {
    List<QuestionAnswering.Item> items = new ArrayList<>();
    for (String p : prompts) items.add(new QuestionAnswering.Item(p, "", null));
    QuestionAnswering.Result r = QuestionAnswering.evaluate(model, tokenizer, template, system, generation, items,
        batchSize, done -> progress(label, done, items.size()));
    out.println();
    List<String> answers = new ArrayList<>();
    for (QuestionAnswering.Answered a : r.rows()) answers.add(a.answer());
    return answers;
  }

  /** subset_list, or every file with the suffix in the folder (sorted). */
  private static List<String> subsets(JsonNode args, Path local, String suffix) throws IOException {
    List<String> out = new ArrayList<>();
    if (args.has("subset_list")) {
      for (JsonNode s : args.get("subset_list")) out.add(s.asText());
    } else {
      try (Stream<Path> files = Files.list(local)) {
        files.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(suffix)).sorted()
            .forEach(n -> out.add(n.substring(0, n.length() - suffix.length())));
      }
    }
    if (out.isEmpty()) throw new IOException(local + " has no *" + suffix + " file and no subset_list names one");
    return out;
  }

  private <T> List<T> cut(List<T> rows) {
    return rows.size() > limit ? rows.subList(0, limit) : rows;
  }

  private void progress(String what, int done, int total) {
    out.printf("\r%s: %d/%d", what, done, total);
    out.flush();
  }
}
