package jswift.template;

import java.util.List;

/**
 * One (query, response) pair of a normalised conversation. The query is a user's text, or, after tool calls,
 * the tool results already written in the template's format ({@code toolQuery}, emitted as they are). The
 * response is null where the model is to generate it; {@code loss} is the assistant message's own
 * {@code "loss"} field (null: the loss_scale strategy decides).
 */
public record Round(String query, List<PromptPart> toolQuery, String response, Double loss) {
  public Round {
    if ((query == null) == (toolQuery == null))
      throw new IllegalArgumentException("a round has either a user query or tool results");
    toolQuery = toolQuery == null ? null : List.copyOf(toolQuery);
  }

  public boolean isToolQuery() {
    return toolQuery != null;
  }

  Round withResponse(String newResponse) {
    return new Round(query, toolQuery, newResponse, loss);
  }
}
