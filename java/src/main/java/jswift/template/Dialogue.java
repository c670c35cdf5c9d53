package jswift.template;

import java.util.List;

/**
 * A conversation normalised for encoding (step 1 of ms-swift's swift backend): the system text that goes into
 * the template (the row's, else the default, rewritten by the agent template when tools are given; null or
 * empty for none) and the rounds. {@link #lastUserRound()} is the last round asked by the user rather than by
 * tool results: loss_scale {@code last_round} trains the responses from there on.
 */
public record Dialogue(String system, List<Round> rounds) {
  public Dialogue {
    rounds = List.copyOf(rounds);
    if (rounds.isEmpty()) throw new IllegalArgumentException("a dialogue needs at least one round");
  }

  public int lastUserRound() {
    for (int r = rounds.size() - 1; r >= 0; r--) if (!rounds.get(r).isToolQuery()) return r;
    return 0;
  }
}
