package jswift.tuner;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import jswift.model.AtomicFile;
import jswift.model.CausalLM;
import jswift.model.SafetensorsFile;
import jswift.model.SafetensorsWriter;
import jswift.model.TensorSource;
import jswift.nn.Activation;
import jswift.nn.BottleneckAdapter;
import jswift.nn.HouseholderRotation;
import jswift.nn.Parameter;
import jswift.nn.ReftIntervention;
import jswift.tensor.DType;

/**
 * ms-swift's {@code --train_type reft} (its ReftConfig / Reft tuner over pyreft): an intervention on the output of
 * each chosen decoder layer ({@link ReftIntervention}), at every position (ms-swift's sft template gives pyreft no
 * intervention locations). The checkpoint is an ms-swift tuner folder, {@code default/adapter_config.json} with
 * {@code "swift_type": "REFT"}, {@code r}, {@code layers}, {@code intervention_type} and {@code args}, as ms-swift
 * writes it; the tensors are in {@code default/adapter_model.safetensors} under {@code model.layers.<i>.reft.} with
 * pyreft's state names ({@code learned_source.weight}, {@code learned_source.bias}, {@code proj_layer.*}, and
 * {@code rotate_layer}: R itself), plus, for the rotation kinds, what resumes the Householder parametrization exactly
 * ({@code rotate_layer.householder}, {@code rotate_layer.base}, {@code rotate_layer.signs}). ms-swift itself keeps
 * pyvene's torch-pickled {@code intkey_*.bin} files there, which jswift neither reads nor writes. A ReFT adapter
 * cannot be merged into the weights (ms-swift says the same).
 */
public final class ReftFolder {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Set<String> ARGS = Set.of("act_fn", "dropout", "add_bias");
  private static final String R = "rotate_layer", BASE = "rotate_layer.base", SIGNS = "rotate_layer.signs";

  private ReftFolder() {}

  /**
   * The settings: the layers (null: all of them), the rank, pyreft's intervention class and its {@code reft_args}
   * (act_fn: a transformers activation name or "linear"; dropout; add_bias, the NoReFT kinds' projection bias).
   */
  public record Config(List<Integer> layers, int rank, ReftIntervention.Kind kind, String actFn, float dropout,
      boolean addBias) {
    public Config {
      if (rank <= 0) throw new IllegalArgumentException("--reft_rank must be > 0, got " + rank);
      if (layers != null) {
        if (layers.isEmpty()) throw new IllegalArgumentException("--reft_layers is empty (leave it out for all layers)");
        for (int l : layers) if (l < 0) throw new IllegalArgumentException("--reft_layers has a negative layer " + l);
        if (Set.copyOf(layers).size() != layers.size())
          throw new IllegalArgumentException("--reft_layers names a layer twice: " + layers);
        layers = List.copyOf(layers);
      }
      if (dropout < 0 || dropout >= 1)
        throw new IllegalArgumentException("--reft_args dropout must be in [0, 1), got " + dropout);
      activation(actFn);  // an unknown name lists the known ones
      if (addBias && kind.orthogonal)
        throw new IllegalArgumentException("--reft_args add_bias is the projection bias of NoreftIntervention and "
            + "NodireftIntervention; " + kind.className() + " has none");
    }

    /** From the command line's --reft_layers, --reft_rank, --reft_intervention_type and --reft_args (JSON or null). */
    public static Config parse(List<Integer> layers, int rank, String interventionType, String argsJson) {
      JsonNode args;
      try {
        args = argsJson == null || argsJson.isBlank() ? JSON.createObjectNode() : JSON.readTree(argsJson);
      } catch (IOException e) {
        throw new IllegalArgumentException("--reft_args is not JSON: " + e.getMessage());
      }
      return fromArgs(layers, rank, ReftIntervention.Kind.parse(interventionType), args, "--reft_args");
    }

    static Config fromArgs(List<Integer> layers, int rank, ReftIntervention.Kind kind, JsonNode args, String where) {
      if (!args.isObject()) throw new IllegalArgumentException(where + " must be a JSON object, got " + args);
      for (Iterator<String> it = args.fieldNames(); it.hasNext(); ) {
        String k = it.next();
        if (!ARGS.contains(k))
          throw new IllegalArgumentException(where + ": '" + k + "' is not an argument jswift's interventions take "
              + "(they take " + new java.util.TreeSet<>(ARGS) + ")");
      }
      JsonNode act = args.path("act_fn");
      return new Config(layers, rank, kind, act.isMissingNode() || act.isNull() ? null : act.asText(),
          (float) args.path("dropout").asDouble(0), args.path("add_bias").asBoolean(false));
    }

    /** The activation of the linear source (null: pyreft's "linear", none). */
    public Activation activation() {
      return activation(actFn);
    }

    private static Activation activation(String name) {
      return name == null || name.equals("linear") ? null : Activation.parse(name);
    }

    ObjectNode argsJson() {
      ObjectNode a = JSON.createObjectNode();
      if (actFn != null) a.put("act_fn", actFn);
      if (dropout > 0) a.put("dropout", dropout);
      if (addBias) a.put("add_bias", true);
      return a;
    }

    /** The layer indices for a model of {@code n} layers (all when none are named); a missing layer is an error. */
    public List<Integer> layersOf(int n) {
      if (layers == null) {
        List<Integer> all = new ArrayList<>();
        for (int i = 0; i < n; i++) all.add(i);
        return all;
      }
      for (int l : layers)
        if (l >= n) throw new IllegalArgumentException("--reft_layers " + layers + ": the model has " + n + " layers (0.."
            + (n - 1) + ")");
      return layers;
    }
  }

  /** The parameter-name prefix of layer {@code layer}'s intervention. */
  public static String prefix(int layer) {
    return "model.layers." + layer + ".reft.";
  }

  /**
   * A freshly initialised intervention on each chosen layer of {@code model}, under adapter name {@code name},
   * activated; returns their parameters (frozen until made trainable), layer by layer.
   */
  public static List<Parameter> apply(CausalLM model, String name, Config config, long seed) {
    List<Parameter> out = new ArrayList<>();
    int hidden = model.config().hiddenSize();
    for (int i : config.layersOf(model.config().numHiddenLayers())) {
      ReftIntervention r = ReftIntervention.initialised(prefix(i), config.kind(), hidden, config.rank(),
          config.activation(), config.dropout(), config.addBias(), seed * 1_000_003L + i, model.dtype(),
          model.device());
      model.setReftIntervention(name, i, r);
      out.addAll(r.parameters());
    }
    model.setActiveAdapter(name);
    return out;
  }

  /** Writes adapter {@code name} of {@code model} into {@code dir} (default/ + configuration.json). */
  public static void save(CausalLM model, String name, Config config, Path dir) throws IOException {
    Map<Integer, ReftIntervention> interventions = model.reftInterventions(name);
    if (interventions.isEmpty()) throw new IllegalArgumentException("the model has no ReFT adapter named " + name);
    Path sub = dir.resolve(SwiftAdapterFolder.DEFAULT);
    Files.createDirectories(sub);
    List<TensorSource> tensors = new ArrayList<>();
    List<Integer> layers = new ArrayList<>();
    for (Map.Entry<Integer, ReftIntervention> e : interventions.entrySet()) {
      int layer = e.getKey();
      ReftIntervention r = e.getValue();
      layers.add(layer);
      for (Parameter p : r.parameters()) tensors.add(PeftAdapterWriter.fp32(p.name(), p));
      if (r.kind().orthogonal) {
        int hidden = r.hidden(), rank = r.rank();
        tensors.add(floats(prefix(layer) + R, r.rotationMatrix(), hidden, rank));
        tensors.add(floats(prefix(layer) + BASE, r.rotation().baseReflectors(), hidden, rank));
        tensors.add(floats(prefix(layer) + SIGNS, r.rotation().signs(), rank));
      }
    }
    SafetensorsWriter.write(sub.resolve(SwiftAdapterFolder.WEIGHTS), tensors, SafetensorsWriter.PT_METADATA);
    ObjectNode c = JSON.createObjectNode();
    c.putNull("model_type");
    c.putNull("layer_key");
    if (config.layers() == null) c.putNull("layers");
    else c.set("layers", JSON.valueToTree(layers));
    c.put("r", config.rank());
    c.put("intervention_type", config.kind().className());
    c.set("args", config.argsJson());
    c.put("swift_type", "REFT");
    AtomicFile.writeString(sub.resolve(SwiftAdapterFolder.CONFIG),
        JSON.writerWithDefaultPrettyPrinter().writeValueAsString(c));
    if (!Files.exists(dir.resolve("configuration.json"))) AtomicFile.writeString(dir.resolve("configuration.json"), "{}");
  }

  private static TensorSource floats(String name, float[] values, long... shape) {
    return TensorSource.computed(name, DType.F32, shape,
        () -> jswift.tensor.Tensor.fromFloats(values, DType.F32, jswift.tensor.Device.CPU, shape));
  }

  /** The settings recorded in a ReFT folder's adapter_config.json; errors name the file. */
  public static Config readConfig(Path cfgFile, JsonNode c) throws IOException {
    try {
      String layerKey = c.path("layer_key").isNull() || c.path("layer_key").isMissingNode() ? null
          : c.path("layer_key").asText();
      if (layerKey != null && !layerKey.equals("model.layers"))
        throw new IllegalArgumentException("layer_key " + layerKey + ": jswift intervenes on model.layers");
      List<Integer> layers = null;
      if (c.path("layers").isArray()) {
        layers = new ArrayList<>();
        for (JsonNode l : c.path("layers")) layers.add(l.asInt());
      }
      JsonNode args = c.path("args");
      if (args.isTextual()) args = JSON.readTree(args.asText());
      if (args.isMissingNode() || args.isNull()) args = JSON.createObjectNode();
      return Config.fromArgs(layers, c.path("r").asInt(4),
          ReftIntervention.Kind.parse(c.path("intervention_type").asText("LoreftIntervention")), args, "args");
    } catch (IllegalArgumentException e) {
      throw new IOException(cfgFile + ": " + e.getMessage(), e);
    }
  }

  /**
   * Loads a ReFT folder under {@code name}: every tensor read and checked against this model before any intervention
   * is added; errors name the file and the tensor. A rotation saved as R alone (no Householder record) restarts its
   * parametrization at R.
   */
  public static void load(CausalLM model, String name, Path dir) throws IOException {
    Path cfgFile = dir.resolve(SwiftAdapterFolder.DEFAULT).resolve(SwiftAdapterFolder.CONFIG);
    Config config = readConfig(cfgFile, JSON.readTree(cfgFile.toFile()));
    Path weights = SwiftAdapterFolder.weights(dir);
    if (!Files.exists(weights))
      throw new IOException(weights + " not found (jswift keeps ReFT interventions in safetensors; ms-swift's "
          + "pyvene intkey_*.bin files are not read)");
    int hidden = model.config().hiddenSize(), n = model.config().numHiddenLayers();
    List<Integer> layers;
    try {
      layers = config.layersOf(n);
    } catch (IllegalArgumentException e) {
      throw new IOException(cfgFile + ": " + e.getMessage(), e);
    }
    Map<Integer, ReftIntervention> built = new java.util.LinkedHashMap<>();
    try (SafetensorsFile f = SafetensorsFile.open(weights)) {
      Set<String> expected = new java.util.HashSet<>();
      for (int i : layers) {
        String p = prefix(i);
        ReftIntervention.Kind kind = config.kind();
        Parameter w = null, b, a = null, proj = null, projB = null;
        HouseholderRotation rot = null;
        if (kind.linearSource) {
          w = read(f, p + "learned_source.weight", model, expected, config.rank(), hidden);
          b = read(f, p + "learned_source.bias", model, expected, config.rank());
        } else {
          b = read(f, p + "learned_source", model, expected, config.rank());
        }
        if (kind.orthogonal) {
          expected.add(p + R);
          if (f.contains(p + ReftIntervention.ROTATION) && f.contains(p + BASE) && f.contains(p + SIGNS)) {
            expected.add(p + BASE);
            expected.add(p + SIGNS);
            try {
              rot = HouseholderRotation.restored(floats(f, p + BASE, hidden, config.rank()),
                  floats(f, p + SIGNS, config.rank()), hidden, config.rank());
            } catch (IllegalArgumentException e) {
              throw new IOException(weights + ": " + p + BASE + ": " + e.getMessage(), e);
            }
            a = readF32(f, p + ReftIntervention.ROTATION, model, expected, hidden, config.rank());
          } else {
            try {
              rot = HouseholderRotation.of(floats(f, p + R, hidden, config.rank()), hidden, config.rank());
            } catch (IllegalArgumentException e) {
              throw new IOException(weights + ": " + p + R + ": " + e.getMessage(), e);
            }
            a = BottleneckAdapter.param(p + ReftIntervention.ROTATION, new float[hidden * config.rank()], DType.F32,
                model.device(), hidden, config.rank());
          }
        } else {
          proj = read(f, p + "proj_layer.weight", model, expected, config.rank(), hidden);
          if (config.addBias()) projB = read(f, p + "proj_layer.bias", model, expected, config.rank());
        }
        built.put(i, ReftIntervention.of(kind, hidden, w, b, a, rot, proj, projB, config.activation(),
            config.dropout()));
      }
      for (String key : f.names())
        if (!expected.contains(key))
          throw new IOException(weights + ": '" + key + "' is not a tensor of this " + config.kind().className()
              + " adapter on layers " + layers + " (" + n + "-layer model)");
      for (Map.Entry<Integer, ReftIntervention> e : built.entrySet()) model.setReftIntervention(name, e.getKey(), e.getValue());
      built.clear();
    } catch (IllegalArgumentException e) {
      throw new IOException(weights + ": " + e.getMessage(), e);
    } finally {
      built.values().forEach(ReftIntervention::close);
    }
  }

  /**
   * Resuming: gives each "default" intervention of {@code model} the rotation base and signs saved in checkpoint
   * {@code dir} (the trained tensors themselves are restored by name with the optimizer's state).
   */
  public static void restoreRotations(CausalLM model, String name, Path dir) throws IOException {
    Path weights = SwiftAdapterFolder.weights(dir);
    try (SafetensorsFile f = SafetensorsFile.open(weights)) {
      for (Map.Entry<Integer, ReftIntervention> e : model.reftInterventions(name).entrySet()) {
        ReftIntervention r = e.getValue();
        if (!r.kind().orthogonal) continue;
        String p = prefix(e.getKey());
        if (!f.contains(p + BASE) || !f.contains(p + SIGNS))
          throw new IOException(weights + " has no " + p + BASE + " / " + p + SIGNS + " (not saved by a jswift ReFT run)");
        try {
          r.setRotation(HouseholderRotation.restored(floats(f, p + BASE, r.hidden(), r.rank()),
              floats(f, p + SIGNS, r.rank()), r.hidden(), r.rank()));
        } catch (IllegalArgumentException ex) {
          throw new IOException(weights + ": " + p + BASE + ": " + ex.getMessage(), ex);
        }
      }
    }
  }

  private static float[] floats(SafetensorsFile f, String key, long... shape) throws IOException {
    if (!f.contains(key)) throw new IOException(f.path() + " has no '" + key + "' (each intervention needs it)");
    if (!java.util.Arrays.equals(f.entry(key).shape(), shape))
      throw new IOException(f.path() + ": '" + key + "' is " + java.util.Arrays.toString(f.entry(key).shape())
          + ", the adapter's config needs " + java.util.Arrays.toString(shape));
    return f.floats(key);
  }

  private static Parameter read(SafetensorsFile f, String key, CausalLM model, Set<String> expected, long... shape)
      throws IOException {
    expected.add(key);
    return BottleneckAdapter.param(key, floats(f, key, shape), model.dtype(), model.device(), shape);
  }

  private static Parameter readF32(SafetensorsFile f, String key, CausalLM model, Set<String> expected,
      long... shape) throws IOException {
    expected.add(key);
    return BottleneckAdapter.param(key, floats(f, key, shape), DType.F32, model.device(), shape);
  }
}
