package jswift.tuner;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.DoubleNode;
import com.fasterxml.jackson.databind.node.IntNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Pattern;
import jswift.nn.FourierBases;
import jswift.template.PythonJson;

/**
 * A PEFT {@code LoraConfig} as stored in {@code adapter_config.json}. It keeps the complete field set PEFT 0.21
 * writes (the defaults come from {@code peft-0.21.0-lora-config.json}, which is PEFT 0.21.0's
 * {@code LoraConfig().to_dict()} with {@code inference_mode} true, as {@code save_pretrained} writes it), so a
 * config read from a file and saved again loses nothing, not even fields jswift does not use. The fields jswift
 * honours have typed accessors, with PEFT's rules for per-module ranks and alphas ({@code rank_pattern},
 * {@code alpha_pattern}) and for which modules {@code target_modules} selects.
 *
 * <p>Instances are immutable; the {@code with...} methods return changed copies.
 */
public final class LoraConfig {
  /** The PEFT release whose field set and defaults this writes. */
  public static final String PEFT_VERSION = "0.21.0";
  public static final String FILE = "adapter_config.json";

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final ObjectNode DEFAULTS = loadDefaults("lora");
  private static final ObjectNode VERA_DEFAULTS = loadDefaults("vera");
  private static final ObjectNode ADALORA_DEFAULTS = loadDefaults("adalora");
  private static final ObjectNode IA3_DEFAULTS = loadDefaults("ia3");
  private static final ObjectNode BOFT_DEFAULTS = loadDefaults("boft");
  private static final ObjectNode FOURIERFT_DEFAULTS = loadDefaults("fourierft");
  private static final ObjectNode MISS_DEFAULTS = loadDefaults("miss");

  private final ObjectNode fields;

  private LoraConfig(ObjectNode fields) {
    this.fields = fields;
  }

  private static ObjectNode loadDefaults(String type) {
    try (InputStream in = LoraConfig.class.getResourceAsStream("peft-" + PEFT_VERSION + "-" + type + "-config.json")) {
      if (in == null) throw new IllegalStateException("the PEFT " + type + " config defaults are missing from the jar");
      return (ObjectNode) JSON.readTree(in);
    } catch (IOException e) {
      throw new IllegalStateException("cannot read the PEFT LoraConfig defaults: " + e.getMessage(), e);
    }
  }

  /** PEFT's defaults for a causal LM: r 8, lora_alpha 8, no dropout, no target modules yet. */
  public static LoraConfig defaults() {
    ObjectNode f = DEFAULTS.deepCopy();
    f.put("task_type", "CAUSAL_LM");
    return new LoraConfig(f);
  }

  /**
   * PEFT's VeraConfig defaults for a causal LM (r 256, d_initial 0.1, projection_prng_key 0, save_projection true):
   * VeRA ({@link VeraProjections}) is LoRA with one frozen random pair A, B shared by every layer and two trained
   * vectors per layer, so it shares this class (its scale is 1, its dropout vera_dropout).
   */
  public static LoraConfig veraDefaults() {
    ObjectNode f = VERA_DEFAULTS.deepCopy();
    f.put("task_type", "CAUSAL_LM");
    return new LoraConfig(f);
  }

  /**
   * PEFT's AdaLoraConfig defaults (LoRA's fields plus init_r 12, target_r 8, tinit / tfinal 0, deltaT 1, beta1 /
   * beta2 0.85, orth_reg_weight 0.5): AdaLoRA ({@link AdaLoraAllocator}) is LoRA in SVD form, A, E, B, whose
   * least important singular values are pruned during training down to a budget of target_r per module.
   */
  public static LoraConfig adaLoraDefaults() {
    ObjectNode f = ADALORA_DEFAULTS.deepCopy();
    f.put("task_type", "CAUSAL_LM");
    return new LoraConfig(f);
  }

  /**
   * PEFT's IA3Config defaults: (IA)^3 ({@link Ia3Tuner}) rescales the outputs of the target modules (keys and values)
   * and the inputs of the feedforward_modules among them (the MLP's down projection) by learned vectors, ones at
   * the start.
   */
  public static LoraConfig ia3Defaults() {
    ObjectNode f = IA3_DEFAULTS.deepCopy();
    f.put("task_type", "CAUSAL_LM");
    return new LoraConfig(f);
  }

  /**
   * PEFT's BOFTConfig defaults (boft_block_size 4, boft_block_num 0, boft_n_butterfly_factor 1, boft_dropout 0):
   * BOFT ({@link BoftTuner}) rotates each target's input by a learned orthogonal matrix, a product of butterfly
   * factors of Cayley-parametrized blocks, and scales its outputs by a learned vector.
   */
  public static LoraConfig boftDefaults() {
    ObjectNode f = BOFT_DEFAULTS.deepCopy();
    f.put("task_type", "CAUSAL_LM");
    return new LoraConfig(f);
  }

  /**
   * PEFT's FourierFTConfig defaults (n_frequency 1000, scaling 150, random_loc_seed 777, ifft2_norm backward,
   * init_weights false: the spectrum starts as N(0, 1) draws, as PEFT and ms-swift start it): FourierFT
   * ({@link FourierFtTuner}) trains n coefficients of each target's weight update in the 2-D Fourier domain at
   * fixed random locations. The field set is PEFT's FourierFTConfig as of 0.21 (with {@code alpha} and
   * {@code ifft2_norm}), written from its source rather than dumped by PEFT itself.
   */
  public static LoraConfig fourierFtDefaults() {
    ObjectNode f = FOURIERFT_DEFAULTS.deepCopy();
    f.put("task_type", "CAUSAL_LM");
    return new LoraConfig(f);
  }

  /**
   * PEFT's MissConfig defaults (r 64, miss_dropout 0, init_weights true, mini_r 1): MiSS ({@link MissTuner}, ms-swift's
   * {@code --train_type bone}; PEFT renamed Bone to MiSS) trains one block [r, out] per target, added to the output
   * after the input is summed over its in / r groups of r. The field set is PEFT's MissConfig, written from its
   * source rather than dumped by PEFT itself.
   */
  public static LoraConfig missDefaults() {
    ObjectNode f = MISS_DEFAULTS.deepCopy();
    f.put("task_type", "CAUSAL_LM");
    return new LoraConfig(f);
  }

  /** Reads {@code adapter_config.json} from an adapter folder. */
  public static LoraConfig read(Path adapterDir) throws IOException {
    Path file = adapterDir.resolve(FILE);
    if (!Files.exists(file)) throw new IOException(file + " not found: is " + adapterDir + " a PEFT adapter folder?");
    JsonNode root;
    try {
      root = JSON.readTree(file.toFile());
    } catch (IOException e) {
      throw new IOException(file + " is not valid JSON: " + e.getMessage(), e);
    }
    return parse(root, file.toString());
  }

  /** A config from its JSON; fields the file lacks take PEFT's defaults. {@code where} names it in errors. */
  public static LoraConfig parse(JsonNode root, String where) {
    if (root == null || !root.isObject()) throw new IllegalArgumentException(where + ": expected a JSON object");
    String type = root.path("peft_type").asText("LORA");
    if (!SUPPORTED_TYPES.contains(type))
      throw new IllegalArgumentException(where + ": peft_type " + type + " is not supported (jswift reads "
          + String.join(", ", SUPPORTED_TYPES) + " adapters)");
    ObjectNode f = (type.equals("VERA") ? VERA_DEFAULTS : type.equals("ADALORA") ? ADALORA_DEFAULTS
        : type.equals("IA3") ? IA3_DEFAULTS : type.equals("BOFT") ? BOFT_DEFAULTS
        : type.equals("FOURIERFT") ? FOURIERFT_DEFAULTS : type.equals("MISS") || type.equals("BONE") ? MISS_DEFAULTS
        : DEFAULTS).deepCopy();
    root.fields().forEachRemaining(e -> f.set(e.getKey(), e.getValue()));
    LoraConfig c = new LoraConfig(f);
    if (c.isBoft()) {
      int size = c.boftBlockSize(), num = c.boftBlockNum();
      if ((size != 0) == (num != 0) || size < 0 || num < 0)
        throw new IllegalArgumentException(where + ": set exactly one of boft_block_size (" + size + ") and "
            + "boft_block_num (" + num + "), as PEFT requires: the other follows from the layer's width");
      if (c.boftNButterflyFactor() < 1)
        throw new IllegalArgumentException(where + ": boft_n_butterfly_factor must be a positive integer, got "
            + c.boftNButterflyFactor());
    } else if (c.isFourierFt()) {
      if (c.fields.path("alpha").isNull() && c.fields.path("n_frequency").asInt() <= 0)
        throw new IllegalArgumentException(where + ": n_frequency must be a positive integer, got "
            + c.fields.get("n_frequency"));
      FourierBases.scale(c.ifft2Norm(), 1, 1, 1);  // refuses a norm torch.fft does not know
    } else if (!c.isIa3() && c.r() <= 0)  // IA3 has no rank
      throw new IllegalArgumentException(where + ": r must be positive, got " + f.get("r"));
    return c;
  }

  // ---- the fields jswift honours ----

  /** The adapter types jswift reads and writes. */
  public static final List<String> SUPPORTED_TYPES = List.of("LORA", "VERA", "ADALORA", "IA3", "BOFT", "FOURIERFT",
      "MISS", "BONE");

  /** One of {@link #SUPPORTED_TYPES}. */
  public String peftType() {
    return fields.path("peft_type").asText("LORA");
  }

  /** A VeRA adapter: shared frozen projections, per-layer vectors (vera_lambda_d [r], vera_lambda_b [out]). */
  public boolean isVera() {
    return peftType().equals("VERA");
  }

  /** An (IA)^3 adapter: one learned vector per module, ia3_l. */
  public boolean isIa3() {
    return peftType().equals("IA3");
  }

  /**
   * IA3: whether a module is one of feedforward_modules (its input is rescaled, [1, in]) rather than an
   * output-rescaled one ([out, 1]); PEFT's matching rules, as for target_modules.
   */
  public boolean feedforward(String module) {
    return matches(fields.get("feedforward_modules"), module);
  }

  /** A BOFT adapter: per module boft_R [factors, blocks, size, size] and boft_s [out, 1]. */
  public boolean isBoft() {
    return peftType().equals("BOFT");
  }

  /** BOFT: the size of its orthogonal blocks (0: derived from boft_block_num). */
  public int boftBlockSize() {
    return fields.path("boft_block_size").asInt(4);
  }

  /** BOFT: how many blocks a factor has (0: derived from boft_block_size). */
  public int boftBlockNum() {
    return fields.path("boft_block_num").asInt(0);
  }

  /** BOFT: how many butterfly factors multiply into the rotation (1: one block-diagonal factor, i.e. OFT). */
  public int boftNButterflyFactor() {
    return fields.path("boft_n_butterfly_factor").asInt(1);
  }

  /** A MiSS adapter (or a Bone one, its older name): per module miss_block (bone_block) [r, out]. */
  public boolean isMiss() {
    return peftType().equals("MISS") || peftType().equals("BONE");
  }

  /** MiSS / Bone: the tensor suffix of the blocks, ".miss_block" or (Bone) ".bone_block". */
  public String missBlockSuffix() {
    return peftType().equals("BONE") ? ".bone_block" : ".miss_block";
  }

  /** A FourierFT adapter: per module fourierft_spectrum [n], coefficients at fixed spectral locations. */
  public boolean isFourierFt() {
    return peftType().equals("FOURIERFT");
  }

  /**
   * FourierFT: how many coefficients a module of shape [out, in] trains: n_frequency, or its n_frequency_pattern
   * entry; with {@code alpha} set, int(alpha * in * out) whatever those say (PEFT's update_layer).
   */
  public int nFrequencyFor(String module, long out, long in) {
    JsonNode alpha = fields.get("alpha");
    if (alpha != null && !alpha.isNull() && alpha.asDouble() != 0) return (int) (alpha.asDouble() * in * out);
    JsonNode v = patternValue("n_frequency_pattern", module);
    return v == null ? fields.path("n_frequency").asInt(1000) : v.asInt();
  }

  /** FourierFT: the scaling of ΔW (like lora_alpha), the seed of the spectral locations, and the ifft2 norm. */
  public double fourierScaling() {
    return fields.path("scaling").asDouble(150);
  }

  public long randomLocSeed() {
    return fields.path("random_loc_seed").asLong(777);
  }

  public String ifft2Norm() {
    JsonNode n = fields.get("ifft2_norm");
    return n == null || n.isNull() ? "backward" : n.asText();
  }

  /** An AdaLoRA adapter: lora_A, lora_E (singular values), lora_B, pruned to a rank budget while training. */
  public boolean isAdaLora() {
    return peftType().equals("ADALORA");
  }

  /** AdaLoRA's schedule: init_r, target_r, tinit, tfinal, deltaT, beta1, beta2, orth_reg_weight, total_step. */
  public int initR() {
    return fields.path("init_r").asInt(12);
  }

  public int targetR() {
    return fields.path("target_r").asInt(8);
  }

  public int tinit() {
    return fields.path("tinit").asInt(0);
  }

  public int tfinal() {
    return fields.path("tfinal").asInt(0);
  }

  public int deltaT() {
    return fields.path("deltaT").asInt(1);
  }

  public double beta1() {
    return fields.path("beta1").asDouble(0.85);
  }

  public double beta2() {
    return fields.path("beta2").asDouble(0.85);
  }

  public double orthRegWeight() {
    return fields.path("orth_reg_weight").asDouble(0.5);
  }

  /** total_step, or 0 when unset. */
  public long totalStep() {
    return fields.path("total_step").asLong(0);
  }

  /**
   * AdaLoRA's rank_pattern: for each module path, which of its init_r singular values survived the pruning (the
   * config's keys are {@code base_model.model.<module>.lora_E}); empty before the first pruning.
   */
  public Map<String, boolean[]> adaLoraRankPattern() {
    Map<String, boolean[]> out = new java.util.LinkedHashMap<>();
    JsonNode p = fields.get("rank_pattern");
    if (p == null || !p.isObject()) return out;
    p.fields().forEachRemaining(e -> {
      String key = e.getKey().replaceFirst("^base_model\\.model\\.", "").replaceFirst("\\.lora_E$", "");
      boolean[] keep = new boolean[e.getValue().size()];
      for (int i = 0; i < keep.length; i++) keep[i] = e.getValue().get(i).asBoolean();
      out.put(key, keep);
    });
    return out;
  }

  /** The config with AdaLoRA's rank_pattern (module path -> kept singular values), as PEFT saves it. */
  public LoraConfig withAdaLoraRankPattern(Map<String, boolean[]> pattern) {
    ObjectNode p = JSON.createObjectNode();
    pattern.forEach((module, keep) -> {
      var list = p.putArray("base_model.model." + module + ".lora_E");
      for (boolean k : keep) list.add(k);
    });
    return with("rank_pattern", p);
  }

  /** VeRA: the seed of the shared projections, and whether they are saved beside the vectors. */
  public long projectionPrngKey() {
    return fields.path("projection_prng_key").asLong();
  }

  public boolean saveProjection() {
    return fields.path("save_projection").asBoolean(true);
  }

  /** VeRA: the initial value of every lambda_d. */
  public double dInitial() {
    return fields.path("d_initial").asDouble(0.1);
  }

  public int r() {
    return fields.path("r").asInt();
  }

  public double loraAlpha() {
    return fields.path("lora_alpha").asDouble();
  }

  /**
   * The dropout on the adapter's input: lora_dropout (VeRA: vera_dropout); for BOFT boft_dropout, the share of a
   * factor's blocks replaced by the identity in each training forward.
   */
  public double loraDropout() {
    return fields.path(dropoutField()).asDouble();
  }

  private String dropoutField() {
    return isVera() ? "vera_dropout" : isBoft() ? "boft_dropout" : isMiss() ? "miss_dropout" : "lora_dropout";
  }

  public boolean useRslora() {
    return fields.path("use_rslora").asBoolean();
  }

  public boolean useDora() {
    return fields.path("use_dora").asBoolean();
  }

  public boolean fanInFanOut() {
    return fields.path("fan_in_fan_out").asBoolean();
  }

  /** "none", "all" or "lora_only". */
  public String bias() {
    return fields.path("bias").asText("none");
  }

  public boolean loraBias() {
    return fields.path("lora_bias").asBoolean();
  }

  /** Modules trained in full and saved beside the adapter (null or empty: none). */
  public List<String> modulesToSave() {
    JsonNode m = fields.get("modules_to_save");
    if (m == null || m.isNull()) return List.of();
    List<String> out = new ArrayList<>();
    m.forEach(n -> out.add(n.asText()));
    return out;
  }

  /** The base model the adapter was trained on, as recorded (a path or a hub id; may be null). */
  public String baseModelNameOrPath() {
    JsonNode b = fields.get("base_model_name_or_path");
    return b == null || b.isNull() ? null : b.asText();
  }

  /** target_modules as written: a JSON list of names, a regex string, or null. */
  public JsonNode targetModules() {
    return fields.get("target_modules");
  }

  /** Every field, as it will be written. */
  public JsonNode fields() {
    return fields.deepCopy();
  }

  /**
   * Whether PEFT would put LoRA on a module path ({@code model.layers.0.self_attn.q_proj}): a string
   * target_modules must match the whole path as a regex; a list matches a name equal to the path or ending it
   * after a dot.
   */
  public boolean targets(String module) {
    return matches(targetModules(), module);
  }

  /** PEFT's module matching: a string must match the whole path as a regex; a list entry equals or ends it. */
  private static boolean matches(JsonNode t, String module) {
    if (t == null || t.isNull()) return false;
    if (t.isTextual()) return Pattern.compile(t.asText()).matcher(module).matches();
    for (JsonNode n : t) {
      String name = n.asText();
      if (module.equals(name) || module.endsWith("." + name)) return true;
    }
    return false;
  }

  /**
   * The rank of a module: r, or its rank_pattern entry (AdaLoRA: how many of its singular values the rank_pattern
   * keeps, init_r before any pruning).
   */
  public int rankFor(String module) {
    if (isAdaLora()) {
      boolean[] keep = adaLoraRankPattern().get(module);
      if (keep == null) return initR();
      int n = 0;
      for (boolean k : keep) if (k) n++;
      return n;
    }
    JsonNode v = patternValue("rank_pattern", module);
    return v == null ? r() : v.asInt();
  }

  /** lora_alpha of a module: lora_alpha, or its alpha_pattern entry. */
  public double alphaFor(String module) {
    JsonNode v = patternValue("alpha_pattern", module);
    return v == null ? loraAlpha() : v.asDouble();
  }

  /** The LoRA scale s of y = x W^T + s x A^T B^T: alpha / r, or alpha / sqrt(r) with rsLoRA (PEFT's rule). */
  public double scaleFor(String module) {
    if (isVera() || isIa3() || isBoft() || isMiss()) return 1;  // VeRA's vectors carry the scale; IA3, BOFT: no low rank
    if (isFourierFt())
      throw new IllegalStateException("a FourierFT module's scale depends on its shape: FourierBases.scale");
    // AdaLoRA: scaling / (ranknum + 1e-5), ranknum = init_r (PEFT keeps it through the pruning)
    if (isAdaLora()) return (loraAlpha() > 0 ? loraAlpha() : initR()) / (initR() + 1e-5);
    double alpha = alphaFor(module);
    int rank = rankFor(module);
    return useRslora() ? alpha / Math.sqrt(rank) : alpha / rank;
  }

  /** PEFT's get_pattern_key: the first key K such that the module path matches {@code (.*\.)?(K)$}. */
  private JsonNode patternValue(String field, String module) {
    JsonNode patterns = fields.get(field);
    if (patterns == null || !patterns.isObject()) return null;
    for (Iterator<Map.Entry<String, JsonNode>> it = patterns.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> e = it.next();
      if (Pattern.compile("(.*\\.)?(" + e.getKey() + ")").matcher(module).matches()) return e.getValue();
    }
    return null;
  }

  // ---- changed copies ----

  public LoraConfig withR(int r) {
    if (r <= 0) throw new IllegalArgumentException("r must be positive, got " + r);
    return with("r", IntNode.valueOf(r));
  }

  /** lora_alpha; a whole number is stored as an int, as PEFT users pass it ({@code 16}, not {@code 16.0}). */
  public LoraConfig withLoraAlpha(double alpha) {
    boolean whole = alpha == Math.rint(alpha) && Math.abs(alpha) < Integer.MAX_VALUE;
    return with("lora_alpha", whole ? IntNode.valueOf((int) alpha) : DoubleNode.valueOf(alpha));
  }

  public LoraConfig withLoraDropout(double p) {
    String field = dropoutField();
    if (p < 0 || p >= 1) throw new IllegalArgumentException(field + " must be in [0, 1), got " + p);
    return with(field, DoubleNode.valueOf(p));
  }

  /** A list of module names (PEFT matches them against the ends of module paths). */
  public LoraConfig withTargetModules(List<String> names) {
    var list = JSON.createArrayNode();
    names.forEach(list::add);
    return with("target_modules", list);
  }

  public LoraConfig withRslora(boolean on) {
    return with("use_rslora", JSON.getNodeFactory().booleanNode(on));
  }

  public LoraConfig withDora(boolean on) {
    return with("use_dora", JSON.getNodeFactory().booleanNode(on));
  }

  /** {@code true} (PEFT's kaiming-uniform A, zero B), {@code false}, or a method name such as "gaussian". */
  public LoraConfig withInitLoraWeights(JsonNode value) {
    return with("init_lora_weights", value);
  }

  public LoraConfig withBaseModelNameOrPath(String base) {
    return with("base_model_name_or_path", base == null ? JSON.nullNode() : JSON.getNodeFactory().textNode(base));
  }

  /** Any other field, for settings without a typed method. */
  public LoraConfig with(String field, JsonNode value) {
    ObjectNode f = fields.deepCopy();
    f.set(field, value);
    return new LoraConfig(f);
  }

  /**
   * The file contents as PEFT's {@code save_pretrained} writes them: {@code json.dumps(d, indent=2,
   * sort_keys=True)}, no trailing newline, in inference mode and stamped with the PEFT version whose format
   * this is.
   */
  public String toJson() {
    ObjectNode f = fields.deepCopy();
    f.put("inference_mode", true);
    f.put("peft_version", PEFT_VERSION);
    return PythonJson.dumps(sorted(f), 2, true);
  }

  /** json.dumps(sort_keys=True) sorts every object, nested ones too. */
  static JsonNode sorted(JsonNode n) {
    if (n.isObject()) {
      Map<String, JsonNode> byKey = new TreeMap<>();
      n.fields().forEachRemaining(e -> byKey.put(e.getKey(), sorted(e.getValue())));
      ObjectNode out = JSON.createObjectNode();
      byKey.forEach(out::set);
      return out;
    }
    if (n.isArray()) {
      var out = JSON.createArrayNode();
      n.forEach(item -> out.add(sorted(item)));
      return out;
    }
    return n;
  }

  @Override
  public String toString() {
    if (isMiss()) return (peftType().equals("BONE") ? "BoneConfig(r=" : "MissConfig(r=") + r() + ", init_weights="
        + fields.get("init_weights") + ", target_modules=" + targetModules() + ")";
    if (isFourierFt()) return "FourierFTConfig(n_frequency=" + fields.get("n_frequency") + ", scaling="
        + fourierScaling() + ", target_modules=" + targetModules() + ")";
    if (isBoft()) return "BOFTConfig(boft_block_size=" + boftBlockSize() + ", boft_block_num=" + boftBlockNum()
        + ", boft_n_butterfly_factor=" + boftNButterflyFactor() + ", target_modules=" + targetModules() + ")";
    if (isIa3()) return "IA3Config(target_modules=" + targetModules() + ", feedforward_modules="
        + fields.get("feedforward_modules") + ")";
    if (isAdaLora()) return "AdaLoraConfig(init_r=" + initR() + ", target_r=" + targetR() + ", lora_alpha="
        + fields.get("lora_alpha") + ", target_modules=" + targetModules() + ")";
    if (isVera()) return "VeraConfig(r=" + r() + ", target_modules=" + targetModules() + ", d_initial=" + dInitial() + ")";
    return "LoraConfig(r=" + r() + ", lora_alpha=" + fields.get("lora_alpha") + ", target_modules=" + targetModules()
        + (useRslora() ? ", rslora" : "") + (useDora() ? ", dora" : "") + ")";
  }
}
