package jswift.template;

/**
 * One piece of an encoded conversation, before tokenization: its text or token ids, its type, the round it
 * belongs to (-1 for the prefix), and its loss weight (0 = not trained on; assigned by {@link LossScale}).
 * {@link SwiftTemplate#pieces} returns them so the layout of a conversation can be inspected.
 */
public record Piece(PromptPart part, PieceType type, int round, double weight) {
  Piece withWeight(double w) {
    return new Piece(part, type, round, w);
  }

  Piece withPart(PromptPart p) {
    return new Piece(p, type, round, weight);
  }

  /** The text of a text piece, else null. */
  public String text() {
    return part instanceof PromptPart.Text t ? t.text() : null;
  }
}
