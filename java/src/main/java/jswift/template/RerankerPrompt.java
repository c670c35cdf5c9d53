package jswift.template;

import java.util.ArrayList;
import java.util.List;

/**
 * ms-swift's {@code qwen3_reranker} template (Qwen3-Reranker's own prompt): a (query, document) conversation, the
 * query as the user's message and the document as the answer, becomes one user message
 * {@code <Instruct>: ...\n<Query>: ...\n<Document>: ...} under the reranker's system prompt ("Judge whether the
 * Document meets the requirements ... can only be "yes" or "no"."), and the prompt ends with the assistant's header
 * and an empty reasoning block, where the model's "yes" / "no" logits are read. A row's system message, when it has
 * one, is the instruction.
 */
final class RerankerPrompt implements ConversationEncoder {
  static final String SYSTEM = "Judge whether the Document meets the requirements based on the Query and the Instruct "
      + "provided. Note that the answer can only be \"yes\" or \"no\".";
  static final String INSTRUCTION = "Given a web search query, retrieve relevant passages that answer the query";

  private final ConversationEncoder chat;

  RerankerPrompt(ConversationEncoder chat) {
    this.chat = chat;
  }

  @Override
  public String name() {
    return chat.name();
  }

  /** The conversation as the reranker's single user message. */
  static Conversation asQuery(Conversation c) {
    String instruction = INSTRUCTION, query = null, document = "";
    for (Message m : c.messages()) {
      if (m.role() == Role.SYSTEM) instruction = m.content();
      else if (m.role() == Role.USER && query == null) query = m.content();
      else if (m.role() == Role.ASSISTANT && query != null) {
        document = m.content();
        break;
      }
    }
    if (query == null)
      throw new IllegalArgumentException("the qwen3_reranker template needs the query as a user message (and the "
          + "document as the answer)");
    List<Message> out = new ArrayList<>();
    out.add(new Message(Role.USER, "<Instruct>: " + instruction + "\n<Query>: " + query + "\n<Document>: " + document));
    return Conversation.of(out);
  }

  @Override
  public Encoded encode(Conversation conversation) {
    throw new IllegalArgumentException("the qwen3_reranker template scores (query, document) pairs: train it with "
        + "--task_type generative_reranker");
  }

  @Override
  public GenerationPrompt encodePrompt(Conversation conversation) {
    return chat.encodePrompt(asQuery(conversation));
  }

  @Override
  public int[] encodeClassifierInput(Conversation conversation) {
    return chat.encodePrompt(asQuery(conversation)).inputIds();
  }
}
