package jswift.tuner;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import jswift.model.AtomicFile;
import jswift.model.CausalLM;
import jswift.model.SafetensorsFile;
import jswift.model.SafetensorsWriter;
import jswift.model.TensorSource;
import jswift.nn.Activation;
import jswift.nn.BottleneckAdapter;
import jswift.nn.Parameter;

/**
 * ms-swift's own tuner format, for its {@code --train_type adapter} (a bottleneck adapter after every layer's MLP,
 * {@link BottleneckAdapter}), as SwiftModel.save_pretrained writes it: each adapter in a subfolder named after it
 * ({@code default/}) with {@code adapter_config.json} (ms-swift's AdapterConfig with {@code "swift_type":
 * "ADAPTER"}) and {@code adapter_model.safetensors} keyed by the model's own module paths
 * ({@code model.layers.<i>.mlp.adapter_default.linear1.weight}, {@code .linear1.bias}, {@code .linear2.*}, fp32),
 * and {@code configuration.json} ({@code {}}) beside. ms-swift's {@code Swift.from_pretrained} loads such a
 * checkpoint; jswift loads it for infer / deploy / eval and for resuming.
 */
public final class SwiftAdapterFolder {
  /** The subfolder of the one adapter a training run saves (ms-swift's DEFAULT_ADAPTER). */
  public static final String DEFAULT = "default";
  public static final String CONFIG = "adapter_config.json";
  public static final String WEIGHTS = "adapter_model.safetensors";
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final java.util.regex.Pattern KEY =
      java.util.regex.Pattern.compile("model\\.layers\\.(\\d+)\\.mlp\\.adapter_default\\.linear[12]\\.(weight|bias)");

  private SwiftAdapterFolder() {}

  /** The bottleneck adapter's settings: ms-swift's adapter_length and adapter_act. */
  public record Config(int length, String act) {
    public Config {
      if (length <= 0) throw new IllegalArgumentException("--adapter_length must be > 0, got " + length);
      Activation.parse(act);  // an unknown activation names the supported ones
    }

    Activation activation() {
      return Activation.parse(act);
    }
  }

  /** True when {@code dir} is an ms-swift tuner checkpoint (its default/adapter_config.json has a swift_type). */
  public static boolean isSwiftTuner(Path dir) {
    Path cfg = dir.resolve(DEFAULT).resolve(CONFIG);
    if (!Files.isRegularFile(cfg)) return false;
    try {
      return JSON.readTree(cfg.toFile()).has("swift_type");
    } catch (IOException e) {
      return false;
    }
  }

  /** The weights file of a checkpoint's default adapter. */
  public static Path weights(Path dir) {
    return dir.resolve(DEFAULT).resolve(WEIGHTS);
  }

  /** The parameter-name prefix of layer {@code layer}'s adapter: its module path in the model, as ms-swift keys it. */
  public static String prefix(int layer) {
    return "model.layers." + layer + ".mlp.adapter_" + DEFAULT + ".";
  }

  /**
   * A freshly initialised bottleneck adapter on every layer of {@code model}, under adapter name {@code name};
   * returns their parameters (frozen until made trainable), layer by layer.
   */
  public static List<Parameter> apply(CausalLM model, String name, Config config, long seed) {
    List<Parameter> out = new ArrayList<>();
    int hidden = model.config().hiddenSize();
    for (int i = 0; i < model.config().numHiddenLayers(); i++) {
      BottleneckAdapter b = BottleneckAdapter.initialised(prefix(i), hidden, config.length(), config.activation(),
          seed * 1_000_003L + i, model.dtype(), model.device());
      model.setBottleneckAdapter(name, i, b);
      out.addAll(b.parameters());
    }
    model.setActiveAdapter(name);
    return out;
  }

  /** Writes adapter {@code name} of {@code model} into {@code dir} (default/ + configuration.json). */
  public static void save(CausalLM model, String name, Config config, Path dir) throws IOException {
    Map<Integer, BottleneckAdapter> adapters = model.bottleneckAdapters(name);
    if (adapters.isEmpty()) throw new IllegalArgumentException("the model has no bottleneck adapter named " + name);
    Path sub = dir.resolve(DEFAULT);
    Files.createDirectories(sub);
    List<TensorSource> tensors = new ArrayList<>();
    for (BottleneckAdapter b : adapters.values())
      for (Parameter p : b.parameters()) tensors.add(PeftAdapterWriter.fp32(p.name(), p));
    SafetensorsWriter.write(sub.resolve(WEIGHTS), tensors, SafetensorsWriter.PT_METADATA);
    ObjectNode c = JSON.createObjectNode();
    c.put("dim", model.config().hiddenSize());
    c.putArray("target_modules").add("mlp");
    c.put("hidden_pos", 0);
    c.put("method_name", "forward");
    c.put("adapter_length", config.length());
    c.put("act_layer", config.act());
    c.put("swift_type", "ADAPTER");
    AtomicFile.writeString(sub.resolve(CONFIG), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(c));
    if (!Files.exists(dir.resolve("configuration.json"))) AtomicFile.writeString(dir.resolve("configuration.json"), "{}");
  }

  /**
   * Loads an ms-swift ADAPTER checkpoint under {@code name}, every tensor checked against this model before any is
   * added; errors name the file and the tensor. A REFT folder goes to {@link ReftFolder#load}; other ms-swift tuners
   * (its own LoRA, ...) are refused.
   */
  public static void load(CausalLM model, String name, Path dir) throws IOException {
    Path cfgFile = dir.resolve(DEFAULT).resolve(CONFIG);
    JsonNode c = JSON.readTree(cfgFile.toFile());
    String type = c.path("swift_type").asText();
    if (type.equals("REFT")) {
      ReftFolder.load(model, name, dir);
      return;
    }
    if (!type.equals("ADAPTER"))
      throw new IOException(cfgFile + ": swift_type " + type + " is an ms-swift tuner jswift does not load (it loads "
          + "ADAPTER and REFT, and PEFT adapters: LoRA and its family)");
    int hidden = model.config().hiddenSize();
    if (c.path("dim").asInt(hidden) != hidden)
      throw new IOException(cfgFile + ": dim " + c.path("dim") + " is not this model's hidden size " + hidden);
    JsonNode targets = c.path("target_modules");
    boolean mlp = targets.isArray() ? targets.size() == 1 && targets.get(0).asText().equals("mlp")
        : targets.isTextual() && targets.asText().matches(".*mlp\\$?");
    if (!mlp)
      throw new IOException(cfgFile + ": target_modules " + targets + ": jswift places the adapter on each layer's "
          + "mlp (ms-swift's --train_type adapter); other targets are not supported");
    Activation act;
    try {
      act = Activation.parse(c.path("act_layer").asText("gelu"));
    } catch (IllegalArgumentException e) {
      throw new IOException(cfgFile + ": act_layer: " + e.getMessage(), e);
    }
    Path weights = weights(dir);
    if (!Files.exists(weights))
      throw new IOException(weights + " not found (jswift reads safetensors adapters; adapter_model.bin is not supported)");
    List<BottleneckAdapter> built = new ArrayList<>();
    try (SafetensorsFile f = SafetensorsFile.open(weights)) {
      int layers = model.config().numHiddenLayers();
      for (int i = 0; i < layers; i++) {
        String p = prefix(i);
        Parameter w1 = read(f, p + "linear1.weight", model), b1 = read(f, p + "linear1.bias", model),
            w2 = read(f, p + "linear2.weight", model), b2 = read(f, p + "linear2.bias", model);
        built.add(new BottleneckAdapter(w1, b1, w2, b2, act));
      }
      for (String key : f.names()) {
        java.util.regex.Matcher m = KEY.matcher(key);
        if (!m.matches() || Integer.parseInt(m.group(1)) >= layers)
          throw new IOException(weights + ": '" + key + "' is not a bottleneck adapter tensor of this " + layers
              + "-layer model");
      }
      if (built.get(0).parameters().get(0).value().size(1) != hidden)
        throw new IOException(weights + ": linear1.weight is " + java.util.Arrays.toString(
            built.get(0).parameters().get(0).value().shape()) + ", this model's hidden size is " + hidden);
      for (int i = 0; i < layers; i++) model.setBottleneckAdapter(name, i, built.get(i));
      built.clear();
    } catch (IllegalArgumentException e) {
      throw new IOException(weights + ": " + e.getMessage(), e);
    } finally {
      built.forEach(BottleneckAdapter::close);
    }
  }

  private static Parameter read(SafetensorsFile f, String key, CausalLM model) throws IOException {
    if (!f.contains(key))
      throw new IOException(f.path() + " has no '" + key + "' (every layer of the model needs its adapter)");
    long[] shape = f.entry(key).shape();
    return BottleneckAdapter.param(key, f.floats(key), model.dtype(), model.device(), shape);
  }
}
