package jswift.tokenizer;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A Hugging Face {@code tokenizer.json} tokenizer (through DJL's bindings of the Rust tokenizers library, which
 * gives the same ids as Python's), plus what the model folder says about special tokens:
 * {@code tokenizer_config.json} (bos/eos/pad token strings, add_bos_token) and {@code generation_config.json}
 * (eos ids, which can be several). Chat templates add special tokens as text, so {@link #encode(String)} adds
 * none; {@link #encode(String, boolean)} applies the tokenizer's own post-processor when asked.
 */
public final class Tokenizer implements AutoCloseable {
  private static final ObjectMapper JSON = new ObjectMapper();

  private final HuggingFaceTokenizer hf;
  private final Map<String, Integer> specialIds;  // added tokens: content -> id
  private final Map<Integer, String> specialTokens;
  private final int vocabSize;
  private final Integer bosId;
  private final List<Integer> eosIds;
  private final Integer padId;

  private Tokenizer(HuggingFaceTokenizer hf, Map<String, Integer> specialIds, int vocabSize, Integer bosId,
      List<Integer> eosIds, Integer padId) {
    this.hf = hf;
    this.specialIds = specialIds;
    this.specialTokens = new HashMap<>();
    specialIds.forEach((k, v) -> specialTokens.put(v, k));
    this.vocabSize = vocabSize;
    this.bosId = bosId;
    this.eosIds = eosIds;
    this.padId = padId;
  }

  /** Loads {@code tokenizer.json} (required) and the special-token settings of a model folder. */
  public static Tokenizer load(Path modelDir) throws IOException {
    Path file = modelDir.resolve("tokenizer.json");
    if (!Files.exists(file))
      throw new IOException(file + " not found: jswift needs the Hugging Face tokenizer.json of the model");
    JsonNode tok;
    try {
      tok = JSON.readTree(file.toFile());
    } catch (IOException e) {
      throw new IOException(file + ": not valid JSON (" + e.getMessage() + ")", e);
    }
    Map<String, Integer> added = new HashMap<>();
    for (JsonNode t : tok.path("added_tokens")) added.put(t.path("content").asText(), t.path("id").asInt());
    // No truncation or padding: jswift decides lengths itself (max_length, packing).
    Map<String, String> options = Map.of("addSpecialTokens", "false", "truncation", "false", "padding", "false");
    HuggingFaceTokenizer hf = HuggingFaceTokenizer.newInstance(file, options);

    JsonNode cfg = readIfPresent(modelDir.resolve("tokenizer_config.json"));
    JsonNode gen = readIfPresent(modelDir.resolve("generation_config.json"));
    Integer bos = tokenId(cfg.get("bos_token"), added);
    Integer pad = tokenId(cfg.get("pad_token"), added);
    List<Integer> eos = new ArrayList<>();
    JsonNode genEos = gen.get("eos_token_id");
    if (genEos != null && genEos.isArray()) genEos.forEach(e -> eos.add(e.asInt()));
    else if (genEos != null && genEos.isNumber()) eos.add(genEos.asInt());
    Integer cfgEos = tokenId(cfg.get("eos_token"), added);
    if (cfgEos != null && !eos.contains(cfgEos)) eos.add(cfgEos);
    if (pad == null && gen.path("pad_token_id").isNumber()) pad = gen.get("pad_token_id").asInt();
    return new Tokenizer(hf, Collections.unmodifiableMap(added), idCount(tok), bos, List.copyOf(eos), pad);
  }

  /** The ids a tokenizer.json's tokens take: its highest id (added tokens or model vocabulary) + 1. */
  public static int idCount(JsonNode tokenizerJson) {
    int maxId = -1;
    for (JsonNode t : tokenizerJson.path("added_tokens")) maxId = Math.max(maxId, t.path("id").asInt());
    JsonNode vocab = tokenizerJson.path("model").path("vocab");
    if (vocab.isObject()) {
      for (JsonNode id : vocab) maxId = Math.max(maxId, id.asInt());
    } else if (vocab.isArray()) {  // Unigram: [[piece, score], ...]
      maxId = Math.max(maxId, vocab.size() - 1);
    }
    return maxId + 1;
  }

  private static JsonNode readIfPresent(Path p) throws IOException {
    if (!Files.exists(p)) return JSON.createObjectNode();
    try {
      return JSON.readTree(p.toFile());
    } catch (IOException e) {
      throw new IOException(p + ": not valid JSON (" + e.getMessage() + ")", e);
    }
  }

  /** A special token given as a string or as {"content": ...}, resolved through the added tokens. */
  private static Integer tokenId(JsonNode token, Map<String, Integer> added) {
    if (token == null || token.isNull()) return null;
    String s = token.isTextual() ? token.asText() : token.path("content").asText(null);
    return s == null ? null : added.get(s);
  }

  /** Token ids of a text, with no special tokens added (special-token text such as "<|im_end|>" is matched). */
  public int[] encode(String text) {
    return encode(text, false);
  }

  /** Token ids; with addSpecialTokens the tokenizer's post-processor adds its own (e.g. Llama 3's bos). */
  public int[] encode(String text, boolean addSpecialTokens) {
    Encoding e = hf.encode(text, addSpecialTokens, false);
    long[] ids = e.getIds();
    int[] out = new int[ids.length];
    for (int i = 0; i < ids.length; i++) out[i] = Math.toIntExact(ids[i]);
    return out;
  }

  public String decode(int[] ids, boolean skipSpecialTokens) {
    long[] l = new long[ids.length];
    for (int i = 0; i < ids.length; i++) {
      if (ids[i] < 0 || ids[i] >= vocabSize)
        throw new IllegalArgumentException("token id " + ids[i] + " at position " + i + " is outside [0, " + vocabSize + ")");
      l[i] = ids[i];
    }
    return hf.decode(l, skipSpecialTokens);
  }

  /** The id of an added/special token ("<|im_end|>"), or -1. */
  public int specialTokenId(String token) {
    return specialIds.getOrDefault(token, -1);
  }

  public boolean isSpecial(int id) {
    return specialTokens.containsKey(id);
  }

  /** Number of ids the tokenizer can produce (vocab + added tokens); the model's vocab_size may be larger. */
  public int vocabSize() {
    return vocabSize;
  }

  /** The bos id from tokenizer_config.json, or null (Qwen has none). */
  public Integer bosTokenId() {
    return bosId;
  }

  /** Every id that ends generation: generation_config.json's eos_token_id(s) and tokenizer_config.json's eos. */
  public List<Integer> eosTokenIds() {
    return eosIds;
  }

  public Integer padTokenId() {
    return padId;
  }

  @Override
  public void close() {
    hf.close();
  }
}
