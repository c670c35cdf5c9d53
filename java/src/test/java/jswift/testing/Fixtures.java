package jswift.testing;

import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Path;

/** Paths of the test fixtures under src/test/resources/fixtures (each folder has a README on its origin). */
public final class Fixtures {
  private Fixtures() {}

  public static Path resource(String relative) {
    URL url = Fixtures.class.getResource("/fixtures/" + relative);
    if (url == null) throw new IllegalStateException("missing test fixture " + relative);
    try {
      return Path.of(url.toURI());
    } catch (URISyntaxException e) {
      throw new IllegalStateException(e);
    }
  }

  /**
   * A real tokenizer fetched by the build (scripts/fetch-tokenizers.sh, pinned and checksummed; see
   * fixtures/tokenizers/README.md): "qwen3" or "llama3".
   */
  public static Path fetchedTokenizer(String name) {
    Path dir = Path.of(System.getProperty("jswift.test.fixtures", "target/test-fixtures"), "tokenizers", name);
    if (!java.nio.file.Files.exists(dir.resolve("tokenizer.json")))
      throw new IllegalStateException(dir + " is missing: run the build (mvn verify), whose generate-test-resources "
          + "phase fetches it with scripts/fetch-tokenizers.sh");
    return dir;
  }

  /** The tiny Llama (GQA) with Hugging Face / PEFT reference outputs: fixtures/hf-tiny/llama-gqa/README.md. */
  public static Path llamaGqa() {
    return resource("hf-tiny/llama-gqa");
  }

  /**
   * One of the tiny models of the other families (qwen2, qwen3, mistral, llama-rope-llama3, llama-rope-linear)
   * with transformers / PEFT reference outputs: fixtures/hf-tiny/README.md.
   */
  public static Path hfTiny(String family) {
    return resource("hf-tiny/" + family);
  }

  /**
   * A complete tiny chat model folder in {@code dir}: the llama-gqa weights with the word-level tiny-chat
   * tokenizer and its one-line chat template (fixtures/tiny-chat/README.md). Its answers are random words.
   */
  public static Path tinyChatModel(Path dir) throws java.io.IOException {
    java.nio.file.Files.createDirectories(dir);
    for (String f : java.util.List.of("config.json", "model.safetensors", "generation_config.json"))
      java.nio.file.Files.copy(llamaGqa().resolve(f), dir.resolve(f));
    for (String f : java.util.List.of("tokenizer.json", "tokenizer_config.json"))
      java.nio.file.Files.copy(resource("tiny-chat/" + f), dir.resolve(f));
    return dir;
  }
}
