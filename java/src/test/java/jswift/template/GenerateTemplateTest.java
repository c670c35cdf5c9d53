package jswift.template;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jswift.testing.Fixtures;
import jswift.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;

/**
 * {@code --use_chat_template false} (ms-swift's generation form of a template): the query then the answer, the
 * tokenizer's end-of-sequence token after it, only the answer and that token labelled; no system, one turn.
 */
class GenerateTemplateTest {
  @Test
  void queryThenAnswerThenEos() throws Exception {
    try (Tokenizer tok = Tokenizer.load(Fixtures.fetchedTokenizer("qwen3"))) {
      ConversationEncoder t = Templates.createGenerate("qwen3", tok, TemplateOptions.DEFAULT);
      Conversation c = Conversation.of(new Message(Role.USER, "The capital of France is"),
          new Message(Role.ASSISTANT, " Paris."));
      Encoded e = t.encode(c);
      String eos = tok.decode(new int[] {tok.eosTokenIds().get(0)}, false);
      assertEquals("The capital of France is Paris." + eos, tok.decode(e.inputIds(), false));
      StringBuilder labelled = new StringBuilder();
      java.util.List<Integer> ids = new java.util.ArrayList<>();
      for (int i = 0; i < e.length(); i++) if (e.labels()[i] != Encoded.IGNORE) ids.add(e.inputIds()[i]);
      labelled.append(tok.decode(ids.stream().mapToInt(Integer::intValue).toArray(), false));
      assertEquals(" Paris." + eos, labelled.toString(), "the answer and the end-of-sequence token are learned");
      assertEquals("The capital of France is", tok.decode(t.encodePrompt(c).inputIds(), false));
      Conversation twoTurns = Conversation.of(new Message(Role.USER, "a"), new Message(Role.ASSISTANT, "b"),
          new Message(Role.USER, "c"), new Message(Role.ASSISTANT, "d"));
      IllegalArgumentException x = assertThrows(IllegalArgumentException.class, () -> t.encode(twoTurns));
      assertTrue(x.getMessage().contains("no multi-turn format"), x.getMessage());
      x = assertThrows(IllegalArgumentException.class, () -> t.encode(Conversation.of(new Message(Role.SYSTEM, "s"),
          new Message(Role.USER, "a"), new Message(Role.ASSISTANT, "b"))));
      assertTrue(x.getMessage().contains("no system prompt"), x.getMessage());
    }
  }

  @Test
  void sftAndInferRunWithoutTheChatTemplate(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
    java.nio.file.Path data = jswift.testing.TinyModels.chatDataset(dir.resolve("d.jsonl"), new String[][] {
        {"The capital of France is", " Paris."}, {"The capital of Italy is", " Rome."}});
    String model = jswift.cli.QuickStart.MODEL.toString();
    java.nio.file.Path root = java.nio.file.Path.of(System.getProperty("user.dir")).getParent();
    String r = jswift.testing.Cli.run("sft", "--model", root.resolve(model).toString(), "--dataset", data.toString(),
        "--use_chat_template", "false", "--max_steps", "20", "--learning_rate", "3e-3", "--save_steps", "20",
        "--logging_steps", "20", "--per_device_train_batch_size", "2", "--gradient_accumulation_steps", "1",
        "--output_dir", dir.resolve("o").toString(), "--device", "cpu");
    assertTrue(r.startsWith("0\n"), r);
    java.nio.file.Path ckpt = jswift.testing.Cli.onlyChild(dir.resolve("o/jswift-tiny-chat")).resolve("checkpoint-20");
    java.nio.file.Path out = dir.resolve("answers.jsonl");
    r = jswift.testing.Cli.run("infer", "--adapters", ckpt.toString(), "--use_chat_template", "false", "--val_dataset",
        data.toString(), "--max_new_tokens", "4", "--result_path", out.toString(), "--device", "cpu");
    assertTrue(r.startsWith("0\n"), r);
    String first = java.nio.file.Files.readAllLines(out).get(0);
    assertTrue(first.contains("Paris"), "the base-model form learned its answers: " + first);
  }
}
