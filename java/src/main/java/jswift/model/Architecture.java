package jswift.model;

/**
 * What distinguishes one decoder family from another in the blocks jswift builds: biases on q/k/v, per-head
 * q/k RMSNorm, which layers use sliding-window attention, and the default chat template. Families differ only in
 * these settings, so adding one is an entry in {@link ModelRegistry}, not a new class.
 *
 * @param modelType      the config.json {@code model_type}
 * @param qkvBias        q/k/v projections have a bias regardless of {@code attention_bias} (Qwen2)
 * @param qkNorm         RMSNorm over each head of q and k before RoPE (Qwen3)
 * @param slidingWindow  how the family reads {@code sliding_window}
 * @param template       ms-swift's default template name for the family
 */
public record Architecture(String modelType, boolean qkvBias, boolean qkNorm, SlidingWindow slidingWindow,
    String template) {

  /** Where transformers applies {@code sliding_window}, per family. */
  public enum SlidingWindow {
    /** Never (Llama: the key is ignored). */
    NONE,
    /** Every layer, whenever {@code sliding_window} is set (Mistral, which has no switch and ignores layer_types). */
    EVERY_LAYER,
    /**
     * Only with {@code use_sliding_window} true (default false), and then only on the layers {@code layer_types}
     * marks "sliding_attention"; a file without layer_types slides the layers i >= {@code max_window_layers}
     * (default 28), which is how transformers derives layer_types (Qwen2, Qwen3).
     */
    LAYER_TYPES
  }
}
