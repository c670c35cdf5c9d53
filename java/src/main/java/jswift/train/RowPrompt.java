package jswift.train;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.List;
import jswift.data.Row;
import jswift.template.Conversation;
import jswift.template.ConversationEncoder;
import jswift.template.GenerationPrompt;
import jswift.template.Message;
import jswift.template.Role;
import jswift.template.SequenceTooLongException;

/**
 * A dataset row used as a prompt for answers the model samples (GRPO, {@code jswift sample}): its conversation up to
 * the last user turn (a trailing assistant answer, the dataset's own, is left out) and that prompt encoded.
 */
record RowPrompt(Row row, Conversation conversation, GenerationPrompt encoded) {
  /** The row's prompt, or null when it is longer than max_length; a malformed row is an error naming its line. */
  static RowPrompt encode(Row row, ConversationEncoder template) {
    try {
      Conversation c = Conversation.fromJson(row.toJson());
      return new RowPrompt(row, c, template.encodePrompt(c));
    } catch (SequenceTooLongException e) {
      return null;
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(row.location() + ": " + e.getMessage(), e);
    }
  }

  /**
   * The next {@code count} prompts of the stream; a prompt over max_length is skipped and {@code skipped} told (a
   * whole pass of the data without one that fits is an error).
   */
  static List<RowPrompt> next(SampleStream rows, int count, ConversationEncoder template, Runnable skipped) {
    List<RowPrompt> out = new ArrayList<>();
    int skippedInARow = 0;
    while (out.size() < count) {
      RowPrompt p = encode(rows.nextRow(), template);
      if (p != null) {
        out.add(p);
        skippedInARow = 0;
      } else {
        skipped.run();
        if (++skippedInARow > rows.size())
          throw new IllegalStateException("every prompt is longer than max_length (raise --max_length)");
      }
    }
    return out;
  }

  /** The prompt's messages: the conversation without its trailing assistant answer. */
  List<Message> messages() {
    List<Message> m = new ArrayList<>(conversation.messages());
    if (!m.isEmpty() && m.get(m.size() - 1).role() == Role.ASSISTANT) m.remove(m.size() - 1);
    return m;
  }

  /** The row's messages as JSON without the trailing assistant answer (as the row wrote them). */
  ArrayNode messagesJson() {
    ArrayNode messages = (ArrayNode) row.toJson().get("messages");
    if (!messages.isEmpty() && "assistant".equals(messages.get(messages.size() - 1).path("role").asText()))
      messages.remove(messages.size() - 1);
    return messages;
  }

  /** The row, every other column kept, with {@code answer} as its assistant answer: a row to train on. */
  ObjectNode withAnswer(String answer) {
    ObjectNode n = row.toJson();
    ArrayNode messages = messagesJson();
    messages.add(TrainingLog.JSON.createObjectNode().put("role", "assistant").put("content", answer));
    n.set("messages", messages);
    return n;
  }
}
