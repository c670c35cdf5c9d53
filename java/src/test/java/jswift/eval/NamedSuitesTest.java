package jswift.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import jswift.testing.Cli;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** EvalScope's named multiple-choice suites from their own files (MMLU, C-Eval, ARC), scored as general_mcq questions. */
class NamedSuitesTest {
  private static Path data(Path dir) throws Exception {
    Path test = Files.createDirectories(dir.resolve("data/test")), dev = Files.createDirectories(dir.resolve("data/dev"));
    Files.writeString(test.resolve("identity_test.csv"), "Who made you?,OpenAI,Google,the jswift team,Meta,C\n"
        + "\"What is your name, please?\",jswift-bot,Qwen,ChatGPT,Llama,A\n");
    Files.writeString(test.resolve("colors_test.csv"), "What color is the sky?,green,blue,red,black,B\n");
    Files.writeString(dev.resolve("identity_dev.csv"), "Who are you?,a weather station,jswift-bot,a search engine,"
        + "a calculator,B\n");
    return dir.resolve("data");
  }

  @Test
  void readsTheOriginalFiles(@TempDir Path dir) throws Exception {
    Path d = data(dir);
    assertEquals(List.of("colors", "identity"), Mmlu.subjects(d));
    List<MultipleChoice.Question> q = Mmlu.read(d, "identity", "test");
    assertEquals("What is your name, please?", q.get(1).question(), "quoted CSV fields");
    assertEquals(2, q.get(0).answer());
    assertEquals(List.of(), Mmlu.read(d, "colors", "dev"), "no dev file: zero-shot");
    Files.writeString(d.resolve("test/bad_test.csv"), "q,a,b,c,d,E\n");
    var e = assertThrows(jswift.data.DatasetException.class, () -> Mmlu.read(d, "bad", "test"));
    assertTrue(e.getMessage().contains("bad_test.csv") && e.getMessage().contains("not A, B, C or D"), e.getMessage());
  }

  @Test
  void evalScoresEverySubject(@TempDir Path dir) throws Exception {
    Path d = data(dir), out = dir.resolve("out");
    String r = Cli.run("eval", "--model", MultipleChoiceTest.MODEL.toString(), "--eval_dataset", "mmlu",
        "--eval_dataset_args", "{\"mmlu\": {\"local_path\": \"" + d + "\"}}", "--eval_output_dir", out.toString(),
        "--device", "cpu");
    assertTrue(r.startsWith("0\n") && r.contains("mmlu identity: accuracy") && r.contains("1-shot")
        && r.contains("mmlu colors: accuracy") && r.contains("0-shot") && r.contains("mmlu: average accuracy"), r);
    JsonNode report = new ObjectMapper().readTree(Cli.onlyChild(out).resolve("report.json").toFile()).get("mmlu");
    int right = report.get("identity").get("correct").asInt() + report.get("colors").get("correct").asInt();
    assertEquals(right / 3.0, report.get("average_accuracy").asDouble(), 1e-12);
  }

  /** C-Eval's layout (val/ and dev/ folders of general_mcq files with an explanation column) runs as ceval. */
  @Test
  void cevalRunsFromItsFolders(@TempDir Path dir) throws Exception {
    Path val = Files.createDirectories(dir.resolve("ceval/val")), dev = Files.createDirectories(dir.resolve("ceval/dev"));
    Files.writeString(val.resolve("identity_val.csv"), "id,question,A,B,C,D,answer\n"
        + "0,Who made you?,OpenAI,Google,the jswift team,Meta,C\n1,What is your name?,jswift-bot,Qwen,ChatGPT,Llama,A\n");
    Files.writeString(dev.resolve("identity_dev.csv"), "id,question,A,B,C,D,answer,explanation\n"
        + "0,Who are you?,a weather station,jswift-bot,a search engine,a calculator,B,It says so\n");
    Path out = dir.resolve("out");
    String r = Cli.run("eval", "--model", MultipleChoiceTest.MODEL.toString(), "--eval_dataset", "ceval",
        "--eval_dataset_args", "{\"ceval\": {\"local_path\": \"" + dir.resolve("ceval") + "\"}}", "--eval_output_dir",
        out.toString(), "--device", "cpu");
    assertTrue(r.startsWith("0\n") && r.contains("ceval identity: accuracy") && r.contains("1-shot")
        && r.contains("ceval: average accuracy"), r);
    assertEquals(2, Files.readAllLines(Cli.onlyChild(out).resolve("ceval_identity.jsonl")).size());
  }

  /** ARC in its original and its Hugging Face shapes (labels 1-4 too), scored as general_mcq. */
  @Test
  void arcReadsBothShapes(@TempDir Path dir) throws Exception {
    Path arc = Files.createDirectories(dir.resolve("arc"));
    Files.writeString(arc.resolve("ARC-Easy.jsonl"), "{\"id\": \"q1\", \"question\": {\"stem\": \"Who made you?\", "
        + "\"choices\": [{\"text\": \"OpenAI\", \"label\": \"A\"}, {\"text\": \"the jswift team\", \"label\": \"B\"}]}, "
        + "\"answerKey\": \"B\"}\n"
        + "{\"id\": \"q2\", \"question\": \"What is your name?\", \"choices\": {\"text\": [\"Qwen\", \"jswift-bot\", "
        + "\"Llama\"], \"label\": [\"1\", \"2\", \"3\"]}, \"answerKey\": \"2\"}\n");
    List<MultipleChoice.Question> q = Arc.read(arc.resolve("ARC-Easy.jsonl"));
    assertEquals(1, q.get(0).answer());
    assertEquals(List.of("Qwen", "jswift-bot", "Llama"), q.get(1).options());
    assertEquals(1, q.get(1).answer(), "label \"2\" is the second option, B");
    Path out = dir.resolve("out");
    String r = Cli.run("eval", "--model", MultipleChoiceTest.MODEL.toString(), "--eval_dataset", "arc",
        "--eval_dataset_args", "{\"arc\": {\"local_path\": \"" + arc + "\"}}", "--eval_output_dir", out.toString(),
        "--device", "cpu");
    assertTrue(r.startsWith("0\n") && r.contains("arc ARC-Easy: accuracy") && r.contains("arc: average accuracy"), r);
    Files.writeString(arc.resolve("bad.jsonl"), "{\"question\": {\"stem\": \"q\", \"choices\": [{\"text\": \"a\", "
        + "\"label\": \"A\"}, {\"text\": \"b\", \"label\": \"B\"}]}, \"answerKey\": \"C\"}\n");
    var e = assertThrows(jswift.data.DatasetException.class, () -> Arc.read(arc.resolve("bad.jsonl")));
    assertTrue(e.getMessage().contains("answerKey \"C\""), e.getMessage());
  }

  /**
   * HellaSwag, TruthfulQA (MC1), WinoGrande and RACE in their Hugging Face jsonl shapes: each read into lettered
   * options with the right answer, the harness's HellaSwag cleaning, TruthfulQA's true answer moved off "A" by the
   * seeded shuffle, bad rows named by file and line; then all four scored by jswift eval in one run.
   */
  @Test
  void hellaswagTruthfulQaWinograndeAndRace(@TempDir Path dir) throws Exception {
    Path root = Files.createDirectories(dir.resolve("suites"));
    Path hs = Files.writeString(Files.createDirectories(root.resolve("hellaswag")).resolve("validation.jsonl"),
        "{\"ind\": 24, \"activity_label\": \"Roof shingle removal\", \"ctx_a\": \"A man is sitting on a roof.\", "
        + "\"ctx_b\": \"HE\", \"endings\": [\"is using wrap to wrap a pair of skis.\", \"is ripping level tiles off.\", "
        + "\"is holding a rubik's cube.\", \"starts pulling up roofing [title] on a roof.\"], \"label\": \"3\"}\n");
    List<MultipleChoice.Question> h = jswift.eval.Hellaswag.read(hs);
    assertEquals("Roof shingle removal: A man is sitting on a roof. He", h.get(0).question());
    assertEquals("starts pulling up roofing.  on a roof.".replace("  ", " "), h.get(0).options().get(3));
    assertEquals(3, h.get(0).answer());
    Path tq = Files.writeString(Files.createDirectories(root.resolve("truthful_qa")).resolve("mc.jsonl"),
        ("{\"question\": \"What is jswift?\", \"mc1_targets\": {\"choices\": [\"A JVM fine-tuning tool\", "
        + "\"A bird\", \"A car\", \"A song\"], \"labels\": [1, 0, 0, 0]}}\n").repeat(8));
    List<MultipleChoice.Question> t = jswift.eval.TruthfulQa.read(tq);
    java.util.Set<Integer> answers = new java.util.HashSet<>();
    for (MultipleChoice.Question q : t) {
      assertEquals("A JVM fine-tuning tool", q.options().get(q.answer()));
      answers.add(q.answer());
    }
    assertTrue(answers.size() > 1, "the true answer is not always A: " + answers);
    assertEquals(t.get(3).options(), jswift.eval.TruthfulQa.read(tq).get(3).options(), "the same order every run");
    Path wg = Files.writeString(Files.createDirectories(root.resolve("winogrande")).resolve("dev.jsonl"),
        "{\"sentence\": \"The trophy does not fit in the case because _ is too big.\", \"option1\": \"the trophy\", "
        + "\"option2\": \"the case\", \"answer\": \"1\"}\n");
    assertEquals(0, jswift.eval.Winogrande.read(wg).get(0).answer());
    Path rc = Files.writeString(Files.createDirectories(root.resolve("race")).resolve("middle.jsonl"),
        "{\"example_id\": \"m1\", \"article\": \"jswift-bot was made by the jswift team.\", \"question\": "
        + "\"Who made jswift-bot?\", \"options\": [\"OpenAI\", \"the jswift team\", \"Meta\", \"nobody\"], "
        + "\"answer\": \"B\"}\n");
    MultipleChoice.Question race = jswift.eval.Race.read(rc).get(0);
    assertEquals(1, race.answer());
    assertTrue(race.question().startsWith("jswift-bot was made") && race.question().endsWith("Who made jswift-bot?"));
    Path out = dir.resolve("out");
    String r = Cli.run("eval", "--model", MultipleChoiceTest.MODEL.toString(), "--eval_dataset", "hellaswag",
        "truthful_qa", "winogrande", "race", "--eval_dataset_args", "{\"hellaswag\": {\"local_path\": \""
        + root.resolve("hellaswag") + "\"}, \"truthful_qa\": {\"local_path\": \"" + root.resolve("truthful_qa")
        + "\"}, \"winogrande\": {\"local_path\": \"" + root.resolve("winogrande") + "\"}, \"race\": "
        + "{\"local_path\": \"" + root.resolve("race") + "\"}}", "--eval_output_dir", out.toString(), "--device", "cpu");
    for (String line : List.of("hellaswag validation: accuracy", "truthful_qa mc: accuracy", "winogrande dev: accuracy",
        "race middle: accuracy", "race: average accuracy"))
      assertTrue(r.startsWith("0\n") && r.contains(line), line + " in\n" + r);
    Files.writeString(wg, "{\"sentence\": \"_ x\", \"option1\": \"a\", \"option2\": \"b\", \"answer\": \"3\"}\n");
    var e = assertThrows(jswift.data.DatasetException.class, () -> jswift.eval.Winogrande.read(wg));
    assertTrue(e.getMessage().contains("dev.jsonl") && e.getMessage().contains("answer \"3\""), e.getMessage());
    Files.writeString(hs, "{\"ctx\": \"c\", \"endings\": [\"a\", \"b\"], \"label\": \"x\"}\n");
    e = assertThrows(jswift.data.DatasetException.class, () -> jswift.eval.Hellaswag.read(hs));
    assertTrue(e.getMessage().contains("label \"x\""), e.getMessage());
  }
}
