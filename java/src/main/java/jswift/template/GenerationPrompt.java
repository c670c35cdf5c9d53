package jswift.template;

import java.util.Arrays;
import java.util.List;

/**
 * A conversation encoded for inference: the prompt's token ids, up to and including where the assistant's
 * answer starts (the generation prompt, plus a response prefix such as an opened or empty reasoning block),
 * and what ends generation: {@code stopWords} (strings; a generator checks the decoded tail) and
 * {@code stopTokenIds} (the ids of the stop words that are single tokens, and the tokenizer's eos ids).
 */
public record GenerationPrompt(int[] inputIds, List<String> stopWords, List<Integer> stopTokenIds) {
  public GenerationPrompt {
    inputIds = inputIds.clone();
    stopWords = List.copyOf(stopWords);
    stopTokenIds = List.copyOf(stopTokenIds);
  }

  @Override
  public int[] inputIds() {
    return inputIds.clone();
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof GenerationPrompt g && Arrays.equals(inputIds, g.inputIds) && stopWords.equals(g.stopWords)
        && stopTokenIds.equals(g.stopTokenIds);
  }

  @Override
  public int hashCode() {
    return Arrays.hashCode(inputIds) * 31 + stopWords.hashCode();
  }

  @Override
  public String toString() {
    return "GenerationPrompt[" + inputIds.length + " tokens, stop " + stopWords + "]";
  }
}
