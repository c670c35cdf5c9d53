package jswift.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import jswift.testing.Cli;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * EvalScope's bbh: the prompt with and without the chain-of-thought examples, its two answer readers (letters for
 * the multiple-choice subsets, the text after "answer is" for the free-form ones), the files, and a run of the
 * command on two subsets.
 */
class BbhTest {
  @Test
  void promptsAsEvalScope() {
    assertEquals("Q: 2 + 2 =\nA: Let's think step by step.", Bbh.prompt("2 + 2 =", null));
    assertEquals("Follow the given examples and answer the question.\nQ: 1 + 1 =\nA: 2. So the answer is 2.\n\n"
        + "Q: 2 + 2 =\nA: Let's think step by step.", Bbh.prompt("2 + 2 =", "Q: 1 + 1 =\nA: 2. So the answer is 2.\n\n"));
  }

  @Test
  void readsAnswersAsEvalScope() {
    // multiple choice: the letter after "answer is", in parentheses or not, else the first capital letter
    assertEquals("B", Bbh.extract("The sky is blue. So the answer is (B).", true));
    assertEquals("C", Bbh.extract("So the answer is C", true));
    assertEquals("T", Bbh.extract("There is no option here", true), "the first capital letter");
    // free form: the text between "answer is" and the next period, else the line after it
    assertEquals("24", Bbh.extract("-1 + 2 = 1 ... So the answer is 24.", false));
    assertEquals("True", Bbh.extract("So the answer is True\nmore", false));
    assertEquals("valid", Bbh.extract("valid.", false), "no phrase: the first line without its period");
    assertTrue(Bbh.correct("So the answer is (A).", "(A)", true));
    assertFalse(Bbh.correct("So the answer is (B).", "(A)", true));
    assertTrue(Bbh.correct("So the answer is 24.", "24", false));
    assertTrue(Bbh.isMultipleChoice("snarks"));
    assertFalse(Bbh.isMultipleChoice("word_sorting"));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Bbh.isMultipleChoice("snark"));
    assertTrue(e.getMessage().contains("'snark' is not a BBH subset"), e.getMessage());
  }

  @Test
  void badFilesNameTheFileAndTheExample(@TempDir Path dir) throws IOException {
    Path f = dir.resolve("navigate.json");
    Files.writeString(f, "{\"examples\": [{\"input\": \"a\", \"target\": \"Yes\"}, {\"input\": \"b\"}]}");
    IOException e = assertThrows(IOException.class, () -> Bbh.read(f));
    assertTrue(e.getMessage().contains("navigate.json: example 1 needs"), e.getMessage());
    Files.writeString(f, "[1, 2]");
    e = assertThrows(IOException.class, () -> Bbh.read(f));
    assertTrue(e.getMessage().contains("{\"examples\""), e.getMessage());
    e = assertThrows(IOException.class, () -> Bbh.cotExamples(dir, "navigate"));
    assertTrue(e.getMessage().contains("cot_prompts") && e.getMessage().contains("few_shot_num"), e.getMessage());
  }

  @Test
  void evalScoresEverySubset(@TempDir Path dir) throws Exception {
    Path bbh = Files.createDirectories(dir.resolve("bbh"));
    Files.writeString(bbh.resolve("boolean_expressions.json"), "{\"examples\": [{\"input\": \"not ( True ) and ( "
        + "True ) is\", \"target\": \"False\"}, {\"input\": \"True and not not ( not False ) is\", \"target\": \"True\"}]}");
    Files.writeString(bbh.resolve("snarks.json"), "{\"examples\": [{\"input\": \"Which statement is sarcastic?\\n"
        + "Options:\\n(A) yes\\n(B) no\", \"target\": \"(A)\"}]}");
    Path cot = Files.createDirectories(bbh.resolve("cot_prompts"));
    Files.writeString(cot.resolve("boolean_expressions.txt"), "Q: True and False is\nA: Let's think step by step.\n"
        + "True and False = False. So the answer is False.\n\n");
    Files.writeString(cot.resolve("snarks.txt"), "Q: Which is sarcastic?\nOptions:\n(A) a\n(B) b\nA: Let's think "
        + "step by step.\nSo the answer is (B).\n\n");
    Path out = dir.resolve("out");
    String r = Cli.run("eval", "--model", MultipleChoiceTest.MODEL.toString(), "--eval_dataset", "bbh",
        "--eval_dataset_args", "{\"bbh\": {\"local_path\": \"" + bbh + "\"}}", "--eval_output_dir", out.toString(),
        "--device", "cpu", "--max_new_tokens", "8");
    assertTrue(r.startsWith("0\n") && r.contains("bbh boolean_expressions: accuracy") && r.contains("3-shot")
        && r.contains("bbh snarks: accuracy") && r.contains("bbh: average accuracy"), r);
    Path run = Cli.onlyChild(out);
    JsonNode report = new ObjectMapper().readTree(run.resolve("report.json").toFile()).get("bbh");
    int right = report.get("boolean_expressions").get("correct").asInt() + report.get("snarks").get("correct").asInt();
    assertEquals(right / 3.0, report.get("average_accuracy").asDouble(), 1e-12);
    List<String> answers = Files.readAllLines(run.resolve("bbh_boolean_expressions.jsonl"));
    assertEquals(2, answers.size());
    JsonNode first = new ObjectMapper().readTree(answers.get(0));
    assertEquals(Bbh.extract(first.get("answer").asText(), false), first.get("prediction").asText());
    // zero-shot needs no chain-of-thought files; an unknown subset is refused before any question runs
    String zero = Cli.run("eval", "--model", MultipleChoiceTest.MODEL.toString(), "--eval_dataset", "bbh",
        "--eval_dataset_args", "{\"bbh\": {\"local_path\": \"" + bbh + "\", \"few_shot_num\": 0, \"subset_list\": "
            + "[\"snarks\"]}}", "--eval_output_dir", dir.resolve("out0").toString(), "--device", "cpu",
        "--max_new_tokens", "4");
    assertTrue(zero.startsWith("0\n") && zero.contains("bbh snarks: accuracy") && zero.contains("0-shot"), zero);
    String bad = Cli.run("eval", "--model", MultipleChoiceTest.MODEL.toString(), "--eval_dataset", "bbh",
        "--eval_dataset_args", "{\"bbh\": {\"local_path\": \"" + bbh + "\", \"subset_list\": [\"snark\"]}}",
        "--eval_output_dir", dir.resolve("out1").toString(), "--device", "cpu");
    assertTrue(bad.contains("'snark' is not a BBH subset"), bad);
  }
}
