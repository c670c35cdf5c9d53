package jswift.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The decoder hyper-parameters of a Hugging Face {@code config.json} (llama, qwen2, qwen3, mistral families),
 * read in both the transformers-4 key style ({@code rope_theta}, {@code rope_scaling}) and the
 * transformers-5 one ({@code rope_parameters}). Values the model needs but the file lacks take transformers'
 * defaults; values jswift cannot honour (an activation other than SiLU, an unknown rope type) are refused
 * with the file and key named.
 *
 * <p>{@code slidingWindow} is the window of sliding-window attention (0: none) and {@code slidingLayers} says, per
 * layer, whether that layer uses it, as transformers decides per family ({@link Architecture.SlidingWindow}).
 */
public record ModelConfig(
    Architecture architecture,
    int vocabSize,
    int hiddenSize,
    int intermediateSize,
    int numHiddenLayers,
    int numAttentionHeads,
    int numKeyValueHeads,
    int headDim,
    float rmsNormEps,
    float ropeTheta,
    RopeScaling ropeScaling,
    int maxPositionEmbeddings,
    int slidingWindow,
    List<Boolean> slidingLayers,
    boolean tieWordEmbeddings,
    boolean attentionBias,
    boolean mlpBias,
    int bosTokenId,
    List<Integer> eosTokenIds,
    int padTokenId,
    String torchDtype) {

  private static final ObjectMapper JSON = new ObjectMapper();

  public String modelType() {
    return architecture.modelType();
  }

  /** Whether q/k/v projections carry a bias (Qwen2 always; others per attention_bias). */
  public boolean qkvBias() {
    return architecture.qkvBias() || attentionBias;
  }

  public int kvGroupSize() {
    return numAttentionHeads / numKeyValueHeads;
  }

  public static ModelConfig load(Path modelDir) throws IOException {
    if (!Files.exists(modelDir))
      throw new IOException(modelDir + " does not exist: a model is a Hugging Face folder (config.json, "
          + "*.safetensors, tokenizer.json)");
    Path file = Files.isDirectory(modelDir) ? modelDir.resolve("config.json") : modelDir;
    if (!Files.exists(file)) throw new IOException(file + " not found: is " + modelDir + " a Hugging Face model folder?");
    JsonNode n;
    try {
      n = JSON.readTree(file.toFile());
    } catch (IOException e) {
      throw new IOException(file + ": not valid JSON: " + e.getMessage(), e);
    }
    return parse(n, file.toString());
  }

  public static ModelConfig parse(JsonNode n, String source) {
    // Multimodal wrappers (e.g. some Qwen releases) nest the decoder under text_config.
    if (!n.has("hidden_size") && n.has("text_config")) n = n.get("text_config");
    String modelType = text(n, "model_type", null);
    if (modelType == null) throw new IllegalArgumentException(source + ": no model_type");
    Architecture arch = ModelRegistry.lookup(modelType);
    String act = text(n, "hidden_act", "silu");
    if (!act.equals("silu") && !act.equals("swish"))
      throw new IllegalArgumentException(source + ": hidden_act '" + act + "' is not supported (jswift builds SwiGLU MLPs)");
    int hidden = required(n, "hidden_size", source);
    int heads = required(n, "num_attention_heads", source);
    int kvHeads = integer(n, "num_key_value_heads", heads);
    if (heads % kvHeads != 0)
      throw new IllegalArgumentException(source + ": num_attention_heads " + heads + " is not a multiple of num_key_value_heads " + kvHeads);
    int headDim = n.hasNonNull("head_dim") ? n.get("head_dim").asInt() : hidden / heads;

    JsonNode rope = n.hasNonNull("rope_parameters") ? n.get("rope_parameters") : n.get("rope_scaling");
    float theta = (float) (n.hasNonNull("rope_theta") ? n.get("rope_theta").asDouble()
        : rope != null && rope.hasNonNull("rope_theta") ? rope.get("rope_theta").asDouble() : 10000.0);
    RopeScaling scaling = ropeScaling(rope, source);

    int layers = required(n, "num_hidden_layers", source);
    int window = slidingWindow(n, arch);
    List<Boolean> slidingLayers = slidingLayers(n, arch, window, layers, source);
    List<Integer> eos = new ArrayList<>();
    JsonNode e = n.get("eos_token_id");
    if (e != null && e.isArray()) e.forEach(x -> eos.add(x.asInt()));
    else if (e != null && !e.isNull()) eos.add(e.asInt());

    return new ModelConfig(arch, required(n, "vocab_size", source), hidden, required(n, "intermediate_size", source),
        layers, heads, kvHeads, headDim,
        (float) (n.hasNonNull("rms_norm_eps") ? n.get("rms_norm_eps").asDouble() : 1e-6), theta, scaling,
        integer(n, "max_position_embeddings", 2048), window, slidingLayers, bool(n, "tie_word_embeddings", false),
        bool(n, "attention_bias", false), bool(n, "mlp_bias", false), integer(n, "bos_token_id", -1),
        List.copyOf(eos), integer(n, "pad_token_id", -1),
        text(n, "torch_dtype", text(n, "dtype", "float32")));
  }

  /** The window of layer {@code layer}: {@link #slidingWindow} where that layer slides, else 0 (full causal). */
  public int slidingWindow(int layer) {
    return slidingLayers.get(layer) ? slidingWindow : 0;
  }

  private static int slidingWindow(JsonNode n, Architecture arch) {
    if (!n.hasNonNull("sliding_window") || n.get("sliding_window").asInt() <= 0) return 0;
    return switch (arch.slidingWindow()) {
      case NONE -> 0;
      case EVERY_LAYER -> n.get("sliding_window").asInt();
      // Qwen's configs carry a sliding_window even when it is off; use_sliding_window (default false) decides.
      case LAYER_TYPES -> bool(n, "use_sliding_window", false) ? n.get("sliding_window").asInt() : 0;
    };
  }

  private static List<Boolean> slidingLayers(JsonNode n, Architecture arch, int window, int layers, String source) {
    List<Boolean> out = new ArrayList<>();
    boolean perLayer = arch.slidingWindow() == Architecture.SlidingWindow.LAYER_TYPES;
    JsonNode types = n.get("layer_types");
    if (window > 0 && perLayer && types != null && !types.isNull()) {
      if (!types.isArray() || types.size() != layers)
        throw new IllegalArgumentException(source + ": layer_types must list one type per layer (" + layers + ")");
      for (JsonNode t : types) {
        switch (t.asText()) {
          case "sliding_attention" -> out.add(true);
          case "full_attention" -> out.add(false);
          default -> throw new IllegalArgumentException(source + ": layer_types entry '" + t.asText()
              + "' is not supported (full_attention, sliding_attention)");
        }
      }
      return List.copyOf(out);
    }
    // Without layer_types, transformers slides the layers from max_window_layers on (Qwen) or all (Mistral).
    int first = perLayer ? integer(n, "max_window_layers", 28) : 0;
    for (int i = 0; i < layers; i++) out.add(window > 0 && i >= first);
    return List.copyOf(out);
  }

  private static RopeScaling ropeScaling(JsonNode r, String source) {
    if (r == null || r.isNull()) return RopeScaling.NONE;
    String type = text(r, "rope_type", text(r, "type", "default"));
    switch (type) {
      case "default":
        return RopeScaling.NONE;
      case "linear":
        return new RopeScaling("linear", (float) r.path("factor").asDouble(1.0), 1f, 1f, 0);
      case "llama3":
        return new RopeScaling("llama3", (float) r.path("factor").asDouble(8.0),
            (float) r.path("low_freq_factor").asDouble(1.0), (float) r.path("high_freq_factor").asDouble(4.0),
            r.path("original_max_position_embeddings").asLong(8192));
      default:
        throw new IllegalArgumentException(source + ": rope_scaling type '" + type
            + "' is not supported (default, linear, llama3)");
    }
  }

  private static int required(JsonNode n, String key, String source) {
    if (!n.hasNonNull(key)) throw new IllegalArgumentException(source + ": missing required key '" + key + "'");
    return n.get(key).asInt();
  }

  private static int integer(JsonNode n, String key, int dflt) {
    return n.hasNonNull(key) ? n.get(key).asInt() : dflt;
  }

  private static boolean bool(JsonNode n, String key, boolean dflt) {
    return n.hasNonNull(key) ? n.get(key).asBoolean() : dflt;
  }

  private static String text(JsonNode n, String key, String dflt) {
    return n.hasNonNull(key) ? n.get(key).asText() : dflt;
  }
}
