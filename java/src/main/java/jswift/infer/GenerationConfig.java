package jswift.infer;

import java.util.List;

/**
 * How to pick new tokens, with transformers' generate() meanings: greedy when {@code temperature == 0} or
 * sampling is off, else sampling with repetition penalty, temperature, top-k and top-p applied in that order.
 * Generation stops at {@code maxNewTokens}, at any of {@code stopTokenIds} (the eos ids by default; the stop
 * token is kept in the output), or when the decoded text ends with one of {@code stopStrings}.
 */
public record GenerationConfig(int maxNewTokens, boolean doSample, float temperature, int topK, float topP,
    float repetitionPenalty, long seed, List<Integer> stopTokenIds, List<String> stopStrings) {

  public GenerationConfig {
    if (maxNewTokens < 0) throw new IllegalArgumentException("max_new_tokens must be >= 0, got " + maxNewTokens);
    if (temperature < 0) throw new IllegalArgumentException("temperature must be >= 0, got " + temperature);
    if (topK < 0) throw new IllegalArgumentException("top_k must be >= 0 (0 = off), got " + topK);
    if (!(topP > 0 && topP <= 1)) throw new IllegalArgumentException("top_p must be in (0, 1], got " + topP);
    if (!(repetitionPenalty > 0)) throw new IllegalArgumentException("repetition_penalty must be > 0, got " + repetitionPenalty);
    stopTokenIds = List.copyOf(stopTokenIds);
    stopStrings = List.copyOf(stopStrings);
  }

  /** Greedy decoding of up to {@code maxNewTokens}, stopping at the given ids. */
  public static GenerationConfig greedy(int maxNewTokens, List<Integer> stopTokenIds) {
    return new GenerationConfig(maxNewTokens, false, 1f, 0, 1f, 1f, 0, stopTokenIds, List.of());
  }

  /** Sampling (ms-swift's infer defaults are temperature 0 = greedy; these are what a user sets). */
  public static GenerationConfig sampling(int maxNewTokens, float temperature, int topK, float topP,
      float repetitionPenalty, long seed, List<Integer> stopTokenIds) {
    return new GenerationConfig(maxNewTokens, true, temperature, topK, topP, repetitionPenalty, seed, stopTokenIds,
        List.of());
  }

  public GenerationConfig withStopStrings(List<String> strings) {
    return new GenerationConfig(maxNewTokens, doSample, temperature, topK, topP, repetitionPenalty, seed, stopTokenIds,
        strings);
  }

  public GenerationConfig withSeed(long newSeed) {
    return new GenerationConfig(maxNewTokens, doSample, temperature, topK, topP, repetitionPenalty, newSeed, stopTokenIds,
        stopStrings);
  }

  /** Greedy: no sampling, or temperature 0. */
  public boolean isGreedy() {
    return !doSample || temperature == 0f;
  }
}
