package jswift.template;

import java.util.ArrayList;
import java.util.List;

/**
 * A message while a conversation is being normalised (package-private working state of
 * {@link DialogueBuilder}): a user query, an assistant response (tool calls already written as text) or the
 * results of a run of tool calls. {@code index} is the position of its first message in the row, for errors.
 */
final class Turn {
  enum Kind { USER, ASSISTANT, TOOL }

  final Kind kind;
  final int index;
  String content;
  Double loss;
  final List<String> toolResults = new ArrayList<>();

  Turn(Kind kind, int index, String content, Double loss) {
    this.kind = kind;
    this.index = index;
    this.content = content;
    this.loss = loss;
  }

  @Override
  public String toString() {
    return kind + "@" + index + ":" + (kind == Kind.TOOL ? toolResults : content);
  }
}
