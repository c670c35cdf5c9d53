package jswift.serve;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import jswift.infer.ChatCompletion;
import jswift.infer.GenerationConfig;
import jswift.model.CausalLM;
import jswift.template.AgentTemplate;
import jswift.template.Conversation;
import jswift.template.ConversationEncoder;
import jswift.template.GenerationPrompt;
import jswift.template.Message;
import jswift.template.Role;
import jswift.template.SequenceTooLongException;
import jswift.template.jinja.TemplateException;
import jswift.tokenizer.Tokenizer;

/**
 * The model behind the server, and the names it is served under: the base name (the model folder's name, or
 * {@code --served_model_name}) and one name per named LoRA adapter, ms-swift's multi-LoRA deployment
 * ({@code --adapters name=DIR}): a request's {@code model} picks the adapter its answer is generated with. An
 * unnamed adapter is part of the base name. Requests are checked and encoded here ({@link #prepare}), against the
 * context length, before they queue for the model; {@link #run} generates, one request at a time, on the thread
 * the server gives the model.
 */
public final class ServedModel {
  private final CausalLM model;
  private final Tokenizer tokenizer;
  private final ConversationEncoder template;
  private final GenerationConfig defaults;
  private final String system;
  private final Map<String, String> adapterOfName;  // served name -> loaded adapter (null: none)
  private final int maxModelLength;
  private final SplittableRandom seeds;

  /** A request ready for the model: the name it asked for, its encoded prompt and its generation settings. */
  public record Prepared(String name, ChatRequest request, GenerationPrompt prompt, GenerationConfig generation) {}

  /**
   * @param adapterOfName served name -> name of a loaded adapter (null for the base model); the first entry is the
   *     default (a request without {@code model})
   * @param system the system prompt of conversations that have none (null: the template's default)
   * @param maxModelLength the longest prompt + answer accepted, in tokens
   */
  public ServedModel(CausalLM model, Tokenizer tokenizer, ConversationEncoder template, GenerationConfig defaults,
      String system, Map<String, String> adapterOfName, int maxModelLength) {
    if (adapterOfName.isEmpty()) throw new IllegalArgumentException("a served model needs a name");
    if (maxModelLength < 2) throw new IllegalArgumentException("max model length must be >= 2, got " + maxModelLength);
    this.model = model;
    this.tokenizer = tokenizer;
    this.template = template;
    this.defaults = defaults;
    this.system = system;
    this.adapterOfName = new LinkedHashMap<>(adapterOfName);
    this.maxModelLength = maxModelLength;
    this.seeds = new SplittableRandom(defaults.seed());
  }

  /** The served names: the base model's first, then the named adapters'. */
  public List<String> names() {
    return new ArrayList<>(adapterOfName.keySet());
  }

  public int maxModelLength() {
    return maxModelLength;
  }

  public Tokenizer tokenizer() {
    return tokenizer;
  }

  /**
   * Checks a request against this model and encodes it: an unknown model name, a conversation the template cannot
   * encode, or a prompt + max_tokens beyond the context length is an {@link ApiException}. Without max_tokens the
   * answer may use what the context leaves, up to the server's max_new_tokens.
   */
  public synchronized Prepared prepare(ChatRequest r) {
    String name = servedName(r.model());
    Conversation conv = withSystem(r.conversation());
    GenerationPrompt prompt;
    try {
      prompt = template.encodePrompt(conv);
    } catch (IllegalArgumentException | SequenceTooLongException | TemplateException e) {
      // a malformed conversation, one longer than the template's max_length, or the chat template's own refusal
      throw ApiException.badRequest("messages", e.getMessage());
    }
    int promptTokens = prompt.inputIds().length, room = maxModelLength - promptTokens;
    if (room < 1)
      throw ApiException.badRequest("messages", "the prompt is " + promptTokens + " tokens and this server's maximum "
          + "context length is " + maxModelLength + " tokens (--max_length): shorten the conversation");
    int maxTokens;
    if (r.maxTokens() != null) {
      if (r.maxTokens() > room)
        throw ApiException.badRequest("max_tokens", "the prompt is " + promptTokens + " tokens, so max_tokens can be at most "
            + room + " (the maximum context length is " + maxModelLength + " tokens); got " + r.maxTokens());
      maxTokens = r.maxTokens();
    } else {
      maxTokens = Math.min(defaults.maxNewTokens(), room);
    }
    float temperature = r.temperature() != null ? r.temperature() : defaults.isGreedy() ? 0f : defaults.temperature();
    long seed = r.seed() != null ? r.seed() : seeds.nextLong();
    GenerationConfig g = new GenerationConfig(maxTokens, temperature > 0, temperature > 0 ? temperature : 1f,
        r.topK() != null ? r.topK() : defaults.topK(), r.topP() != null ? r.topP() : defaults.topP(),
        r.repetitionPenalty() != null ? r.repetitionPenalty() : defaults.repetitionPenalty(), seed,
        defaults.stopTokenIds(), r.stop());
    return new Prepared(name, r, prompt, g);
  }

  /**
   * Generates the answers of prepared requests that asked for the same model name, in one batch (call on the
   * model's thread only); {@code listeners.get(i)} (may be null) hears request i's answers as they grow.
   */
  public List<ChatCompletion.Result> run(List<Prepared> batch, List<ChatCompletion.Listener> listeners) {
    String name = batch.get(0).name();
    List<ChatCompletion.Request> requests = new ArrayList<>();
    for (int i = 0; i < batch.size(); i++) {
      Prepared p = batch.get(i);
      if (!p.name().equals(name))
        throw new IllegalArgumentException("one batch, one model: " + name + " and " + p.name());
      requests.add(new ChatCompletion.Request(p.prompt(), p.generation(), p.request().n(), listeners.get(i)));
    }
    model.setActiveAdapter(adapterOfName.get(name));
    return ChatCompletion.generate(model, tokenizer, requests);
  }

  /**
   * The answers read back as tool calls by the template's agent format, when the request gave tools and the
   * template has such a format (ms-swift's templates do; a model's own jinja template does not); else null.
   */
  public List<AgentTemplate.Reply> toolCalls(ChatRequest r, ChatCompletion.Result result) {
    AgentTemplate agent = template.agentTemplate();
    if (agent == null || r.conversation().tools().isEmpty()) return null;
    List<AgentTemplate.Reply> out = new ArrayList<>();
    for (ChatCompletion.Choice c : result.choices()) out.add(agent.parseReply(c.text()));
    return out;
  }

  /** Embeddings of a request's inputs, and how many tokens they took. */
  public record Embeddings(String name, float[][] vectors, int promptTokens) {}

  /**
   * Embeds a request's inputs (call on the model's thread only) as embedding models are pooled (Qwen3-Embedding,
   * ms-swift's embedding task): each input tokenized with the tokenizer's special tokens and ended by the model's
   * end-of-sequence token (config.json's first eos_token_id, appended unless already last), the final hidden state
   * (after the last norm) at that last token, L2-normalized; {@code dimensions} keeps the leading components and
   * normalizes again. The model name picks the adapter, as for chat.
   */
  public Embeddings embed(EmbeddingRequest r) {
    String name = servedName(r.model());
    int hidden = model.config().hiddenSize(), vocab = model.config().vocabSize();
    if (r.dimensions() != null && r.dimensions() > hidden)
      throw ApiException.badRequest("dimensions", "'dimensions' is " + r.dimensions() + ", but this model's embeddings "
          + "have " + hidden);
    jswift.infer.EmbeddingInput input = new jswift.infer.EmbeddingInput(tokenizer, model.config().eosTokenIds());
    List<int[]> sequences = new ArrayList<>();
    int tokens = 0;
    for (int i = 0; i < r.size(); i++) {
      int[] ids = r.texts().get(i) != null ? tokenizer.encode(r.texts().get(i), true) : r.tokenIds().get(i);
      for (int id : ids)
        if (id >= vocab) throw ApiException.badRequest("input", "input " + i + " has token id " + id + ", beyond the "
            + "vocabulary of " + vocab);
      ids = input.ended(ids);
      if (ids.length > maxModelLength)
        throw ApiException.badRequest("input", "input " + i + " is " + ids.length + " tokens, more than this server's "
            + "maximum context length of " + maxModelLength + " (--max_length)");
      sequences.add(ids);
      tokens += ids.length;
    }
    model.setActiveAdapter(adapterOfName.get(name));
    int keep = r.dimensions() != null ? r.dimensions() : hidden;
    return new Embeddings(name, jswift.infer.EmbeddingInput.embed(model, sequences, keep), tokens);
  }

  private jswift.infer.SequenceClassifier classifier;  // non-null: a sequence classifier is served (no generation)

  /** Serves {@code c} (over this model) instead of generating: chat completions answer with its prediction. */
  public void serveClassifier(jswift.infer.SequenceClassifier c) {
    this.classifier = c;
  }

  /** The classifier served, or null for a generating model. */
  public jswift.infer.SequenceClassifier classifier() {
    return classifier;
  }

  /** A classifier's answer: its prediction (a class, classes or values) and the prompt's tokens. */
  public record Classified(String name, com.fasterxml.jackson.databind.JsonNode prediction, int promptTokens) {}

  /**
   * The served classifier's prediction for a chat request's conversation (call on the model's thread only), with
   * the system prompt as {@link #prepare} adds it.
   */
  public Classified classify(ChatRequest r) {
    String name = servedName(r.model());
    Conversation conv = withSystem(r.conversation());
    int tokens;
    try {
      tokens = template.encodeClassifierInput(conv).length;
    } catch (IllegalArgumentException | SequenceTooLongException | TemplateException e) {
      throw ApiException.badRequest("messages", e.getMessage());
    }
    if (tokens > maxModelLength)
      throw ApiException.badRequest("messages", "the conversation is " + tokens + " tokens, more than this server's "
          + "maximum context length of " + maxModelLength + " (--max_length)");
    model.setActiveAdapter(adapterOfName.get(name));
    double[] logits = classifier.logits(List.of(conv))[0];
    return new Classified(name, classifier.problemType().predict(logits), tokens);
  }

  /** The conversation with the server's system prompt (--system) in front, unless it has its own. */
  private Conversation withSystem(Conversation conv) {
    if (system == null || (!conv.messages().isEmpty() && conv.messages().get(0).role() == Role.SYSTEM)) return conv;
    List<Message> withSystem = new ArrayList<>();
    withSystem.add(Message.system(system));
    withSystem.addAll(conv.messages());
    return new Conversation(withSystem, conv.tools());
  }

  /** The served name a request asks for ({@code model}; the base's when null); a name not served is a 404. */
  private String servedName(String model) {
    String name = model == null ? names().get(0) : model;
    if (!adapterOfName.containsKey(name))
      throw new ApiException(404, "invalid_request_error", "model",
          "the model '" + name + "' is not served here; served: " + names());
    return name;
  }

  /** The served name a request asks for (the base name when it names none). */
  public String nameOf(ChatRequest r) {
    return r.model() == null ? names().get(0) : r.model();
  }
}
