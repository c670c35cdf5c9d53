package jswift.template;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import jswift.tokenizer.Tokenizer;

/**
 * ms-swift's template ("swift" backend): a {@link TemplateMeta} lays a conversation out as typed pieces, whose
 * tokens become {@code input_ids}, and whose types and the loss_scale strategy decide the {@code labels}.
 *
 * <p>The steps, as in ms-swift's {@code _swift_encode}/{@code _encode}: (1) normalise the messages
 * ({@link DialogueBuilder}, {@link ThinkingRules}, the {@link AgentTemplate}); (2) pick the system text; (3)
 * emit the system prefix (or plain prefix), then per round the prompt with the query (or the tool results)
 * and the response, the chat separator between rounds, and in training the suffix after the last response
 * unless it already ends in a stop word; (4) weigh the pieces ({@link LossScale}); (5) tokenize them and
 * derive labels ({@link PieceTokenizer}); (6) truncate ({@link Truncation}). At inference the last round ends
 * in its prompt, plus the response prefix (an opened or empty reasoning block for thinking models).
 */
public final class SwiftTemplate implements ConversationEncoder {
  private final TemplateMeta meta;
  private final Tokenizer tokenizer;
  private final TemplateOptions options;
  private final AgentTemplate agent;
  private final int[] bos;  // auto_add_bos: what the tokenizer's post-processor puts before a text ...
  private final int[] sep;  // ... and after it (then it, not the suffix, ends a training row)
  private final int[] suffixIds;
  private final List<String> stopWords;
  private final List<Integer> stopTokenIds;

  public SwiftTemplate(TemplateMeta meta, Tokenizer tokenizer, TemplateOptions options) {
    this.meta = Objects.requireNonNull(meta, "meta");
    this.tokenizer = Objects.requireNonNull(tokenizer, "tokenizer");
    this.options = Objects.requireNonNull(options, "options");
    this.agent = AgentTemplate.forName(options.agentTemplate() != null ? options.agentTemplate() : meta.agentTemplate());
    if (options.system() != null && !options.system().isEmpty() && !meta.supportsSystem())
      throw new IllegalArgumentException("template '" + meta.name() + "' has no system prompt, but a system text was given");
    if (meta.autoAddBos()) {
      // Find what the post-processor adds around a one-token text.
      int[] all = tokenizer.encode("a", true), one = tokenizer.encode("a", false);
      if (one.length != 1) throw new IllegalStateException("auto_add_bos: 'a' is not one token for this tokenizer");
      int at = -1;
      for (int i = 0; i < all.length && at < 0; i++) if (all[i] == one[0]) at = i;
      if (at < 0) throw new IllegalStateException("auto_add_bos: the tokenizer's post-processor drops the text itself");
      bos = Arrays.copyOfRange(all, 0, at);
      sep = Arrays.copyOfRange(all, at + 1, all.length);
    } else {
      bos = new int[0];
      sep = new int[0];
    }
    suffixIds = tokens(meta.suffix());
    Set<String> words = new LinkedHashSet<>(meta.stopWords());
    List<PromptPart> suffix = meta.suffix();
    if (!suffix.isEmpty() && suffix.get(suffix.size() - 1) instanceof PromptPart.Text t && !ThinkingRules.pyStrip(t.text()).isEmpty())
      words.add(ThinkingRules.pyStrip(t.text()));
    for (int id : tokenizer.eosTokenIds()) words.add(tokenizer.decode(new int[] {id}, false));
    stopWords = List.copyOf(words);
    Set<Integer> stopIds = new LinkedHashSet<>();
    for (String w : stopWords) {
      int[] ids = tokenizer.encode(w);
      if (ids.length == 1) stopIds.add(ids[0]);
    }
    stopIds.addAll(tokenizer.eosTokenIds());
    stopTokenIds = List.copyOf(stopIds);
  }

  @Override
  public String name() {
    return meta.name();
  }

  @Override
  public AgentTemplate agentTemplate() {
    return agent;
  }

  public TemplateMeta meta() {
    return meta;
  }

  public TemplateOptions options() {
    return options;
  }

  /** The strings that end generation: the template's, the end of its suffix and the tokenizer's eos. */
  public List<String> stopWords() {
    return stopWords;
  }

  @Override
  public Encoded encode(Conversation conversation) {
    Encoded e = PieceTokenizer.tokenize(pieces(conversation, true), tokenizer, suffixIds);
    return options.truncation().apply(e, options.maxLength());
  }

  @Override
  public GenerationPrompt encodePrompt(Conversation conversation) {
    // Tokenized in the same spans as in training (ms-swift does so too), so a conversation's history has the
    // same tokens in the prompt as in the rows the model was trained on.
    int[] ids = PieceTokenizer.tokenize(pieces(conversation, false), tokenizer, suffixIds).inputIds();
    if (options.maxLength() > 0 && ids.length > options.maxLength()) {
      // A prompt is never cut on the right (the question would go): left keeps its end, else it is refused.
      if (options.truncation() != Truncation.LEFT) throw new SequenceTooLongException(ids.length, options.maxLength());
      ids = Arrays.copyOfRange(ids, ids.length - options.maxLength(), ids.length);
    }
    return new GenerationPrompt(ids, stopWords, stopTokenIds);
  }

  /**
   * The weighted pieces of a conversation, before tokenization (what ms-swift prints with SWIFT_DEBUG):
   * their joined text is the encoded text.
   *
   * @param training true for a training row (suffix added, labels wanted), false for an inference prompt
   */
  public List<Piece> pieces(Conversation conversation, boolean training) {
    Dialogue d = DialogueBuilder.build(conversation, meta, agent, options, training);
    List<Piece> out = new ArrayList<>();
    String system = d.system() == null ? "" : d.system();
    if (bos.length > 0) out.add(new Piece(new PromptPart.Tokens(bos), PieceType.OTHER, -1, 0));
    List<PromptPart> prefix = meta.postSystem() || system.isEmpty() ? meta.prefix() : meta.systemPrefix();
    emit(out, prefix, Map.of(TemplateMeta.SYSTEM, system), PieceType.OTHER, -1);

    List<Round> rounds = d.rounds();
    int n = rounds.size();
    for (int r = 0; r < n; r++) {
      Round round = rounds.get(r);
      boolean last = r == n - 1;
      if (round.isToolQuery()) {
        for (PromptPart p : round.toolQuery()) add(out, p, PieceType.OTHER, r);  // already in the template's format
      } else {
        // Post-system formats put the system text into the last turn. ms-swift does so even when it is empty,
        // which leaves the "\n\n" that follows it alone at the start of the turn; jswift uses the plain prompt.
        List<PromptPart> prompt = last && meta.postSystem() && !system.isEmpty() ? meta.systemPrompt() : meta.prompt();
        Map<String, String> values = new LinkedHashMap<>();
        values.put(TemplateMeta.SYSTEM, system);
        values.put(TemplateMeta.QUERY, round.query());
        values.put("{{ROUND0}}", Integer.toString(r));
        values.put("{{ROUND1}}", Integer.toString(r + 1));
        emit(out, prompt, values, PieceType.OTHER, r);
      }
      if (round.response() != null) {
        add(out, PromptPart.text(round.response()), PieceType.RESPONSE, r);
        if (!last) {
          if (!rounds.get(r + 1).isToolQuery()) emit(out, meta.chatSep(), Map.of(), PieceType.OTHER, r);
        } else if (training && sep.length == 0 && !endsWithStopWord(round.response())) {
          emit(out, meta.suffix(), Map.of(), PieceType.SUFFIX, r);
        }
      } else {
        String prefixText = responsePrefix();
        if (!prefixText.isEmpty()) add(out, PromptPart.text(prefixText), PieceType.OTHER, r);
      }
    }
    if (training && sep.length > 0) out.add(new Piece(new PromptPart.Tokens(sep), PieceType.SUFFIX, n - 1, 0));
    return options.lossScale().weigh(out, d);
  }

  private String responsePrefix() {
    if (options.responsePrefix() != null) return options.responsePrefix();
    if (Boolean.TRUE.equals(options.enableThinking())) return meta.thinkingPrefix();
    if (Boolean.FALSE.equals(options.enableThinking())) return meta.nonThinkingPrefix();
    // Unset: a model that always reasons opens its reasoning; a hybrid one decides for itself.
    return meta.thinking() && meta.nonThinkingPrefix().isEmpty() ? meta.thinkingPrefix() : "";
  }

  private boolean endsWithStopWord(String response) {
    for (String w : stopWords) if (!w.isEmpty() && response.endsWith(w)) return true;
    return false;
  }

  private static void emit(List<Piece> out, List<PromptPart> parts, Map<String, String> values, PieceType type, int round) {
    if (parts == null) return;
    for (PromptPart p : parts) {
      add(out, p instanceof PromptPart.Text t ? PromptPart.text(Placeholders.fill(t.text(), values)) : p, type, round);
    }
  }

  private static void add(List<Piece> out, PromptPart p, PieceType type, int round) {
    if (p instanceof PromptPart.Text t && t.text().isEmpty()) return;
    out.add(new Piece(p, type, round, 0));
  }

  private int[] tokens(List<PromptPart> parts) {
    List<Integer> ids = new ArrayList<>();
    for (PromptPart p : parts) {
      int[] t = p instanceof PromptPart.Text text ? tokenizer.encode(text.text()) : ((PromptPart.Tokens) p).ids();
      for (int id : t) ids.add(id);
    }
    return ids.stream().mapToInt(Integer::intValue).toArray();
  }
}
