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

  /** The tiny Llama (GQA) with Hugging Face / PEFT reference outputs: fixtures/hf-tiny/llama-gqa/README.md. */
  public static Path llamaGqa() {
    return resource("hf-tiny/llama-gqa");
  }
}
