package jswift.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import jswift.tensor.DType;

/**
 * ms-swift's {@code --new_special_tokens}: tokens added to the tokenizer as special tokens (transformers'
 * add_special_tokens: new ids after the last one, each matched whole in text and never split), and the model's
 * embedding (and an untied LM head) grown when the tokenizer then outgrows it, as resize_token_embeddings does: the
 * new rows start at the mean of the old ones (transformers samples them from a normal around that mean with 1e-9 of
 * the rows' covariance: the mean, to float precision). Written as a model folder of its own, so every part of jswift
 * loads it as any model: the base's weight files linked when no row is added, else rewritten with the grown
 * matrices; config.json's vocab_size then says the new size.
 */
public final class NewSpecialTokens {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String EMBED = "model.embed_tokens.weight", LM_HEAD = "lm_head.weight";

  private NewSpecialTokens() {}

  /** The tokens of the flag's values: each a token, or a {@code .txt} file of one token a line (ms-swift's form). */
  public static List<String> parse(List<String> values) throws IOException {
    Set<String> out = new LinkedHashSet<>();
    for (String v : values) {
      if (v.endsWith(".txt") && Files.isRegularFile(Path.of(v))) {
        for (String line : Files.readAllLines(Path.of(v))) if (!line.isBlank()) out.add(line.strip());
      } else if (!v.isBlank()) {
        out.add(v);
      }
    }
    return new ArrayList<>(out);
  }

  /** What {@link #extend} did: the tokens added (those the tokenizer did not have) and the vocabulary rows after. */
  public record Result(List<String> added, int vocabRows, boolean resized) {}

  /**
   * {@code modelDir} with {@code tokens} added, written into {@code outDir} (created); tokens the tokenizer already
   * has (as added tokens or in its vocabulary) are left as they are.
   */
  public static Result extend(Path modelDir, List<String> tokens, Path outDir) throws IOException {
    Path tokFile = modelDir.resolve("tokenizer.json");
    if (!Files.exists(tokFile))
      throw new IOException(tokFile + " not found: --new_special_tokens extends the model's tokenizer.json");
    ObjectNode tok = (ObjectNode) JSON.readTree(tokFile.toFile());
    int next = jswift.tokenizer.Tokenizer.idCount(tok);  // the first new id
    Set<String> known = new java.util.HashSet<>();
    for (JsonNode t : tok.path("added_tokens")) known.add(t.path("content").asText());
    JsonNode vocab = tok.path("model").path("vocab");
    if (vocab.isObject()) vocab.fieldNames().forEachRemaining(known::add);
    else for (JsonNode piece : vocab) known.add(piece.path(0).asText());  // Unigram: [[piece, score], ...]
    List<String> added = new ArrayList<>();
    for (String t : tokens) if (known.add(t)) added.add(t);
    Files.createDirectories(outDir);
    ArrayNode addedTokens = tok.has("added_tokens") ? (ArrayNode) tok.get("added_tokens") : tok.putArray("added_tokens");
    ObjectNode cfg = Files.exists(modelDir.resolve("tokenizer_config.json"))
        ? (ObjectNode) JSON.readTree(modelDir.resolve("tokenizer_config.json").toFile()) : JSON.createObjectNode();
    ObjectNode decoder = cfg.has("added_tokens_decoder") ? (ObjectNode) cfg.get("added_tokens_decoder")
        : cfg.putObject("added_tokens_decoder");
    ArrayNode additional = cfg.putArray("additional_special_tokens");  // add_special_tokens replaces the list
    for (String t : tokens) additional.add(t);
    for (int i = 0; i < added.size(); i++) {
      ObjectNode entry = JSON.createObjectNode().put("id", next + i).put("content", added.get(i))
          .put("single_word", false).put("lstrip", false).put("rstrip", false).put("normalized", false)
          .put("special", true);
      addedTokens.add(entry);
      ObjectNode d = entry.deepCopy();
      d.remove("id");
      decoder.set(String.valueOf(next + i), d);
    }
    AtomicFile.writeString(outDir.resolve("tokenizer.json"), JSON.writeValueAsString(tok));
    AtomicFile.writeString(outDir.resolve("tokenizer_config.json"), JSON.writerWithDefaultPrettyPrinter()
        .writeValueAsString(cfg));
    int tokenizerSize = next + added.size();

    ObjectNode config = (ObjectNode) JSON.readTree(modelDir.resolve("config.json").toFile());
    int rows = config.path("vocab_size").asInt();
    boolean resize = tokenizerSize > rows;
    try (var files = Files.list(modelDir)) {
      for (Path f : files.toList()) {
        String name = f.getFileName().toString();
        if (name.equals("tokenizer.json") || name.equals("tokenizer_config.json") || name.equals("config.json")) continue;
        if (resize && (name.endsWith(".safetensors") || name.equals(CheckpointWriter.INDEX))) continue;
        if (Files.isRegularFile(f)) Files.createSymbolicLink(outDir.resolve(name), f.toAbsolutePath());
      }
    }
    if (resize) {
      config.put("vocab_size", tokenizerSize);
      grow(modelDir, outDir, tokenizerSize);
    }
    AtomicFile.writeString(outDir.resolve("config.json"), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(config));
    return new Result(added, Math.max(rows, tokenizerSize), resize);
  }

  /** The base's tensors into outDir, the embedding and an untied LM head grown to {@code rows} (new rows: the mean). */
  private static void grow(Path modelDir, Path outDir, int rows) throws IOException {
    try (Checkpoint base = Checkpoint.open(modelDir)) {
      List<TensorSource> sources = new ArrayList<>();
      for (String name : base.names()) {
        SafetensorsFile f = base.file(name);
        if (!name.equals(EMBED) && !name.equals(LM_HEAD)) {
          sources.add(TensorSource.stored(f, name));
          continue;
        }
        long[] shape = f.entry(name).shape();
        if (shape.length != 2 || shape[0] > rows)
          throw new IOException(f.path() + ": " + name + " is " + java.util.Arrays.toString(shape) + ", cannot grow to "
              + rows + " rows");
        float[] old = f.floats(name);
        int cols = (int) shape[1], oldRows = (int) shape[0];
        float[] grown = java.util.Arrays.copyOf(old, rows * cols);
        double[] mean = new double[cols];
        for (int r = 0; r < oldRows; r++) for (int c = 0; c < cols; c++) mean[c] += old[r * cols + c];
        for (int c = 0; c < cols; c++) mean[c] /= oldRows;
        for (int r = oldRows; r < rows; r++) for (int c = 0; c < cols; c++) grown[r * cols + c] = (float) mean[c];
        DType stored = DType.parse(f.entry(name).dtype());  // F32, BF16, F16
        sources.add(TensorSource.computed(name, stored, new long[] {rows, cols}, () -> jswift.tensor.Tensor.fromFloats(
            grown, stored, jswift.tensor.Device.CPU, rows, cols)));
      }
      CheckpointWriter.write(outDir, sources, 5_000_000_000L);
    }
  }
}
