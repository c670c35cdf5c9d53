package jswift.template;

/**
 * Turns conversations into token ids: for training ({@link #encode}: ids, labels, loss weights) and for
 * inference ({@link #encodePrompt}: the prompt up to the answer, and the stop words). {@link SwiftTemplate}
 * does both from a {@link TemplateMeta}; {@link JinjaTemplate} renders the model's own chat template and is
 * inference-only.
 */
public interface ConversationEncoder {
  /** The template's ms-swift name. */
  String name();

  /**
   * Encodes a training row: it must end with an assistant response.
   *
   * @throws IllegalArgumentException for a malformed conversation (the message names the offending message)
   * @throws SequenceTooLongException when the row exceeds max_length and the truncation strategy is delete
   */
  Encoded encode(Conversation conversation);

  /**
   * Encodes the prompt for generating the next assistant turn; a trailing assistant message is treated as
   * the answer to be generated and left out.
   *
   * @throws SequenceTooLongException when the prompt exceeds max_length and the truncation strategy is not
   *     left (cutting a prompt on the right would drop the question)
   */
  GenerationPrompt encodePrompt(Conversation conversation);

  /**
   * The input of a sequence classifier (--task_type seq_cls): the conversation with the generation prompt when it
   * ends with the user (as ms-swift encodes a seq_cls row: its last token is the assistant header's), or whole when
   * it ends with an answer (a reward model reads the answer).
   */
  default int[] encodeClassifierInput(Conversation conversation) {
    java.util.List<Message> m = conversation.messages();
    return !m.isEmpty() && m.get(m.size() - 1).role() == Role.ASSISTANT ? encode(conversation).inputIds()
        : encodePrompt(conversation).inputIds();
  }

  /** How this template writes tool calls (to read them back from an answer), or null when it has no such format. */
  default AgentTemplate agentTemplate() {
    return null;
  }
}
