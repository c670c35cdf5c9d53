package jswift.tuner;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import jswift.model.Checkpoint;
import jswift.model.SafetensorsFile;
import jswift.nn.VeraProjections;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Tensor;

/**
 * A PEFT adapter folder (LoRA, VeRA, AdaLoRA, IA3, BOFT, FourierFT, MiSS / Bone) opened for reading tensor by tensor (adapter_config.json +
 * adapter_model.safetensors), with its tensors grouped by the module they adapt and checked against a base
 * checkpoint: every module must
 * exist in the base as a 2-D {@code <module>.weight}, and A [r, in] / B [out, r] must fit that weight and the
 * config's rank (and a DoRA adapter's magnitude [out] that weight's rows); modules_to_save copies must have their
 * base tensor's shape. A mismatch is reported with the tensor, both shapes and the likely cause (an adapter trained on
 * another model), before anything is written.
 */
public final class PeftAdapterFolder implements AutoCloseable {
  /**
   * The A / B tensors of one adapted module, its scale, and its DoRA magnitude's key (null for plain LoRA); for VeRA,
   * A and B are the shared projections and lambdaDKey / lambdaBKey the module's vectors; for AdaLoRA lambdaDKey is
   * its singular values lora_E (else null).
   */
  public record Module(String module, String aKey, String bKey, String magnitudeKey, String lambdaDKey,
      String lambdaBKey, int rank, double scale, boolean ia3Feedforward) {
    /** The base weight the adapter changes. */
    public String weightName() {
      return module + ".weight";
    }

    public boolean isVera() {
      return lambdaBKey != null;
    }

    /** A BOFT module: aKey is its boft_R [N, D, H, H], bKey its boft_s [out, 1]. */
    public boolean isBoft() {
      return aKey != null && aKey.endsWith(".boft_R");
    }

    /** A FourierFT module: aKey is its fourierft_spectrum [n]; rank is 2n, scale s of ΔW = s B diag([c; c]) A. */
    public boolean isFourier() {
      return aKey != null && aKey.endsWith(FOURIER);
    }

    /** A MiSS / Bone module: aKey is its miss_block (bone_block) [r, out]; ΔW = B A with A the tiled identities. */
    public boolean isMiss() {
      return aKey != null && (aKey.endsWith(".miss_block") || aKey.endsWith(".bone_block"));
    }

    /**
     * LoRA on the embedding: aKey its lora_embedding_A [r, vocab], bKey its lora_embedding_B [dim, r]; the weight
     * [vocab, dim] changes by s (B A)^T.
     */
    public boolean isEmbedding() {
      return aKey != null && aKey.endsWith(jswift.nn.EmbeddingLora.A_SUFFIX);
    }

    /** An (IA)^3 module: aKey is its ia3_l, which scales W's columns (feedforward) or its rows and the bias. */
    public boolean isIa3() {
      return aKey != null && aKey.endsWith(".ia3_l");
    }
  }

  private static final String PREFIX = "base_model.model.";
  private static final String A = ".lora_A.weight", B = ".lora_B.weight", MAGNITUDE = ".lora_magnitude_vector",
      LAMBDA_D = ".vera_lambda_d", LAMBDA_B = ".vera_lambda_b", FOURIER = ".fourierft_spectrum";

  private final Path dir;
  private final LoraConfig config;
  private final SafetensorsFile weights;
  private final Map<String, Module> modules;
  private final Map<String, String> savedModules;
  private final Map<String, long[]> baseShapes = new LinkedHashMap<>();  // module -> its base weight's [out, in]

  private PeftAdapterFolder(Path dir, LoraConfig config, SafetensorsFile weights, Map<String, Module> modules,
      Map<String, String> savedModules, Checkpoint base) {
    this.dir = dir;
    this.config = config;
    this.weights = weights;
    this.modules = modules;
    this.savedModules = savedModules;
    for (Module m : modules.values()) baseShapes.put(m.module(), base.file(m.weightName()).entry(m.weightName()).shape());
  }

  /** Opens an adapter folder and checks it against the base checkpoint it will be applied to. */
  public static PeftAdapterFolder open(Path adapterDir, Checkpoint base) throws IOException {
    // A PiSSA / OLoRA checkpoint is applied to the original base through its plain-LoRA conversion.
    Path dir = ResidualInit.forOriginalBase(adapterDir);
    LoraConfig config = LoraConfig.read(dir);
    refuseUnsupported(config, dir.resolve(LoraConfig.FILE));
    Path file = dir.resolve(PeftAdapterWriter.WEIGHTS);
    if (!Files.exists(file))
      throw new IOException(file + " not found (jswift reads safetensors adapters; adapter_model.bin is not"
          + " supported)");
    SafetensorsFile weights = SafetensorsFile.open(file);
    try {
      Map<String, String> saved = savedModules(config, weights, base);
      // keys that are not the tuner's own: modules_to_save copies, and a sequence classifier's score head
      java.util.List<String> notModules = new java.util.ArrayList<>(saved.values());
      String head = jswift.model.ScoreHead.adapterKey(weights);
      if (head != null && "SEQ_CLS".equals(config.fields().path("task_type").asText())) notModules.add(head);
      return new PeftAdapterFolder(dir, config, weights, modules(config, weights, base, notModules), saved, base);
    } catch (IOException | RuntimeException e) {
      weights.close();
      throw e;
    }
  }

  private static void refuseUnsupported(LoraConfig c, Path where) throws IOException {
    if (c.fanInFanOut())
      throw new IOException(where + ": fan_in_fan_out adapters (GPT-2 Conv1D layers) are not supported");
    if (!c.bias().equals("none") || c.loraBias())
      throw new IOException(where + ": adapters with trained biases (bias=" + c.bias() + ", lora_bias=" + c.loraBias()
          + ") are not supported yet");
    try {
      ModulesToSave.modules(c);
    } catch (IllegalArgumentException e) {
      throw new IOException(where + ": " + e.getMessage(), e);
    }
  }

  /**
   * modules_to_save: base tensor name (e.g. {@code lm_head.weight}) -> the adapter's key for it, checked against the
   * base's shape (a tied base has no lm_head.weight: the embedding's shape then).
   */
  private static Map<String, String> savedModules(LoraConfig config, SafetensorsFile weights, Checkpoint base)
      throws IOException {
    Map<String, String> out = new LinkedHashMap<>();
    for (String module : ModulesToSave.modules(config)) {
      String key = PREFIX + module + ".weight", name = module + ".weight";
      if (!weights.contains(key))
        throw new IOException(weights.path() + " has no '" + key + "', but adapter_config.json lists " + module
            + " in modules_to_save");
      String like = base.contains(name) ? name : "model.embed_tokens.weight";
      if (!base.contains(like))
        throw new IOException(weights.path() + ": '" + key + "' replaces " + name + ", which the base lacks");
      long[] want = base.file(like).entry(like).shape(), got = weights.entry(key).shape();
      if (!Arrays.equals(want, got))
        throw new IOException(weights.path() + ": '" + key + "' is " + Arrays.toString(got) + " but the base's " + name
            + " is " + Arrays.toString(want) + " (was the adapter trained on another model?)");
      out.put(name, key);
    }
    return Collections.unmodifiableMap(out);
  }

  private static Map<String, Module> modules(LoraConfig config, SafetensorsFile weights, Checkpoint base,
      java.util.Collection<String> savedKeys) throws IOException {
    if (config.isVera()) return veraModules(config, weights, base, savedKeys);
    if (config.isAdaLora()) return adaLoraModules(config, weights, base, savedKeys);
    if (config.isIa3()) return ia3Modules(weights, base, savedKeys);
    if (config.isBoft()) return boftModules(weights, base, savedKeys);
    if (config.isFourierFt()) return fourierModules(config, weights, base, savedKeys);
    if (config.isMiss()) return missModules(config, weights, base, savedKeys);
    Path file = weights.path();
    Map<String, String[]> keys = new LinkedHashMap<>();
    boolean dora = config.useDora();
    String[] embedding = new String[2];  // LoRA on the embedding: lora_embedding_A / _B
    for (String key : weights.names()) {
      if (savedKeys.contains(key)) continue;
      if (!dora && (key.endsWith(jswift.nn.EmbeddingLora.A_SUFFIX) || key.endsWith(jswift.nn.EmbeddingLora.B_SUFFIX))) {
        embedding[key.endsWith(jswift.nn.EmbeddingLora.A_SUFFIX) ? 0 : 1] = key;
        continue;
      }
      int slot = key.endsWith(A) ? 0 : key.endsWith(B) ? 1 : dora && key.endsWith(MAGNITUDE) ? 2 : -1;
      if (!key.startsWith(PREFIX) || slot < 0)
        throw new IOException(file + ": unexpected tensor '" + key + "' (a " + (dora ? "DoRA" : "LoRA") + " adapter"
            + " holds base_model.model.<module>.lora_A.weight / .lora_B.weight" + (dora ? " / .lora_magnitude_vector"
            : "") + " only" + (key.endsWith(MAGNITUDE) ? "; adapter_config.json does not set use_dora" : "") + ")");
      String module = key.substring(PREFIX.length(), key.length() - (slot == 2 ? MAGNITUDE : A).length());
      keys.computeIfAbsent(module, m -> new String[3])[slot] = key;
    }
    if (keys.isEmpty() && embedding[0] == null && embedding[1] == null)
      throw new IOException(file + " holds no LoRA tensors");
    List<String> problems = new ArrayList<>();
    Map<String, Module> out = new LinkedHashMap<>();
    if (embedding[0] != null || embedding[1] != null) embeddingModule(config, weights, base, embedding, problems, out);
    for (Map.Entry<String, String[]> e : keys.entrySet()) {
      String module = e.getKey(), aKey = e.getValue()[0], bKey = e.getValue()[1], mKey = e.getValue()[2];
      if (aKey == null || bKey == null) {
        problems.add("module " + module + " has " + (aKey == null && bKey == null ? "neither lora_A nor lora_B"
            : "only " + (aKey == null ? "lora_B" : "lora_A")));
        continue;
      }
      if (dora && mKey == null) {
        problems.add("module " + module + " has no lora_magnitude_vector, but adapter_config.json sets use_dora");
        continue;
      }
      String weight = module + ".weight";
      if (!base.contains(weight)) {
        problems.add("'" + aKey + "' adapts " + module + ", but the base has no tensor '" + weight + "'");
        continue;
      }
      long[] w = base.file(weight).entry(weight).shape();
      long[] a = weights.entry(aKey).shape(), b = weights.entry(bKey).shape();
      int rank = config.rankFor(module);
      if (w.length != 2) {
        problems.add(weight + " is " + Arrays.toString(w) + " in the base, not a 2-D linear weight");
        continue;
      }
      long[] wantA = {rank, w[1]}, wantB = {w[0], rank};
      if (!Arrays.equals(a, wantA) || !Arrays.equals(b, wantB)) {
        problems.add(module + ": lora_A " + Arrays.toString(a) + " / lora_B " + Arrays.toString(b) + " do not fit the"
            + " base weight " + Arrays.toString(w) + " with r=" + rank + " (expected " + Arrays.toString(wantA) + " / "
            + Arrays.toString(wantB) + ")");
        continue;
      }
      if (mKey != null && !Arrays.equals(weights.entry(mKey).shape(), new long[] {w[0]})) {
        problems.add(module + ": lora_magnitude_vector " + Arrays.toString(weights.entry(mKey).shape()) + " does not"
            + " fit the base weight " + Arrays.toString(w) + " (expected [" + w[0] + "])");
        continue;
      }
      out.put(module, new Module(module, aKey, bKey, mKey, null, null, rank, config.scaleFor(module), false));
    }
    requireFits(file, base, problems);
    return Collections.unmodifiableMap(out);
  }

  /** LoRA on the embedding ({@code model.embed_tokens}): its A [r, vocab] and B [dim, r], checked against the base. */
  private static void embeddingModule(LoraConfig config, SafetensorsFile weights, Checkpoint base, String[] keys,
      List<String> problems, Map<String, Module> out) throws IOException {
    String module = jswift.model.CausalLM.EMBED_MODULE, weight = module + ".weight";
    for (String k : keys)
      if (k != null && !k.equals(PREFIX + module + (k == keys[0] ? jswift.nn.EmbeddingLora.A_SUFFIX
          : jswift.nn.EmbeddingLora.B_SUFFIX))) {
        problems.add("'" + k + "' puts LoRA on another embedding than " + module);
        return;
      }
    if (keys[0] == null || keys[1] == null) {
      problems.add(module + " has only one of lora_embedding_A / lora_embedding_B");
      return;
    }
    if (!base.contains(weight)) {
      problems.add("the base has no '" + weight + "' for the embedding's LoRA");
      return;
    }
    long[] w = base.file(weight).entry(weight).shape(), a = weights.entry(keys[0]).shape(),
        b = weights.entry(keys[1]).shape();
    int rank = config.rankFor(module);
    long[] wantA = {rank, w[0]}, wantB = {w[1], rank};
    if (!Arrays.equals(a, wantA) || !Arrays.equals(b, wantB)) {
      problems.add(module + ": lora_embedding_A " + Arrays.toString(a) + " / lora_embedding_B " + Arrays.toString(b)
          + " do not fit the base embedding " + Arrays.toString(w) + " with r=" + rank + " (expected "
          + Arrays.toString(wantA) + " / " + Arrays.toString(wantB) + ")");
      return;
    }
    out.put(module, new Module(module, keys[0], keys[1], null, null, null, rank, config.scaleFor(module), false));
  }

  /**
   * A VeRA adapter's modules: the shared projections wide enough for every module (when saved; else redrawn from
   * projection_prng_key as PEFT does, {@link #factors}), and per module lambda_d [r] and lambda_b [out].
   */
  private static Map<String, Module> veraModules(LoraConfig config, SafetensorsFile weights, Checkpoint base,
      java.util.Collection<String> savedKeys) throws IOException {
    Path file = weights.path();
    String aKey = VeraProjections.A_KEY, bKey = VeraProjections.B_KEY;
    int r = config.r();
    long[] pa = {r, Long.MAX_VALUE}, pb = {Long.MAX_VALUE, r};  // save_projection false: redrawn to fit (factors())
    if (weights.contains(aKey) && weights.contains(bKey)) {
      pa = weights.entry(aKey).shape();
      pb = weights.entry(bKey).shape();
    }
    if (pa.length != 2 || pb.length != 2 || pa[0] != r || pb[1] != r)
      throw new IOException(file + ": " + aKey + " " + Arrays.toString(pa) + " / " + bKey + " " + Arrays.toString(pb)
          + " do not fit r=" + r + " (expected [r, in] / [out, r])");
    Map<String, String[]> keys = moduleKeys(weights, key -> savedKeys.contains(key) || key.equals(aKey)
        || key.equals(bKey), "a VeRA adapter holds base_model.vera_A / vera_B and base_model.model.<module>."
        + "vera_lambda_d / .vera_lambda_b only", LAMBDA_D, LAMBDA_B);
    if (keys.isEmpty()) throw new IOException(file + " holds no VeRA vectors");
    List<String> problems = new ArrayList<>();
    Map<String, Module> out = new LinkedHashMap<>();
    for (Map.Entry<String, String[]> e : keys.entrySet()) {
      String module = e.getKey(), dKey = e.getValue()[0], lbKey = e.getValue()[1], weight = module + ".weight";
      if (dKey == null || lbKey == null) {
        problems.add("module " + module + " has only " + (dKey == null ? "vera_lambda_b" : "vera_lambda_d"));
        continue;
      }
      if (!base.contains(weight)) {
        problems.add("'" + dKey + "' adapts " + module + ", but the base has no tensor '" + weight + "'");
        continue;
      }
      long[] w = base.file(weight).entry(weight).shape();
      if (w.length != 2 || w[1] > pa[1] || w[0] > pb[0]) {
        problems.add(module + ": the base weight " + Arrays.toString(w) + " is not a 2-D weight within the projections' "
            + "[" + pb[0] + ", " + pa[1] + "]");
        continue;
      }
      long[] d = weights.entry(dKey).shape(), lb = weights.entry(lbKey).shape();
      if (!Arrays.equals(d, new long[] {r}) || !Arrays.equals(lb, new long[] {w[0]})) {
        problems.add(module + ": vera_lambda_d " + Arrays.toString(d) + " / vera_lambda_b " + Arrays.toString(lb)
            + " do not fit r=" + r + " and the base weight " + Arrays.toString(w) + " (expected [" + r + "] / ["
            + w[0] + "])");
        continue;
      }
      out.put(module, new Module(module, aKey, bKey, null, dKey, lbKey, r, 1, false));
    }
    requireFits(file, base, problems);
    return Collections.unmodifiableMap(out);
  }

  /**
   * An AdaLoRA adapter's modules: per module lora_A [r', in], lora_B [out, r'] and lora_E [r', 1], r' the singular
   * values its rank_pattern kept (init_r before any pruning); modules pruned to r' = 0 change nothing and are left out.
   */
  private static Map<String, Module> adaLoraModules(LoraConfig config, SafetensorsFile weights, Checkpoint base,
      java.util.Collection<String> savedKeys) throws IOException {
    Path file = weights.path();
    Map<String, String[]> keys = moduleKeys(weights, savedKeys::contains, "an AdaLoRA adapter holds "
        + "base_model.model.<module>.lora_A / .lora_B / .lora_E only", ".lora_A", ".lora_B", ".lora_E");
    if (keys.isEmpty()) throw new IOException(file + " holds no AdaLoRA tensors");
    List<String> problems = new ArrayList<>();
    Map<String, Module> out = new LinkedHashMap<>();
    for (Map.Entry<String, String[]> e : keys.entrySet()) {
      String module = e.getKey();
      String[] k = e.getValue();
      if (k[0] == null || k[1] == null || k[2] == null) {
        problems.add("module " + module + " lacks one of lora_A / lora_B / lora_E");
        continue;
      }
      long[] w = baseWeight(base, module, k[0], problems);
      if (w == null) continue;
      int rank = config.rankFor(module);
      long[] a = weights.entry(k[0]).shape(), b = weights.entry(k[1]).shape(), s = weights.entry(k[2]).shape();
      if (!Arrays.equals(a, new long[] {rank, w[1]}) || !Arrays.equals(b, new long[] {w[0], rank})
          || !Arrays.equals(s, new long[] {rank, 1})) {
        problems.add(module + ": lora_A " + Arrays.toString(a) + " / lora_B " + Arrays.toString(b) + " / lora_E "
            + Arrays.toString(s) + " do not fit the base weight " + Arrays.toString(w) + " with the " + rank
            + " singular values adapter_config.json's rank_pattern keeps");
        continue;
      }
      if (rank > 0) out.put(module, new Module(module, k[0], k[1], null, k[2], null, rank, config.scaleFor(module), false));
    }
    requireFits(file, base, problems);
    return Collections.unmodifiableMap(out);
  }

  /** An IA3 adapter's modules: per module ia3_l, [1, in] (feedforward: scales the input) or [out, 1]. */
  private static Map<String, Module> ia3Modules(SafetensorsFile weights, Checkpoint base,
      java.util.Collection<String> savedKeys) throws IOException {
    Path file = weights.path();
    List<String> problems = new ArrayList<>();
    Map<String, Module> out = new LinkedHashMap<>();
    for (String key : weights.names()) {
      if (savedKeys.contains(key)) continue;
      if (!key.startsWith(PREFIX) || !key.endsWith(".ia3_l"))
        throw new IOException(file + ": unexpected tensor '" + key + "' (an IA3 adapter holds base_model.model."
            + "<module>.ia3_l only)");
      String module = key.substring(PREFIX.length(), key.length() - ".ia3_l".length());
      long[] w = baseWeight(base, module, key, problems);
      if (w == null) continue;
      long[] s = weights.entry(key).shape();
      boolean ff = Arrays.equals(s, new long[] {1, w[1]});
      if (!ff && !Arrays.equals(s, new long[] {w[0], 1})) {
        problems.add(module + ": ia3_l " + Arrays.toString(s) + " fits neither the inputs [1, " + w[1] + "] nor the "
            + "outputs [" + w[0] + ", 1] of the base weight " + Arrays.toString(w));
        continue;
      }
      out.put(module, new Module(module, key, null, null, null, null, 0, 1, ff));
    }
    if (out.isEmpty() && problems.isEmpty()) throw new IOException(file + " holds no IA3 vectors");
    requireFits(file, base, problems);
    return Collections.unmodifiableMap(out);
  }

  /**
   * A BOFT adapter's modules: per module boft_R [N, D, H, H] with D H = in (N butterfly factors of D blocks of H)
   * and boft_s [out, 1]; older PEFT versions' saved permutations (boft_P) are skipped, as they follow from the shape.
   */
  private static Map<String, Module> boftModules(SafetensorsFile weights, Checkpoint base,
      java.util.Collection<String> savedKeys) throws IOException {
    Path file = weights.path();
    Map<String, String[]> keys = moduleKeys(weights, key -> savedKeys.contains(key) || key.endsWith(".boft_P"),
        "a BOFT adapter holds base_model.model.<module>.boft_R / .boft_s only", ".boft_R", ".boft_s");
    if (keys.isEmpty()) throw new IOException(file + " holds no BOFT tensors");
    List<String> problems = new ArrayList<>();
    Map<String, Module> out = new LinkedHashMap<>();
    for (Map.Entry<String, String[]> e : keys.entrySet()) {
      String module = e.getKey();
      String[] k = e.getValue();
      if (k[0] == null || k[1] == null) {
        problems.add("module " + module + " has only " + (k[0] == null ? "boft_s" : "boft_R"));
        continue;
      }
      long[] w = baseWeight(base, module, k[0], problems);
      if (w == null) continue;
      long[] r = weights.entry(k[0]).shape(), s = weights.entry(k[1]).shape();
      if (r.length != 4 || r[2] != r[3] || r[1] * r[2] != w[1] || !Arrays.equals(s, new long[] {w[0], 1})) {
        problems.add(module + ": boft_R " + Arrays.toString(r) + " / boft_s " + Arrays.toString(s) + " do not fit the"
            + " base weight " + Arrays.toString(w) + " (expected [factors, blocks, size, size] with blocks x size = "
            + w[1] + ", and [" + w[0] + ", 1])");
        continue;
      }
      out.put(module, new Module(module, k[0], k[1], null, null, null, 0, 1, false));
    }
    requireFits(file, base, problems);
    return Collections.unmodifiableMap(out);
  }

  /** A MiSS (Bone) adapter's modules: per module miss_block (bone_block) [r, out]. */
  private static Map<String, Module> missModules(LoraConfig config, SafetensorsFile weights, Checkpoint base,
      java.util.Collection<String> savedKeys) throws IOException {
    String suffix = config.missBlockSuffix();
    if (!config.fields().path("init_weights").isBoolean())
      throw new IOException(weights.path().resolveSibling(LoraConfig.FILE) + ": MiSS init_weights " + config.fields()
          .get("init_weights") + " (PEFT's \"bat\" / \"mini\" variants) is not supported");
    int r = config.r();
    return oneTensorModules(weights, base, savedKeys, suffix, config.peftType() + " blocks", new OneTensor() {
      @Override
      public String problem(String module, long[] w, long[] stored) {
        return Arrays.equals(stored, new long[] {r, w[0]}) ? null : module + ": " + suffix.substring(1) + " "
            + Arrays.toString(stored) + " does not fit the base weight " + Arrays.toString(w) + " with r=" + r
            + " (expected [" + r + ", " + w[0] + "])";
      }

      @Override
      public Module module(String module, String key, long[] w) {
        return new Module(module, key, null, null, null, null, r, 1, false);
      }
    });
  }

  /**
   * A FourierFT adapter's modules: per module fourierft_spectrum [n], n the config's n_frequency for it (the
   * locations follow from random_loc_seed, {@link #factors}).
   */
  private static Map<String, Module> fourierModules(LoraConfig config, SafetensorsFile weights, Checkpoint base,
      java.util.Collection<String> savedKeys) throws IOException {
    return oneTensorModules(weights, base, savedKeys, FOURIER, "FourierFT coefficients", new OneTensor() {
      @Override
      public String problem(String module, long[] w, long[] stored) {
        int n = config.nFrequencyFor(module, w[0], w[1]);
        return Arrays.equals(stored, new long[] {n}) ? null : module + ": fourierft_spectrum "
            + Arrays.toString(stored) + " does not fit the base weight " + Arrays.toString(w)
            + " with the config's n_frequency " + n;
      }

      @Override
      public Module module(String module, String key, long[] w) {
        return new Module(module, key, null, null, null, null, 2 * config.nFrequencyFor(module, w[0], w[1]),
            jswift.nn.FourierBases.scale(config.ifft2Norm(), config.fourierScaling(), w[0], w[1]), false);
      }
    });
  }

  /** How {@link #oneTensorModules} checks a module's one tensor against its base weight [out, in], and reads it. */
  private interface OneTensor {
    /** What is wrong with the tensor's shape, or null when it fits. */
    String problem(String module, long[] w, long[] stored);

    Module module(String module, String key, long[] w);
  }

  /**
   * The modules of an adapter that holds one tensor per module ({@code base_model.model.<module><suffix>}, naming
   * {@code what} in errors), each checked against its base weight by {@code check}; all mismatches in one error.
   */
  private static Map<String, Module> oneTensorModules(SafetensorsFile weights, Checkpoint base,
      java.util.Collection<String> savedKeys, String suffix, String what, OneTensor check) throws IOException {
    Path file = weights.path();
    Map<String, String[]> keys = moduleKeys(weights, savedKeys::contains, "the adapter holds base_model.model."
        + "<module>" + suffix + " only", suffix);
    if (keys.isEmpty()) throw new IOException(file + " holds no " + what);
    List<String> problems = new ArrayList<>();
    Map<String, Module> out = new LinkedHashMap<>();
    for (Map.Entry<String, String[]> e : keys.entrySet()) {
      String module = e.getKey(), key = e.getValue()[0];
      long[] w = baseWeight(base, module, key, problems);
      if (w == null) continue;
      String problem = check.problem(module, w, weights.entry(key).shape());
      if (problem != null) problems.add(problem);
      else out.put(module, check.module(module, key, w));
    }
    requireFits(file, base, problems);
    return Collections.unmodifiableMap(out);
  }

  /**
   * The adapter's tensors grouped by module: module path -> its key for each suffix (in the suffixes' order; null
   * where the file lacks it), the keys {@code skip} accepts left out; any other key is an error saying
   * {@code holds}.
   */
  private static Map<String, String[]> moduleKeys(SafetensorsFile weights, java.util.function.Predicate<String> skip,
      String holds, String... suffixes) throws IOException {
    Map<String, String[]> keys = new LinkedHashMap<>();
    for (String key : weights.names()) {
      if (skip.test(key)) continue;
      int slot = -1;
      for (int i = 0; i < suffixes.length; i++) if (key.endsWith(suffixes[i])) slot = i;
      if (!key.startsWith(PREFIX) || slot < 0)
        throw new IOException(weights.path() + ": unexpected tensor '" + key + "' (" + holds + ")");
      keys.computeIfAbsent(key.substring(PREFIX.length(), key.length() - suffixes[slot].length()),
          m -> new String[suffixes.length])[slot] = key;
    }
    return keys;
  }

  /** The [out, in] of the base's 2-D weight that adapter tensor {@code key} adapts, or null with the problem added. */
  private static long[] baseWeight(Checkpoint base, String module, String key, List<String> problems) {
    String weight = module + ".weight";
    long[] w = base.contains(weight) ? base.file(weight).entry(weight).shape() : null;
    if (w != null && w.length == 2) return w;
    problems.add("'" + key + "' adapts " + module + ", but the base has no 2-D tensor '" + weight + "'");
    return null;
  }

  /** The modules' mismatches with the base, as one error naming the first ten (an adapter of another model). */
  private static void requireFits(Path file, Checkpoint base, List<String> problems) throws IOException {
    if (problems.isEmpty()) return;
    throw new IOException(file + " does not match the base model " + base.directory() + " (was the adapter trained on"
        + " another model?):\n  " + String.join("\n  ", problems.subList(0, Math.min(10, problems.size())))
        + (problems.size() > 10 ? "\n  ... and " + (problems.size() - 10) + " more" : ""));
  }

  /**
   * A module's low-rank factors in f32 on {@code device}, A [r, in] and B [out, r], with W' = W + scale B A: LoRA's
   * lora_A / lora_B, or for VeRA (scale 1) the projections' slices scaled by the vectors, lambda_d ⊙ A[:, :in] and
   * lambda_b ⊙ B[:out] (PEFT's get_delta_weight); for FourierFT diag([c; c]) A and B of its spectral bases, with
   * the module's scale s. The caller closes both.
   */
  public Tensor[] factors(Module m, long out, long in, Device device) throws IOException {
    if (m.isEmbedding()) {  // W [vocab, dim] += s (B A)^T = s A^T B^T: "A" is B^T [r, dim], "B" is A^T [vocab, r]
      float[] bt = PeftLayout.transpose(weights.floats(m.bKey()), (int) in, m.rank());
      float[] at = PeftLayout.transpose(weights.floats(m.aKey()), m.rank(), (int) out);
      Tensor ta = Tensor.fromFloats(bt, DType.F32, device, m.rank(), in);
      try {
        return new Tensor[] {ta, Tensor.fromFloats(at, DType.F32, device, out, m.rank())};
      } catch (RuntimeException e) {
        ta.close();
        throw e;
      }
    }
    if (m.isMiss()) {  // the tiled identities A [r, in] and B = block^T [out, r]
      float[] b = PeftLayout.transpose(weights.floats(m.aKey()), m.rank(), (int) out);
      Tensor ta = Tensor.fromFloats(jswift.nn.MissTiles.values(m.rank(), in), DType.F32, device, m.rank(), in);
      try {
        return new Tensor[] {ta, Tensor.fromFloats(b, DType.F32, device, out, m.rank())};
      } catch (RuntimeException e) {
        ta.close();
        throw e;
      }
    }
    if (m.isFourier()) {  // diag([c; c]) A and B of the layer's spectral bases (FourierBases)
      float[] c = weights.floats(m.aKey());
      float[][] ab = jswift.nn.FourierBases.factors(out, in, jswift.nn.FourierBases.locations(out, in, c.length,
          config.randomLocSeed()));
      for (int i = 0; i < ab[0].length; i++) ab[0][i] *= c[(int) (i / in) % c.length];
      Tensor ta = Tensor.fromFloats(ab[0], DType.F32, device, 2L * c.length, in);
      try {
        return new Tensor[] {ta, Tensor.fromFloats(ab[1], DType.F32, device, out, 2L * c.length)};
      } catch (RuntimeException e) {
        ta.close();
        throw e;
      }
    }
    if (m.lambdaDKey() != null && !m.isVera()) {  // AdaLoRA: (E ⊙ A) and B
      float[] a = weights.floats(m.aKey()), e = weights.floats(m.lambdaDKey());
      for (int i = 0; i < a.length; i++) a[i] *= e[(int) (i / in)];
      Tensor ta = Tensor.fromFloats(a, DType.F32, device, m.rank(), in);
      try {
        return new Tensor[] {ta, weights.load(m.bKey(), DType.F32, device)};
      } catch (IOException | RuntimeException ex) {
        ta.close();
        throw ex;
      }
    }
    if (!m.isVera()) {
      Tensor a = weights.load(m.aKey(), DType.F32, device);
      try {
        return new Tensor[] {a, weights.load(m.bKey(), DType.F32, device)};
      } catch (IOException | RuntimeException e) {
        a.close();
        throw e;
      }
    }
    int r = m.rank();
    float[][] projections = veraProjections();
    long maxIn = veraMaxIn;
    float[] fullA = projections[0], fullB = projections[1];
    float[] d = weights.floats(m.lambdaDKey()), lb = weights.floats(m.lambdaBKey());
    float[] a = new float[(int) (r * in)], b = new float[(int) (out * r)];
    for (int i = 0; i < r; i++)
      for (int j = 0; j < in; j++) a[(int) (i * in + j)] = d[i] * fullA[(int) (i * maxIn + j)];
    for (int o = 0; o < out; o++)
      for (int k = 0; k < r; k++) b[o * r + k] = lb[o] * fullB[o * r + k];
    Tensor ta = Tensor.fromFloats(a, DType.F32, device, r, in);
    try {
      return new Tensor[] {ta, Tensor.fromFloats(b, DType.F32, device, out, r)};
    } catch (RuntimeException e) {
      ta.close();
      throw e;
    }
  }

  private float[][] veraProjections;  // A and B, read or drawn once for all the modules
  private long veraMaxIn;

  /**
   * A VeRA adapter's shared A and B, read once: the saved pair, or (PEFT's save_projection=False) the pair PEFT
   * redraws from projection_prng_key for the widest shape of the modules it adapts.
   */
  private float[][] veraProjections() throws IOException {
    if (veraProjections != null) return veraProjections;
    String a = VeraProjections.A_KEY, b = VeraProjections.B_KEY;
    if (weights.contains(a) && weights.contains(b)) {
      veraMaxIn = weights.entry(a).shape()[1];
      veraProjections = new float[][] {weights.floats(a), weights.floats(b)};
      return veraProjections;
    }
    long maxIn = 0, maxOut = 0;
    for (Module m : modules.values()) {
      long[] w = baseShapes.get(m.module());
      maxOut = Math.max(maxOut, w[0]);
      maxIn = Math.max(maxIn, w[1]);
    }
    veraMaxIn = maxIn;
    veraProjections = VeraProjections.draw(config.projectionPrngKey(), config.r(), maxIn, maxOut);
    return veraProjections;
  }

  public Path directory() {
    return dir;
  }

  public LoraConfig config() {
    return config;
  }

  /** The adapter's tensors. */
  public SafetensorsFile weights() {
    return weights;
  }

  /** modules_to_save: the base tensor names the adapter replaces whole, each with its key in {@link #weights()}. */
  public Map<String, String> savedModules() {
    return savedModules;
  }

  /** Adapted modules by module path, in file order. */
  public Map<String, Module> modules() {
    return modules;
  }

  @Override
  public void close() throws IOException {
    weights.close();
  }
}
