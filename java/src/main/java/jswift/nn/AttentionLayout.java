package jswift.nn;

import jswift.tensor.Tensor;

/**
 * How the tokens of a batch form sequences, for attention: padded rows of {@code seqLen} tokens with an optional
 * key mask [batch, seqLen] (0 = padding), or packed sequences delimited by cu_seqlens [batch + 1] (seqLen = the
 * longest). Positions (i32 [tokens]) feed RoPE.
 */
public record AttentionLayout(long seqLen, Tensor keyMask, Tensor cuSeqlens, Tensor positions) {}
