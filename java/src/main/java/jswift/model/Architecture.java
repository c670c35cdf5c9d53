package jswift.model;

/**
 * What distinguishes one decoder family from another in the blocks jswift builds: biases on q/k/v, per-head
 * q/k RMSNorm, sliding-window attention, and the default chat template. Families differ only in these flags,
 * so adding one is an entry in {@link ModelRegistry}, not a new class.
 *
 * @param modelType      the config.json {@code model_type}
 * @param qkvBias        q/k/v projections have a bias regardless of {@code attention_bias} (Qwen2)
 * @param qkNorm         RMSNorm over each head of q and k before RoPE (Qwen3)
 * @param slidingWindow  honours {@code sliding_window} (Mistral; Qwen2 when {@code use_sliding_window})
 * @param template       ms-swift's default template name for the family
 */
public record Architecture(String modelType, boolean qkvBias, boolean qkNorm, boolean slidingWindow, String template) {}
