package jswift.template;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import jswift.tokenizer.Tokenizer;

/**
 * Pre-training encoding without a chat template (ms-swift's {@code pt} with use_chat_template false): the row's
 * text (its messages' contents joined by newlines; a {@code {"text": ...}} row is one message) followed by the eos
 * token, every token labelled. Longer rows are dropped, cut on the left or right, or returned whole to be split
 * into chunks, by the truncation strategy.
 */
public final class PlainTextEncoder implements ConversationEncoder {
  private final Tokenizer tokenizer;
  private final int maxLength;
  private final Truncation truncation;

  public PlainTextEncoder(Tokenizer tokenizer, int maxLength, Truncation truncation) {
    if (maxLength <= 1) throw new IllegalArgumentException("max_length must be > 1, got " + maxLength);
    this.tokenizer = tokenizer;
    this.maxLength = maxLength;
    this.truncation = truncation;
  }

  @Override
  public String name() {
    return "plain";
  }

  private String text(Conversation c) {
    List<String> parts = new ArrayList<>();
    for (Message m : c.messages()) if (m.content() != null && !m.content().isEmpty()) parts.add(m.content());
    if (parts.isEmpty()) throw new IllegalArgumentException("the row has no text");
    return String.join("\n", parts);
  }

  @Override
  public Encoded encode(Conversation conversation) {
    int[] ids = tokenizer.encode(text(conversation));
    List<Integer> eos = tokenizer.eosTokenIds();
    if (!eos.isEmpty()) {
      ids = Arrays.copyOf(ids, ids.length + 1);
      ids[ids.length - 1] = eos.get(0);
    }
    if (ids.length > maxLength && truncation != Truncation.SPLIT) {  // split: the sample stream cuts it
      switch (truncation) {
        case LEFT:
          ids = Arrays.copyOfRange(ids, ids.length - maxLength, ids.length);
          break;
        case RIGHT:
          ids = Arrays.copyOf(ids, maxLength);
          break;
        default:
          throw new SequenceTooLongException(ids.length, maxLength);
      }
    }
    return new Encoded(ids, ids.clone(), null);
  }

  @Override
  public GenerationPrompt encodePrompt(Conversation conversation) {
    int[] ids = tokenizer.encode(text(conversation));
    if (ids.length > maxLength) ids = Arrays.copyOfRange(ids, ids.length - maxLength, ids.length);
    return new GenerationPrompt(ids, List.of(), tokenizer.eosTokenIds());
  }
}
