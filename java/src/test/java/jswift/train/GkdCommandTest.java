package jswift.train;

import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import jswift.testing.Cli;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * `jswift rlhf --rlhf_type gkd` end to end: a teacher made here (the bundled model fine-tuned on the identity data,
 * merged), and the bundled model distilled towards it, offline, on-policy and with the teacher's own answers.
 */
class GkdCommandTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  private static String[] gkd(Path teacher, Path out, String... more) {
    List<String> a = new ArrayList<>(List.of("rlhf", "--rlhf_type", "gkd", "--model", RlhfCommandTest.MODEL.toString(),
        "--teacher_model", teacher.toString(), "--dataset", "swift/self-cognition#24", "--model_name", "jswift-bot",
        "--model_author", "the jswift team", "--per_device_train_batch_size", "4", "--gradient_accumulation_steps", "1",
        "--max_completion_length", "16", "--logging_steps", "1", "--output_dir", out.toString(), "--device", "cpu"));
    a.addAll(List.of(more));
    return a.toArray(new String[0]);
  }

  @Test
  void studentMovesTowardsTheTeacher(@TempDir Path dir) throws Exception {
    String r = Cli.run("sft", "--model", RlhfCommandTest.MODEL.toString(), "--dataset", "swift/self-cognition#24",
        "--model_name", "jswift-bot", "--model_author", "the jswift team", "--max_steps", "15", "--learning_rate", "2e-3",
        "--per_device_train_batch_size", "4", "--gradient_accumulation_steps", "1", "--save_steps", "15",
        "--output_dir", dir.resolve("sft").toString(), "--device", "cpu");
    assertTrue(r.startsWith("0\n"), r);
    Path adapter = Cli.onlyChild(dir.resolve("sft/jswift-tiny-chat")).resolve("checkpoint-15");
    Path teacher = dir.resolve("teacher");
    r = Cli.run("export", "--adapters", adapter.toString(), "--merge_lora", "true", "--output_dir", teacher.toString());
    assertTrue(r.startsWith("0\n"), r);

    r = Cli.run(gkd(teacher, dir.resolve("offline"), "--lmbda", "0", "--max_steps", "12", "--learning_rate", "1e-3",
        "--val_dataset", "swift/self-cognition#8"));
    assertTrue(r.startsWith("0\n") && r.contains("rlhf (gkd, beta 0.5, lmbda 0.0)") && r.contains("teacher model: "), r);
    List<JsonNode> steps = new ArrayList<>();
    JsonNode eval = null;
    for (String line : Files.readAllLines(Cli.onlyChild(dir.resolve("offline/jswift-tiny-chat")).resolve("logging.jsonl"))) {
      JsonNode n = JSON.readTree(line);
      if (n.has("loss")) steps.add(n);
      if (n.has("eval_loss")) eval = n;
    }
    double first = steps.get(0).get("loss").asDouble(), last = steps.get(steps.size() - 1).get("loss").asDouble();
    assertTrue(first > 0.05 && last < 0.7 * first, "the divergence fell: " + first + " -> " + last);
    assertTrue(eval != null && eval.get("eval_loss").asDouble() < first, String.valueOf(eval));

    // on-policy (the student answers) and sequence-level KD (the teacher answers) run too
    r = Cli.run(gkd(teacher, dir.resolve("onpolicy"), "--lmbda", "1", "--max_steps", "2", "--beta", "0"));
    assertTrue(r.startsWith("0\n") && r.contains("step 2/2"), r);
    r = Cli.run(gkd(teacher, dir.resolve("seqkd"), "--lmbda", "0", "--seq_kd", "true", "--max_steps", "2", "--beta", "1"));
    assertTrue(r.startsWith("0\n") && r.contains("step 2/2"), r);

    r = Cli.run(gkd(jswift.testing.Fixtures.llamaGqa(), dir.resolve("o"), "--max_steps", "1"));
    assertTrue(r.startsWith("2\n") && r.contains("the teacher must use the same tokenizer"), r);
    r = Cli.run("rlhf", "--rlhf_type", "gkd", "--model", RlhfCommandTest.MODEL.toString(), "--dataset",
        "swift/self-cognition#4");
    assertTrue(r.startsWith("2\n") && r.contains("needs --teacher_model"), r);
  }
}
