package jswift.template;

import java.util.Arrays;

/**
 * One element of a template prompt, as in ms-swift's {@code Prompt} lists: text, which may hold the
 * placeholders {@code {{SYSTEM}}}, {@code {{QUERY}}}, {@code {{ROUND0}}} and {@code {{ROUND1}}} and is
 * tokenized (special-token text such as {@code <|im_end|>} maps to its id), or token ids given as such
 * (the bos a tokenizer's post-processor would add).
 */
public sealed interface PromptPart {
  /** Template text. */
  record Text(String text) implements PromptPart {
    public Text {
      if (text == null) throw new IllegalArgumentException("prompt text is null");
    }
  }

  /** Token ids inserted as they are. */
  record Tokens(int[] ids) implements PromptPart {
    public Tokens {
      ids = ids.clone();
    }

    @Override
    public int[] ids() {
      return ids.clone();
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof Tokens t && Arrays.equals(ids, t.ids);
    }

    @Override
    public int hashCode() {
      return Arrays.hashCode(ids);
    }

    @Override
    public String toString() {
      return "Tokens" + Arrays.toString(ids);
    }
  }

  static PromptPart text(String text) {
    return new Text(text);
  }
}
