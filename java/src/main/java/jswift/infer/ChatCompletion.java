package jswift.infer;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import jswift.model.CausalLM;
import jswift.template.GenerationPrompt;
import jswift.tokenizer.Tokenizer;

/**
 * The answers to encoded chat prompts: the {@link Generator} continues each prompt (n times for n answers, each
 * with its own seed; the answers of several requests in one batch) until an eos id, one of the template's stop
 * words or the request's stop strings, or its max_new_tokens. An answer's text has its special tokens and the stop string that ended it removed. Text
 * streams to a {@link Listener} as it is generated, held back while it could be the beginning of a stop string,
 * so the streamed pieces add up to exactly the final text and never show a stop string.
 */
public final class ChatCompletion {
  private ChatCompletion() {}

  /** Why an answer ended: a stop token or string ({@code stop}), or max_new_tokens ({@code length}). */
  public enum FinishReason {
    STOP,
    LENGTH;

    /** The OpenAI API's name: "stop" or "length". */
    public String wireName() {
      return name().toLowerCase(Locale.ROOT);
    }
  }

  /** One answer: its text, its tokens (the stop token included, if one ended it) and why it ended. */
  public record Choice(String text, int[] tokens, FinishReason finishReason) {}

  /** The prompt's length and the answers, in order. */
  public record Result(int promptTokens, List<Choice> choices) {
    public int completionTokens() {
      int n = 0;
      for (Choice c : choices) n += c.tokens().length;
      return n;
    }
  }

  /** Receives each answer's text as it grows, and (optionally) each token with the model's logits for it. */
  public interface Listener {
    /** New text of answer {@code choice} (never empty). */
    void onText(int choice, String delta);

    /** The raw logits answer {@code choice}'s next token is picked from (see {@link Generator.TokenListener#onLogits}). */
    default void onLogits(int choice, float[] logits) {}

    /** The token picked for answer {@code choice}, after its {@link #onLogits}. */
    default void onToken(int choice, int tokenId) {}

    /** Whether to stop generating these answers (their reader went away); what was generated is kept. */
    default boolean cancelled() {
      return false;
    }

    /** Whether {@link #onText} is wanted (false: the text is not decoded as it grows, which costs a decode a token). */
    default boolean wantsText() {
      return true;
    }
  }

  /**
   * One request of a batch: its encoded prompt, its settings (answer i samples with seed {@code generation.seed() +
   * i}), how many answers, and who hears them as they grow (may be null).
   */
  public record Request(GenerationPrompt prompt, GenerationConfig generation, int n, Listener listener) {
    public Request {
      if (n < 1) throw new IllegalArgumentException("n (the number of answers) must be >= 1, got " + n);
    }
  }

  /** Generates {@code n} answers to {@code prompt}; {@code listener} may be null. See {@link #generate(CausalLM, Tokenizer, List)}. */
  public static Result generate(CausalLM model, Tokenizer tokenizer, GenerationPrompt prompt, GenerationConfig generation,
      int n, Listener listener) {
    return generate(model, tokenizer, List.of(new Request(prompt, generation, n, listener))).get(0);
  }

  /**
   * Generates the answers of several requests in one batch (every answer of every request is a sequence, decoded
   * together). Each request's template stop words and stop ids are added to its settings' own.
   */
  public static List<Result> generate(CausalLM model, Tokenizer tokenizer, List<Request> requests) {
    List<int[]> prompts = new ArrayList<>();
    List<GenerationConfig> configs = new ArrayList<>();
    List<Stream> streams = new ArrayList<>();
    List<Integer> requestOf = new ArrayList<>(), answerOf = new ArrayList<>();
    List<GenerationConfig> withStops = new ArrayList<>();
    for (int r = 0; r < requests.size(); r++) {
      Request q = requests.get(r);
      GenerationConfig g = q.generation();
      List<Integer> stopIds = new ArrayList<>(g.stopTokenIds());
      for (int id : q.prompt().stopTokenIds()) if (!stopIds.contains(id)) stopIds.add(id);
      List<String> stopWords = new ArrayList<>(g.stopStrings());
      for (String w : q.prompt().stopWords()) if (!w.isEmpty() && !stopWords.contains(w)) stopWords.add(w);
      GenerationConfig cfg = new GenerationConfig(g.maxNewTokens(), g.doSample(), g.temperature(), g.topK(), g.topP(),
          g.repetitionPenalty(), g.seed(), stopIds, stopWords);
      withStops.add(cfg);
      int[] ids = q.prompt().inputIds();
      for (int i = 0; i < q.n(); i++) {
        prompts.add(ids);
        configs.add(cfg.withSeed(cfg.seed() + i));
        streams.add(new Stream(tokenizer, stopWords, stopIds));
        requestOf.add(r);
        answerOf.add(i);
      }
    }
    Generator.TokenListener tokens = new Generator.TokenListener() {
      private Listener of(int sequence) {
        return requests.get(requestOf.get(sequence)).listener();
      }

      @Override
      public void onLogits(int sequence, float[] logits) {
        Listener l = of(sequence);
        if (l != null) l.onLogits(answerOf.get(sequence), logits);
      }

      @Override
      public void onToken(int sequence, int tokenId) {
        Listener l = of(sequence);
        if (l == null) return;
        l.onToken(answerOf.get(sequence), tokenId);
        if (!l.wantsText()) return;
        String delta = streams.get(sequence).add(tokenId);
        if (!delta.isEmpty()) l.onText(answerOf.get(sequence), delta);
      }

      @Override
      public boolean cancelled(int sequence) {
        Listener l = of(sequence);
        return l != null && l.cancelled();
      }
    };
    List<int[]> out = Generator.generate(model, prompts, configs, t -> tokenizer.decode(t, false), tokens);
    List<Result> results = new ArrayList<>();
    int seq = 0;
    for (int r = 0; r < requests.size(); r++) {
      Request q = requests.get(r);
      GenerationConfig cfg = withStops.get(r);
      List<Choice> choices = new ArrayList<>();
      for (int i = 0; i < q.n(); i++, seq++) {
        int[] t = out.get(seq);
        String text = answerText(tokenizer, t, cfg);
        FinishReason why = t.length < cfg.maxNewTokens() || stopped(t, cfg.stopTokenIds(), cfg.stopStrings(), tokenizer)
            ? FinishReason.STOP : FinishReason.LENGTH;
        if (q.listener() != null && q.listener().wantsText() && !q.listener().cancelled()) {
          String rest = streams.get(seq).finish(text);
          if (!rest.isEmpty()) q.listener().onText(i, rest);
        }
        choices.add(new Choice(text, t, why));
      }
      results.add(new Result(q.prompt().inputIds().length, choices));
    }
    return results;
  }

  /**
   * An answer's text as ms-swift's Template.decode gives it: the stop token that ended it dropped, the rest decoded
   * with its special tokens (a token added by --new_special_tokens is part of the answer), then the stop word it
   * ends with cut.
   */
  static String answerText(Tokenizer tokenizer, int[] tokens, GenerationConfig cfg) {
    int n = tokens.length;
    if (n > 0 && cfg.stopTokenIds().contains(tokens[n - 1])) n--;
    return withoutStop(tokenizer.decode(java.util.Arrays.copyOf(tokens, n), false), cfg.stopStrings());
  }

  /** Whether a full-length answer still ended on a stop: its last token is a stop id, or its text a stop word. */
  private static boolean stopped(int[] tokens, List<Integer> stopIds, List<String> stopWords, Tokenizer tokenizer) {
    if (tokens.length == 0) return false;
    if (stopIds.contains(tokens[tokens.length - 1])) return true;
    String text = tokenizer.decode(tokens, false);
    for (String w : stopWords) if (text.endsWith(w)) return true;
    return false;
  }

  /** The text without the stop word it ends with (the longest, if several match). */
  static String withoutStop(String text, List<String> stopWords) {
    int cut = 0;
    for (String w : stopWords) if (!w.isEmpty() && text.endsWith(w)) cut = Math.max(cut, w.length());
    return text.substring(0, text.length() - cut);
  }

  /** How many characters at the end of {@code text} could be (the start of) a stop word: held back from streaming. */
  static int heldBack(String text, List<String> stopWords) {
    int held = 0;
    for (String w : stopWords) {
      for (int k = Math.min(w.length(), text.length()); k > held; k--) {
        if (text.regionMatches(text.length() - k, w, 0, k)) {
          held = k;
          break;
        }
      }
    }
    return held;
  }

  /** One answer's streamed text: decoded incrementally, sent up to what could still turn into a stop word. */
  private static final class Stream {
    private final StreamingText decoded;
    private final List<String> stopWords;
    private final List<Integer> stopIds;
    private final StringBuilder shown = new StringBuilder();
    private int sent;

    Stream(Tokenizer tokenizer, List<String> stopWords, List<Integer> stopIds) {
      this.decoded = new StreamingText(t -> tokenizer.decode(t, false));
      this.stopWords = stopWords;
      this.stopIds = stopIds;
    }

    String add(int tokenId) {
      if (stopIds.contains(tokenId)) return "";  // the token that ends the answer is not part of its text
      shown.append(decoded.add(tokenId));
      int safe = shown.length() - heldBack(shown.toString(), stopWords);
      if (safe <= sent) return "";
      String delta = shown.substring(sent, safe);
      sent = safe;
      return delta;
    }

    /** What remains of the final text after what was sent (the held-back tail that was not a stop word). */
    String finish(String finalText) {
      if (finalText.length() <= sent || !finalText.startsWith(shown.substring(0, sent))) return "";
      String rest = finalText.substring(sent);
      sent = finalText.length();
      return rest;
    }
  }
}
