package jswift.infer;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Function;
import jswift.model.CausalLM;
import jswift.model.KvCache;
import jswift.tensor.BlockRecycler;

/**
 * Autoregressive generation with a KV cache: one prefill of the (left-padded) prompts, then one token per step
 * for every sequence, picked by a {@link Sampler}. A sequence stops at a stop token (kept in its output), when
 * its decoded text ends with a stop string, or after max_new_tokens; the batch ends when all have stopped.
 * Tokens are reported to a listener as they are chosen (streaming). On a GPU the decode tokens are replayed from
 * a captured graph ({@link CausalLM.DecodeGraph}: one launch a token instead of a few thousand); {@link
 * #DECODE_GRAPHS} (system property) or JSWIFT_DECODE_GRAPHS (environment), true / false, overrides that default
 * (the CPU's graphs are recordings: no faster, so off unless asked for).
 */
public final class Generator {
  /** Receives each new token as soon as it is chosen. */
  public interface TokenListener {
    void onToken(int sequence, int tokenId);

    /**
     * The model's logits for a sequence's next token, as they come from the model: before the repetition penalty,
     * temperature and top-k / top-p (for log-probabilities). Called just before that token is picked; the array is
     * the generator's and is modified right after, so copy what you keep. The default ignores it.
     */
    default void onLogits(int sequence, float[] logits) {}

    /**
     * Whether a sequence should stop now (its reader went away): checked before each of its tokens; a stopped
     * sequence keeps what it generated. The default never stops one.
     */
    default boolean cancelled(int sequence) {
      return false;
    }
  }

  private Generator() {}

  /** System property: true / false forces decode graphs on / off (see the class comment). */
  public static final String DECODE_GRAPHS = "jswift.decode_graphs";

  /** Whether decode on this device replays its tokens from a graph (the property, the environment, the default). */
  public static boolean decodeGraphs(jswift.tensor.Device device) {
    String v = System.getProperty(DECODE_GRAPHS);
    if (v == null) v = System.getenv("JSWIFT_DECODE_GRAPHS");
    if (v == null || v.isBlank()) return !device.isCpu();
    return v.equalsIgnoreCase("true") || v.equals("1");
  }

  /** Greedy or sampled continuation of one prompt: the new tokens only. */
  public static int[] generate(CausalLM model, int[] prompt, GenerationConfig cfg) {
    return generate(model, List.of(prompt), cfg, null, null).get(0);
  }

  /**
   * The new tokens of each prompt, all with {@code cfg}; sequence b samples with seed {@code cfg.seed() + b}.
   * {@code detokenize} (ids -> text) is needed only for stop strings; {@code listener} may be null.
   */
  public static List<int[]> generate(CausalLM model, List<int[]> prompts, GenerationConfig cfg,
      Function<int[], String> detokenize, TokenListener listener) {
    List<GenerationConfig> configs = new ArrayList<>();
    for (int b = 0; b < prompts.size(); b++) configs.add(cfg.withSeed(cfg.seed() + b));
    return generate(model, prompts, configs, detokenize, listener);
  }

  /**
   * The new tokens of each prompt, each with its own settings ({@code configs.get(b)}: its sampling, seed,
   * max_new_tokens and stops), in one batch: the prompts are prefilled together and every step decodes one token
   * of each sequence still running. {@code detokenize} is needed only for stop strings; {@code listener} may be
   * null.
   */
  public static List<int[]> generate(CausalLM model, List<int[]> prompts, List<GenerationConfig> configs,
      Function<int[], String> detokenize, TokenListener listener) {
    int batch = prompts.size();
    if (batch == 0) throw new IllegalArgumentException("no prompts");
    if (configs.size() != batch)
      throw new IllegalArgumentException(configs.size() + " generation configs for " + batch + " prompts");
    int maxLen = 0, maxNew = 0;
    for (GenerationConfig cfg : configs) {
      if (!cfg.stopStrings().isEmpty() && detokenize == null)
        throw new IllegalArgumentException("stop strings need a detokenizer");
      maxNew = Math.max(maxNew, cfg.maxNewTokens());
    }
    for (int[] p : prompts) {
      if (p.length == 0) throw new IllegalArgumentException("empty prompt");
      for (int id : p)
        if (id < 0 || id >= model.config().vocabSize())
          throw new IllegalArgumentException("prompt token " + id + " is outside the vocabulary [0, " + model.config().vocabSize() + ")");
      maxLen = Math.max(maxLen, p.length);
    }
    List<int[]> out = new ArrayList<>();
    if (maxNew == 0) {
      for (int b = 0; b < batch; b++) out.add(new int[0]);
      return out;
    }
    // Left padding: every prompt ends at column maxLen - 1, so each step feeds one column for all sequences.
    int[] ids = new int[batch * maxLen], pos = new int[batch * maxLen], real = new int[batch * maxLen];
    int[] realCount = new int[batch];
    int[][] seen = new int[batch][];
    int[] seenLen = new int[batch];
    Sampler[] samplers = new Sampler[batch];
    int[][] generated = new int[batch][];
    int[] count = new int[batch];
    boolean[] done = new boolean[batch];
    for (int b = 0; b < batch; b++) {
      int[] p = prompts.get(b);
      GenerationConfig cfg = configs.get(b);
      int pad = maxLen - p.length;
      for (int i = 0; i < p.length; i++) {
        ids[b * maxLen + pad + i] = p[i];
        pos[b * maxLen + pad + i] = i;
        real[b * maxLen + pad + i] = 1;
      }
      realCount[b] = p.length;
      seen[b] = Arrays.copyOf(p, p.length + cfg.maxNewTokens());
      seenLen[b] = p.length;
      samplers[b] = new Sampler(cfg);
      generated[b] = new int[cfg.maxNewTokens()];
      done[b] = cfg.maxNewTokens() == 0;
    }
    // Every decode step allocates the same temporaries: recycle them (no native allocation after the first step).
    try (KvCache cache = model.newCache(batch, maxLen + maxNew);
        BlockRecycler recycler = BlockRecycler.open();
        CausalLM.DecodeGraph graph = decodeGraphs(model.device()) ? model.decodeGraph(cache) : null) {
      float[][] logits = model.forwardCached(cache, ids, maxLen, pos, real);
      recycler.trim();  // the prefill's temporaries are larger than a step's: give them back
      for (int step = 0; ; step++) {
        int[] next = new int[batch], nextPos = new int[batch];
        for (int b = 0; b < batch; b++) {
          if (!done[b] && listener != null && listener.cancelled(b)) done[b] = true;
          if (done[b]) {
            next[b] = count[b] > 0 ? generated[b][count[b] - 1] : 0;  // fed but ignored
            continue;
          }
          GenerationConfig cfg = configs.get(b);
          if (listener != null) listener.onLogits(b, logits[b]);
          int tok = samplers[b].next(logits[b], seen[b], seenLen[b]);
          generated[b][count[b]++] = tok;
          seen[b][seenLen[b]++] = tok;
          if (listener != null) listener.onToken(b, tok);
          next[b] = tok;
          nextPos[b] = realCount[b]++;
          if (cfg.stopTokenIds().contains(tok) || count[b] == cfg.maxNewTokens() || endsWithStop(cfg, detokenize,
              Arrays.copyOf(generated[b], count[b]))) {
            done[b] = true;
          }
        }
        boolean all = true;
        for (boolean d : done) all &= d;
        if (all) break;
        logits = graph != null ? graph.next(next, nextPos) : model.forwardCached(cache, next, 1, nextPos, null);
      }
    }
    for (int b = 0; b < batch; b++) out.add(Arrays.copyOf(generated[b], count[b]));
    return out;
  }

  private static boolean endsWithStop(GenerationConfig cfg, Function<int[], String> detokenize, int[] tokens) {
    if (cfg.stopStrings().isEmpty()) return false;
    String text = detokenize.apply(tokens);
    for (String s : cfg.stopStrings()) if (text.endsWith(s)) return true;
    return false;
  }
}
