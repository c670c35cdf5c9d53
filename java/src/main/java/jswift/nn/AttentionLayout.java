package jswift.nn;

import jswift.tensor.Tensor;

/**
 * How the tokens of a batch form sequences, for attention: padded rows of {@code seqLen} tokens with an optional
 * key mask [batch, seqLen] (0 = padding), or packed sequences delimited by cu_seqlens [batch + 1] (seqLen = the
 * longest). Positions (i32 [tokens]) feed RoPE. {@code shifted}, when not null, makes a training step's attention
 * LongLoRA's shifted sparse attention over those sequences ({@link ShiftedGroups}).
 */
public record AttentionLayout(long seqLen, Tensor keyMask, Tensor cuSeqlens, Tensor positions, ShiftedGroups shifted) {
  public AttentionLayout(long seqLen, Tensor keyMask, Tensor cuSeqlens, Tensor positions) {
    this(seqLen, keyMask, cuSeqlens, positions, null);
  }
}
