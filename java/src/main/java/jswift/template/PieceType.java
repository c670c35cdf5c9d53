package jswift.template;

/**
 * What a piece of an encoded conversation is, which decides whether it is trained on (ms-swift's
 * {@code ContextType}): an assistant {@code RESPONSE}, the {@code SUFFIX} that ends the last response in
 * training (the end-of-turn the model must learn to emit), or {@code OTHER} template text, system, user
 * queries and tool results.
 */
public enum PieceType {
  RESPONSE,
  SUFFIX,
  OTHER
}
