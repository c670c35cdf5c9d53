package jswift.train;

/**
 * Q-GaLore's settings on top of GaLore's (ms-swift's {@code --galore_quantization} flags and defaults): {@code
 * galore_proj_quant} stores each projector INT4 ({@code galore_proj_bits} 4, asymmetric min-max in groups of
 * {@code galore_proj_group_size} 256); the lazy subspace update compares each refreshed projector's first singular
 * vector with the previous one and, once the mean of the last {@code galore_queue_size} (5) cosine similarities
 * reaches {@code galore_cos_threshold} (0.4), multiplies that weight's update gap by {@code galore_gamma_proj} (2).
 * {@code weightsInt8} stores the projected weights INT8 (groups of {@link #WEIGHT_GROUP_SIZE}) and re-quantizes
 * them after each step with stochastic rounding drawn from {@code seed}, the step and the weight.
 */
public record QGaLoreConfig(boolean projQuant, int projBits, int projGroupSize, float cosThreshold, int gammaProj,
    int queueSize, boolean weightsInt8, long seed) {
  /** Q-GaLore's weight group size (its {@code weight_group_size} default; ms-swift has no flag for it). */
  public static final int WEIGHT_GROUP_SIZE = 256;

  public QGaLoreConfig {
    if (projBits != 4 && projBits != 8)
      throw new IllegalArgumentException("--galore_proj_bits must be 4 or 8, got " + projBits);
    if (projGroupSize <= 0)
      throw new IllegalArgumentException("--galore_proj_group_size must be > 0, got " + projGroupSize);
    if (!(cosThreshold >= -1 && cosThreshold <= 1))
      throw new IllegalArgumentException("--galore_cos_threshold is a cosine similarity in [-1, 1], got " + cosThreshold);
    if (gammaProj < 1) throw new IllegalArgumentException("--galore_gamma_proj must be >= 1, got " + gammaProj);
    if (queueSize <= 0) throw new IllegalArgumentException("--galore_queue_size must be > 0, got " + queueSize);
  }
}
