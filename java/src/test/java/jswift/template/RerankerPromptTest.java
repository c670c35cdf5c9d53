package jswift.template;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jswift.testing.Fixtures;
import jswift.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;

/**
 * ms-swift's qwen3_reranker template writes Qwen3-Reranker's own prompt (its model card's prefix, formatted
 * instruction / query / document, and suffix), token for token.
 */
class RerankerPromptTest {
  private static final String PREFIX = "<|im_start|>system\nJudge whether the Document meets the requirements based on "
      + "the Query and the Instruct provided. Note that the answer can only be \"yes\" or \"no\".<|im_end|>\n"
      + "<|im_start|>user\n";
  private static final String SUFFIX = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n";

  @Test
  void writesQwen3RerankersPrompt() throws Exception {
    try (Tokenizer tok = Tokenizer.load(Fixtures.fetchedTokenizer("qwen3"))) {
      ConversationEncoder t = Templates.create("qwen3_reranker", tok, TemplateOptions.DEFAULT);
      Conversation pair = Conversation.of(new Message(Role.USER, "What is the capital of China?"),
          new Message(Role.ASSISTANT, "The capital of China is Beijing."));
      String expected = PREFIX + "<Instruct>: Given a web search query, retrieve relevant passages that answer the query"
          + "\n<Query>: What is the capital of China?\n<Document>: The capital of China is Beijing." + SUFFIX;
      int[] ids = t.encodeClassifierInput(pair);
      assertEquals(expected, tok.decode(ids, false));
      assertArrayEquals(tok.encode(expected, false), ids);
      // a row's system message is the instruction
      Conversation instructed = Conversation.of(new Message(Role.SYSTEM, "Find the answer"),
          new Message(Role.USER, "q"), new Message(Role.ASSISTANT, "d"));
      assertEquals(PREFIX + "<Instruct>: Find the answer\n<Query>: q\n<Document>: d" + SUFFIX,
          tok.decode(t.encodeClassifierInput(instructed), false));
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> t.encode(pair));
      assertTrue(e.getMessage().contains("generative_reranker"), e.getMessage());
    }
  }
}
