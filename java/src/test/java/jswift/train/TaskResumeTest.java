package jswift.train;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import jswift.testing.Cli;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;

/**
 * A run of each non-causal task (classifier, embedding, reranker) resumed from its half-way checkpoint ends with the
 * same adapter, head and optimizer state, byte for byte, as the run that was not interrupted.
 */
class TaskResumeTest {
  @ParameterizedTest
  @ValueSource(strings = {"seq_cls", "embedding", "reranker"})
  void resumedRunEqualsTheUninterruptedOne(String task, @TempDir Path dir) throws Exception {
    Path data = switch (task) {
      case "seq_cls" -> SequenceClassificationCommandTest.rows(dir, "cls.jsonl", false);
      case "embedding" -> EmbeddingCommandTest.rows(dir);
      default -> RerankerCommandTest.rows(dir);
    };
    List<String> common = new ArrayList<>(List.of("sft", "--task_type", task, "--model",
        RlhfCommandTest.MODEL.toString(), "--dataset", data.toString(), "--max_steps", "4", "--learning_rate", "2e-3",
        "--save_steps", "2", "--per_device_train_batch_size", "2", "--gradient_accumulation_steps", "2",
        "--lora_dropout", "0.1", "--device", "cpu"));
    if (task.equals("seq_cls")) common.addAll(List.of("--num_labels", "3"));
    List<String> a = new ArrayList<>(common);
    a.addAll(List.of("--output_dir", dir.resolve("a").toString()));
    String r = Cli.run(a.toArray(new String[0]));
    assertTrue(r.startsWith("0\n"), r);
    Path run = Cli.onlyChild(dir.resolve("a/jswift-tiny-chat"));
    List<String> b = new ArrayList<>(common);
    b.addAll(List.of("--output_dir", dir.resolve("b").toString(), "--resume_from_checkpoint",
        run.resolve("checkpoint-2").toString()));
    r = Cli.run(b.toArray(new String[0]));
    assertTrue(r.startsWith("0\n") && r.contains("resuming from"), r);
    Path resumed = Cli.onlyChild(dir.resolve("b/jswift-tiny-chat"));
    for (String f : List.of("adapter_model.safetensors", "optimizer.safetensors"))
      assertTrue(java.util.Arrays.equals(Files.readAllBytes(run.resolve("checkpoint-4/" + f)),
          Files.readAllBytes(resumed.resolve("checkpoint-4/" + f))), task + ": resumed = uninterrupted: " + f);
  }
}
