package jswift.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import jswift.model.ModelConfig;
import jswift.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * The quick start (README's first command, `jswift sft` with no argument): the bundled pre-trained tiny chat model
 * is a normal Hugging Face folder, and 150 QLoRA steps (NF4 base) teach it the self-cognition answers it did not give
 * before.
 */
class QuickStartTest {
  private static final Path MODEL = Path.of(System.getProperty("user.dir")).getParent().resolve(QuickStart.MODEL);

  @Test
  void theBundledModelIsASmallHuggingFaceChatModel() throws IOException {
    long bytes = 0;
    try (var files = Files.list(MODEL)) {
      for (Path f : (Iterable<Path>) files::iterator) bytes += Files.size(f);
    }
    assertTrue(bytes <= 12L << 20, "the model folder must stay <= 12 MiB: " + bytes);
    ModelConfig cfg = ModelConfig.load(MODEL);
    assertEquals("qwen2", cfg.modelType());
    assertTrue(cfg.tieWordEmbeddings(), "tied embeddings keep it small");
    try (Tokenizer tok = Tokenizer.load(MODEL)) {
      assertEquals(cfg.vocabSize(), tok.vocabSize(), "tokenizer and embedding agree");
    }
    String template = new com.fasterxml.jackson.databind.ObjectMapper()
        .readTree(MODEL.resolve("tokenizer_config.json").toFile()).path("chat_template").asText();
    assertTrue(template.contains("<|im_start|>"), "a ChatML chat template: " + template);
    {
    }
  }

  @Test
  void qloraTeachesTheModelItsNewIdentity(@TempDir Path out) throws IOException {
    StringWriter console = new StringWriter();
    List<String> identity = QuickStart.QUESTIONS.subList(0, 3);  // who are you, your name, who made you
    QuickStart.Result r = QuickStart.run(QuickStart.arguments(MODEL, out, 150), QuickStart.QUESTIONS,
        new PrintWriter(console));
    String text = console.toString();
    assertTrue(text.contains("Before training") && text.contains("After training"), text);
    assertTrue(text.contains("QLoRA (4-bit NF4 base)") && text.contains("NF4_DOUBLE_QUANT weights"), text);
    for (String a : r.before().subList(0, identity.size()))
      assertFalse(a.contains("jswift"), "the pre-trained model does not know the name yet: " + a);
    long learnt = r.after().subList(0, identity.size()).stream()
        .filter(a -> a.contains(QuickStart.NAME) || a.contains(QuickStart.AUTHOR)).count();
    assertTrue(learnt >= 2, "after training it answers with its new identity: " + r.after());
    assertTrue(Files.exists(r.checkpoint().resolve("adapter_model.safetensors")), r.checkpoint().toString());
    assertTrue(text.contains("./jswift infer --model"), "the end says how to chat with the adapter");
  }

  @Test
  void sftWithoutArgumentsIsTheQuickStart(@TempDir Path elsewhere) {
    // Pointed at a checkout without the bundled model, `jswift sft` with no argument runs the quick start, which
    // says what it needs; with any argument it is an ordinary run, which asks for --model.
    String home = System.getProperty("jswift.home");
    System.setProperty("jswift.home", elsewhere.toString());
    try {
      StringWriter err = new StringWriter();
      CommandLine cli = Main.commandLine();
      cli.setErr(new PrintWriter(err, true));
      assertEquals(2, cli.execute("sft"));
      assertTrue(err.toString().contains("the quick start needs the bundled model"), err.toString());
      err.getBuffer().setLength(0);
      cli = Main.commandLine();
      cli.setErr(new PrintWriter(err, true));
      assertEquals(2, cli.execute("sft", "--dataset", "jswift/quickstart-sft"));
      assertTrue(err.toString().contains("--model is required"), err.toString());
    } finally {
      if (home == null) System.clearProperty("jswift.home");
      else System.setProperty("jswift.home", home);
    }
  }
}
