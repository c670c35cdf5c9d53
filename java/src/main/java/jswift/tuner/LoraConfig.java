package jswift.tuner;

import java.util.List;

/**
 * LoRA settings with ms-swift's names and defaults: {@code --lora_rank 8 --lora_alpha 32 --lora_dropout 0.05
 * --target_modules all-linear}, {@code --target_regex}, {@code --use_rslora}, {@code --init_weights true|gaussian|false}.
 * The scale is alpha / rank, or alpha / sqrt(rank) with rsLoRA.
 */
public record LoraConfig(int rank, float alpha, float dropout, List<String> targetModules, String targetRegex,
    boolean useRslora, String initWeights) {

  public LoraConfig {
    if (rank <= 0) throw new IllegalArgumentException("lora_rank must be > 0, got " + rank);
    if (dropout < 0 || dropout >= 1) throw new IllegalArgumentException("lora_dropout must be in [0, 1), got " + dropout);
    targetModules = List.copyOf(targetModules);
    if (targetModules.isEmpty() && targetRegex == null)
      throw new IllegalArgumentException("no target modules: pass --target_modules (e.g. all-linear) or --target_regex");
    if (!List.of("true", "false", "gaussian").contains(initWeights))
      throw new IllegalArgumentException("init_weights '" + initWeights + "' is not supported (true, false, gaussian)");
  }

  public static LoraConfig defaults() {
    return new LoraConfig(8, 32f, 0.05f, List.of("all-linear"), null, false, "true");
  }

  public float scale() {
    return useRslora ? (float) (alpha / Math.sqrt(rank)) : alpha / rank;
  }

  public LoraConfig withRank(int r, float a) {
    return new LoraConfig(r, a, dropout, targetModules, targetRegex, useRslora, initWeights);
  }

  public LoraConfig withDropout(float p) {
    return new LoraConfig(rank, alpha, p, targetModules, targetRegex, useRslora, initWeights);
  }

  public LoraConfig withTargets(List<String> modules, String regex) {
    return new LoraConfig(rank, alpha, dropout, modules, regex, useRslora, initWeights);
  }

  public LoraConfig withRslora(boolean on) {
    return new LoraConfig(rank, alpha, dropout, targetModules, targetRegex, on, initWeights);
  }

  public LoraConfig withInitWeights(String init) {
    return new LoraConfig(rank, alpha, dropout, targetModules, targetRegex, useRslora, init);
  }
}
