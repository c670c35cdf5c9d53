package jswift.infer;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import jswift.model.CausalLM;
import jswift.template.GenerationPrompt;
import jswift.tokenizer.Tokenizer;

/**
 * The answers to an encoded chat prompt: the {@link Generator} continues the prompt (n times for n answers, each
 * with its own seed) until an eos id, one of the template's stop words or the caller's stop strings, or
 * max_new_tokens. An answer's text has its special tokens and the stop string that ended it removed. Text
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
  }

  /**
   * Generates {@code n} answers to {@code prompt}. The template's stop words and stop ids are added to
   * {@code generation}'s; answer i samples with seed {@code generation.seed() + i}. {@code listener} may be null.
   */
  public static Result generate(CausalLM model, Tokenizer tokenizer, GenerationPrompt prompt, GenerationConfig generation,
      int n, Listener listener) {
    if (n < 1) throw new IllegalArgumentException("n (the number of answers) must be >= 1, got " + n);
    List<Integer> stopIds = new ArrayList<>(generation.stopTokenIds());
    for (int id : prompt.stopTokenIds()) if (!stopIds.contains(id)) stopIds.add(id);
    List<String> stopWords = new ArrayList<>(generation.stopStrings());
    for (String w : prompt.stopWords()) if (!w.isEmpty() && !stopWords.contains(w)) stopWords.add(w);
    GenerationConfig cfg = new GenerationConfig(generation.maxNewTokens(), generation.doSample(),
        generation.temperature(), generation.topK(), generation.topP(), generation.repetitionPenalty(),
        generation.seed(), stopIds, stopWords);
    Stream[] streams = new Stream[n];
    for (int i = 0; i < n; i++) streams[i] = new Stream(tokenizer, stopWords);
    Generator.TokenListener tokens = listener == null ? null : new Generator.TokenListener() {
      @Override
      public void onLogits(int sequence, float[] logits) {
        listener.onLogits(sequence, logits);
      }

      @Override
      public void onToken(int sequence, int tokenId) {
        listener.onToken(sequence, tokenId);
        String delta = streams[sequence].add(tokenId);
        if (!delta.isEmpty()) listener.onText(sequence, delta);
      }
    };
    int[] ids = prompt.inputIds();
    List<int[]> out = Generator.generate(model, Collections.nCopies(n, ids), cfg, t -> tokenizer.decode(t, false), tokens);
    List<Choice> choices = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      int[] t = out.get(i);
      String text = withoutStop(tokenizer.decode(t, true), stopWords);
      FinishReason why = t.length < cfg.maxNewTokens() || stopped(t, stopIds, stopWords, tokenizer)
          ? FinishReason.STOP : FinishReason.LENGTH;
      if (listener != null) {
        String rest = streams[i].finish(text);
        if (!rest.isEmpty()) listener.onText(i, rest);
      }
      choices.add(new Choice(text, t, why));
    }
    return new Result(ids.length, choices);
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
    private final StringBuilder shown = new StringBuilder();
    private int sent;

    Stream(Tokenizer tokenizer, List<String> stopWords) {
      this.decoded = new StreamingText(t -> tokenizer.decode(t, true));
      this.stopWords = stopWords;
    }

    String add(int tokenId) {
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
