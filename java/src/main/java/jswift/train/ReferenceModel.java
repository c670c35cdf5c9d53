package jswift.train;

import jswift.model.Batch;
import jswift.model.CausalLM;

/**
 * The frozen model DPO, KTO and GRPO measure the policy against: the policy's own base with its LoRA adapter switched
 * off (what PEFT and TRL use for adapters: no second copy of the weights), or a separate model loaded from
 * {@code --ref_model} (full-parameter training, whose base weights move). Both answer with forward passes only, no
 * dropout.
 */
abstract class ReferenceModel implements AutoCloseable {
  /** Each packed sequence's summed log-probability of its targets. */
  abstract double[] sequenceLogProbs(Batch b);

  /**
   * Each token's log-probability of its target (0 where there is none) under softmax(logits / temperature), as TRL's
   * GRPO measures its reference at the sampling temperature.
   */
  abstract float[] targetLogProbs(Batch b, float temperature);

  @Override
  public void close() {}

  /** The policy with {@code adapter} switched off; the adapter is active again after each call. */
  static ReferenceModel adapterOff(CausalLM policy, String adapter) {
    return adapterSwap(policy, null, adapter);
  }

  /**
   * The policy's base with the frozen adapter {@code reference} (null: none) instead of the trained {@code adapter},
   * which is active again after each call (--ref_adapters).
   */
  static ReferenceModel adapterSwap(CausalLM policy, String reference, String adapter) {
    return new ReferenceModel() {
      @Override
      double[] sequenceLogProbs(Batch b) {
        policy.setActiveAdapter(reference);
        try {
          return policy.sequenceLogProbs(b);
        } finally {
          policy.setActiveAdapter(adapter);
        }
      }

      @Override
      float[] targetLogProbs(Batch b, float temperature) {
        policy.setActiveAdapter(reference);
        try {
          return policy.targetLogProbs(b, temperature);
        } finally {
          policy.setActiveAdapter(adapter);
        }
      }
    };
  }

  /** A separate, frozen model (closed with this reference); it must share the policy's vocabulary. */
  static ReferenceModel separate(CausalLM reference, CausalLM policy, String where) {
    if (reference.config().vocabSize() != policy.config().vocabSize())
      throw new IllegalArgumentException("--ref_model " + where + " has a vocabulary of " + reference.config().vocabSize()
          + " tokens, the trained model " + policy.config().vocabSize() + ": the reference must use the same tokenizer");
    return new ReferenceModel() {
      @Override
      double[] sequenceLogProbs(Batch b) {
        return reference.sequenceLogProbs(b);
      }

      @Override
      float[] targetLogProbs(Batch b, float temperature) {
        return reference.targetLogProbs(b, temperature);
      }

      @Override
      public void close() {
        reference.close();
      }
    };
  }
}
