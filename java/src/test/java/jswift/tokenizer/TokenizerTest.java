package jswift.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import jswift.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Qwen3 and Llama 3 tokenizers (fetched by the build) against ids computed by Hugging Face tokenizers in Python. */
class TokenizerTest {
  @Test
  void idsMatchHuggingFaceTokenizers() throws IOException {
    JsonNode expected = new ObjectMapper().readTree(Fixtures.resource("tokenizers/expected_ids.json").toFile());
    int checked = 0;
    for (JsonNode c : expected.get("cases")) {
      try (Tokenizer t = Tokenizer.load(Fixtures.fetchedTokenizer(c.get("model").asText()))) {
        String text = c.get("text").asText();
        int[] want = new ObjectMapper().convertValue(c.get("ids"), int[].class);
        int[] wantSpecial = new ObjectMapper().convertValue(c.get("with_special_ids"), int[].class);
        assertArrayEquals(want, t.encode(text), c.get("model") + ": " + text);
        assertArrayEquals(wantSpecial, t.encode(text, true), c.get("model") + " with special tokens");
        assertEquals(text, t.decode(t.encode(text), false));  // byte-level BPE round-trips exactly
        checked++;
      }
    }
    assertEquals(4, checked);
  }

  @Test
  void specialTokensOfQwen3AndLlama3() throws IOException {
    try (Tokenizer q = Tokenizer.load(Fixtures.fetchedTokenizer("qwen3"))) {
      assertNull(q.bosTokenId());
      assertEquals(151645, q.specialTokenId("<|im_end|>"));
      assertTrue(q.eosTokenIds().contains(151645));
      assertEquals(151643, q.padTokenId());  // <|endoftext|>
      assertEquals(151669, q.vocabSize());
      int[] ids = q.encode("<|im_start|>user\nhi<|im_end|>");
      assertEquals(151644, ids[0]);
      assertEquals("user\nhi", q.decode(ids, true));
    }
    try (Tokenizer l = Tokenizer.load(Fixtures.fetchedTokenizer("llama3"))) {
      assertEquals(128000, l.bosTokenId());
      assertEquals(List.of(128001), l.eosTokenIds());
      assertEquals(128256, l.vocabSize());
      // This tokenizer.json's post-processor is plain ByteLevel (as in Python): the bos comes from the template.
      assertArrayEquals(new int[] {6151}, l.encode("hi", true));
    }
  }

  @Test
  void longTextIsNeverTruncated() throws IOException {
    try (Tokenizer q = Tokenizer.load(Fixtures.fetchedTokenizer("qwen3"))) {
      String text = "word" + " word".repeat(4999);
      assertEquals(5000, q.encode(text).length, "no max-length truncation");
    }
  }

  @Test
  void badInputsAreClearErrors(@TempDir Path dir) throws IOException {
    IOException e = assertThrows(IOException.class, () -> Tokenizer.load(dir));
    assertTrue(e.getMessage().contains("tokenizer.json not found"), e.getMessage());
    Files.writeString(dir.resolve("tokenizer.json"), "{not json");
    e = assertThrows(IOException.class, () -> Tokenizer.load(dir));
    assertTrue(e.getMessage().contains("not valid JSON"), e.getMessage());
    try (Tokenizer q = Tokenizer.load(Fixtures.fetchedTokenizer("qwen3"))) {
      IllegalArgumentException bad = assertThrows(IllegalArgumentException.class, () -> q.decode(new int[] {5, -1}, false));
      assertTrue(bad.getMessage().contains("position 1"), bad.getMessage());
    }
  }
}
