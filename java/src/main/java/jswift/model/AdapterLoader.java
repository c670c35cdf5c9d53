package jswift.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import jswift.nn.Linear;
import jswift.nn.LoraAdapter;
import jswift.nn.Parameter;
import jswift.nn.VeraProjections;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Tensor;

/**
 * Reads a PEFT adapter folder into a loaded {@link CausalLM} ({@link CausalLM#loadAdapter}): LoRA (rsLoRA, DoRA's
 * magnitudes), VeRA (the shared projections, saved or redrawn from projection_prng_key), AdaLoRA (E folded into A),
 * IA3, BOFT, FourierFT (its bases redrawn from random_loc_seed) and MiSS / Bone, plus the modules_to_save copies; every tensor checked against the layer it adapts, with errors
 * naming the file, the tensor and both shapes, before the adapters are added.
 */
final class AdapterLoader {
  private static final ObjectMapper JSON = new ObjectMapper();

  private final CausalLM model;
  private final Map<String, Linear> linears;
  private final DType dtype;
  private final Device device;

  AdapterLoader(CausalLM model) {
    this.model = model;
    this.linears = model.linears();
    this.dtype = model.dtype();
    this.device = model.device();
  }

  /**
   * Loads a PEFT LoRA or VeRA adapter folder (adapter_config.json + adapter_model.safetensors) under a name; its
   * tensors are frozen until made trainable. rsLoRA is honoured; a DoRA adapter ({@code use_dora}) brings one
   * {@code lora_magnitude_vector} per module, loaded in f32. A VeRA adapter brings the shared projections
   * ({@code base_model.vera_A} / {@code vera_B}, which must have been saved: save_projection) and per module
   * {@code vera_lambda_d} [r] and {@code vera_lambda_b} [out], in f32.
   */
  void load(String name, Path dir) throws IOException {
    Path cfgFile = dir.resolve("adapter_config.json");
    if (!Files.exists(cfgFile)) throw new IOException(cfgFile + " not found: is " + dir + " a PEFT adapter folder?");
    JsonNode c = JSON.readTree(cfgFile.toFile());
    String type = c.path("peft_type").asText("LORA");
    if (!jswift.tuner.LoraConfig.SUPPORTED_TYPES.contains(type))
      throw new IOException(cfgFile + ": peft_type " + type + " is not supported (" + String.join(", ",
          jswift.tuner.LoraConfig.SUPPORTED_TYPES) + " adapters)");
    boolean vera = type.equals("VERA"), ada = type.equals("ADALORA"), ia3 = type.equals("IA3"),
        boft = type.equals("BOFT"), fourier = type.equals("FOURIERFT"), miss = type.equals("MISS")
        || type.equals("BONE");
    boolean dora = c.path("use_dora").asBoolean(false);
    if (c.path("fan_in_fan_out").asBoolean(false))
      throw new IOException(cfgFile + ": fan_in_fan_out adapters (GPT-2 Conv1D layers) do not apply to this model");
    // PiSSA / OLoRA / CorDA / LoRA-GA adapters are relative to a residual base, not to these weights; their
    // plain-LoRA conversion (converted/default) is what fits (jswift.tuner.ResidualInit.forOriginalBase finds it).
    String init = c.path("init_lora_weights").isTextual() ? c.path("init_lora_weights").asText().toLowerCase() : "";
    if (init.startsWith("pissa") || init.startsWith("olora") || init.startsWith("corda") || init.startsWith("lora_ga")
        || init.startsWith("lora-ga"))
      throw new IOException(cfgFile + ": init_lora_weights=" + init + ": this adapter is relative to the residual base"
          + " W - s B0 A0 its initialisation left, not to the original weights; load its converted/default folder"
          + " (the plain-LoRA conversion ms-swift and jswift save beside each checkpoint) instead");
    int r = c.path("r").asInt(vera ? 256 : miss ? 64 : 8);
    double alpha = c.path("lora_alpha").asDouble(8);
    float scale = (float) (c.path("use_rslora").asBoolean(false) ? alpha / Math.sqrt(r) : alpha / r);
    if (ada) {  // PEFT's SVDLinear: lora_alpha / (ranknum + 1e-5), ranknum = init_r through the pruning
      int initR = c.path("init_r").asInt(12);
      scale = (float) ((alpha > 0 ? alpha : initR) / (initR + 1e-5));
    }
    float dropout = (float) c.path(vera ? "vera_dropout" : boft ? "boft_dropout" : "lora_dropout").asDouble(0);
    Path weights = dir.resolve("adapter_model.safetensors");
    if (!Files.exists(weights))
      throw new IOException(weights + " not found (jswift reads safetensors adapters; adapter_model.bin is not supported)");
    // Per module: lora_A, lora_B and (DoRA) lora_magnitude_vector, or VeRA's lambda_d and lambda_b; what no adapter
    // took over is freed at the end.
    String[] suffixes = vera ? new String[] {VERA_D_SUFFIX, VERA_B_SUFFIX}
        : ada ? new String[] {".lora_A", ".lora_B", ".lora_E"} : new String[] {A_SUFFIX, B_SUFFIX, MAGNITUDE_SUFFIX};
    Map<String, Tensor[]> modules = new LinkedHashMap<>();
    Map<String, Tensor> copies = new LinkedHashMap<>();  // modules_to_save: module -> the adapter's weight
    List<String> toSave = new ArrayList<>();
    c.path("modules_to_save").forEach(n -> toSave.add(n.asText()));
    // A reward model's adapter (task_type SEQ_CLS) also holds its score head: ScoreHead.load reads that.
    boolean seqCls = "SEQ_CLS".equals(c.path("task_type").asText());
    if (seqCls) toSave.removeAll(List.of("score", "classifier"));
    VeraProjections projections = null;
    List<Ia3Vector> ia3Vectors = new ArrayList<>();
    Map<String, Tensor[]> boftParts = new LinkedHashMap<>();  // module -> boft_R, boft_s
    Map<Linear, Parameter> spectra = new LinkedHashMap<>();  // FourierFT: layer -> its fourierft_spectrum
    jswift.tuner.LoraConfig fourierConfig = fourier ? jswift.tuner.LoraConfig.parse(c, cfgFile.toString()) : null;
    Map<Linear, Parameter> missBlocks = new LinkedHashMap<>();  // MiSS / Bone: layer -> its block, held transposed
    Tensor[] embeddingParts = new Tensor[2];  // LoRA on the embedding: A^T [vocab, r], B [dim, r]
    if (miss && c.has("init_weights") && !c.get("init_weights").isBoolean())
      throw new IOException(cfgFile + ": MiSS init_weights " + c.get("init_weights") + " (PEFT's \"bat\" / \"mini\" "
          + "variants) is not supported; jswift applies MiSS's default variant");
    try {
      try (SafetensorsFile f = SafetensorsFile.open(weights)) {
        if (vera) projections = veraProjections(f, r, c.path("projection_prng_key").asLong(0), weights);
        for (String key : f.names()) {
          if (seqCls && key.matches("base_model\\.model\\.(score|classifier)\\..*")) continue;
          if (vera && (key.equals(VeraProjections.A_KEY) || key.equals(VeraProjections.B_KEY))) continue;
          if (boft && savedModuleOf(key, toSave) == null) {
            boftPart(f, key, weights, boftParts);
            continue;
          }
          if (ia3 && savedModuleOf(key, toSave) == null) {
            ia3Vectors.add(ia3Vector(f, key, weights));
            continue;
          }
          if (miss && savedModuleOf(key, toSave) == null) {
            missBlock(f, key, weights, r, type.equals("BONE") ? ".bone_block" : ".miss_block", missBlocks);
            continue;
          }
          if (fourier && savedModuleOf(key, toSave) == null) {
            spectrum(f, key, weights, fourierConfig, spectra);
            continue;
          }
          if (key.endsWith(jswift.nn.EmbeddingLora.A_SUFFIX) || key.endsWith(jswift.nn.EmbeddingLora.B_SUFFIX)) {
            if (vera || ada || dora || ia3 || boft || fourier || miss)
              throw new IOException(weights + ": '" + key + "': jswift reads LoRA on the embedding for plain LoRA "
                  + "adapters only");
            embeddingPart(f, key, weights, r, embeddingParts);
            continue;
          }
          String copy = savedModuleOf(key, toSave);
          if (copy != null) {
            long[] shape = model.baseModuleWeight(copy).value().shape(), stored = f.entry(key).shape();
            if (!java.util.Arrays.equals(stored, shape))
              throw new IOException(weights + ": '" + key + "' (modules_to_save) has shape "
                  + java.util.Arrays.toString(stored) + ", but this model's " + copy + " is "
                  + java.util.Arrays.toString(shape));
            copies.put(copy, f.load(key, dtype, device));
            continue;
          }
          String k = key.replace(".lora_A." + name + ".", ".lora_A.").replace(".lora_B." + name + ".", ".lora_B.");
          int slot = -1;
          for (int i = 0; i < suffixes.length; i++) if (k.endsWith(suffixes[i])) slot = i;
          if (slot < 0 || (slot == 2 && !dora && !ada))
            throw new IOException(weights + ": unexpected tensor '" + key + "' for a " + (vera ? "VeRA" : dora ? "DoRA"
                : "LoRA") + " adapter" + (slot == 2 ? " (adapter_config.json does not set use_dora)" : ""));
          String module = k.substring(0, k.length() - suffixes[slot].length()).replaceFirst("^base_model\\.model\\.", "");
          Linear l = linears.get(module);
          if (l == null) throw new IOException(weights + ": '" + key + "' targets '" + module + "', which this model lacks");
          int rm = ada ? adaLoraRank(c, module) : r;  // AdaLoRA: the singular values its rank_pattern kept
          long[] shape = vera ? (slot == 0 ? new long[] {r} : new long[] {l.outFeatures()})
              : ada ? (slot == 0 ? new long[] {rm, l.inFeatures()} : slot == 1 ? new long[] {l.outFeatures(), rm}
                  : new long[] {rm, 1})
              : slot == 0 ? new long[] {r, l.inFeatures()}
              : slot == 1 ? new long[] {l.outFeatures(), r} : new long[] {l.outFeatures()};
          long[] stored = f.entry(key).shape();
          if (!java.util.Arrays.equals(stored, shape))
            throw new IOException(weights + ": '" + key + "' has shape " + java.util.Arrays.toString(stored)
                + ", expected " + java.util.Arrays.toString(shape) + (slot == 2 && !ada ? "" : " (r=" + rm
                + " from adapter_config.json)"));
          Tensor[] m = modules.computeIfAbsent(module, x -> new Tensor[3]);
          m[slot] = f.load(key, vera || ada && slot != 1 || slot == 2 ? DType.F32 : dtype, device);
        }
      }
      if (embeddingParts[0] != null || embeddingParts[1] != null) {
        if (embeddingParts[0] == null || embeddingParts[1] == null)
          throw new IOException(weights + ": " + CausalLM.EMBED_MODULE + " has only one of lora_embedding_A / "
              + "lora_embedding_B");
        String prefix = "base_model.model." + CausalLM.EMBED_MODULE;
        model.setEmbeddingLora(name, new jswift.nn.EmbeddingLora(new Parameter(prefix + jswift.nn.EmbeddingLora.A_SUFFIX,
            embeddingParts[0]), new Parameter(prefix + jswift.nn.EmbeddingLora.B_SUFFIX, embeddingParts[1]), scale));
        embeddingParts[0] = embeddingParts[1] = null;  // owned by the model now
      }
      if (modules.isEmpty() && ia3Vectors.isEmpty() && boftParts.isEmpty() && spectra.isEmpty() && missBlocks.isEmpty()
          && model.embeddingLora(name) == null)
        throw new IOException(weights + " holds no " + (vera ? "VeRA" : ia3 ? "IA3" : boft ? "BOFT"
            : fourier ? "FourierFT" : miss ? "MiSS" : "LoRA") + " tensors");
      if (miss) {
        jswift.nn.MissTiles tiles = new jswift.nn.MissTiles(r, dtype, device);
        model.setSharedAdapterTensors(name, tiles);
        float missDropout = (float) c.path("miss_dropout").asDouble(0);
        for (java.util.Iterator<Map.Entry<Linear, Parameter>> it = missBlocks.entrySet().iterator(); it.hasNext(); ) {
          Map.Entry<Linear, Parameter> e = it.next();
          e.getKey().addAdapter(name, LoraAdapter.miss(tiles.forWidth(e.getKey().inFeatures()), e.getValue(),
              missDropout));
          it.remove();  // owned by the adapter now
        }
      }
      if (fourier) addFourierAdapters(name, spectra, fourierConfig);
      addBoftAdapters(name, boftParts, dropout, weights);
      for (Ia3Vector v : ia3Vectors) v.layer().addAdapter(name, LoraAdapter.ia3(v.vector(), v.feedforward()));
      ia3Vectors.clear();  // owned by the adapters now
      for (Map.Entry<String, Tensor[]> e : modules.entrySet()) {
        Tensor[] p = e.getValue();
        if (p[0] == null || p[1] == null)
          throw new IOException(weights + ": module " + e.getKey() + " has only one of " + (vera
              ? "vera_lambda_d / vera_lambda_b" : "lora_A / lora_B"));
        if (ada && p[2] == null)
          throw new IOException(weights + ": module " + e.getKey() + " has no lora_E (AdaLoRA's singular values)");
        if (dora && p[2] == null)
          throw new IOException(weights + ": module " + e.getKey() + " has no lora_magnitude_vector, but"
              + " adapter_config.json sets use_dora");
      }
      for (Map.Entry<String, Tensor[]> e : modules.entrySet()) {
        Tensor[] p = e.getValue();
        String prefix = "base_model.model." + e.getKey();
        Linear l = linears.get(e.getKey());
        if (ada) {
          // E A as a plain LoRA's A (PEFT's get_delta_weight: B (A * E) s); a module pruned to rank 0 has no adapter
          if (p[0].size(0) > 0)
            l.addAdapter(name, new LoraAdapter(new Parameter(prefix + A_SUFFIX, scaledRows(p[0], p[2])),
                new Parameter(prefix + B_SUFFIX, p[1]), null, scale, dropout));
          else
            p[1].close();
          p[0].close();
          p[2].close();
        } else if (vera) {
          l.addAdapter(name, LoraAdapter.vera(projections.sliceA(l.inFeatures()), projections.sliceB(l.outFeatures()),
              new Parameter(prefix + VERA_D_SUFFIX, p[0]), new Parameter(prefix + VERA_B_SUFFIX, p[1]), dropout));
        } else {
          Parameter magnitude = dora ? new Parameter(prefix + MAGNITUDE_SUFFIX, p[2]) : null;
          l.addAdapter(name, new LoraAdapter(new Parameter(prefix + A_SUFFIX, p[0]), new Parameter(prefix + B_SUFFIX,
              p[1]), magnitude, scale, dropout));
        }
        java.util.Arrays.fill(p, null);  // owned by the adapter now
      }
      if (vera) {
        model.setVeraProjections(name, projections);
        projections = null;
      }
      for (Map.Entry<String, Tensor> e : copies.entrySet()) {
        model.setModuleCopy(name, e.getKey(), new Parameter("base_model.model." + e.getKey() + ".weight", e.getValue()));
        e.setValue(null);
      }
    } finally {
      for (Tensor t : embeddingParts) if (t != null) t.close();
      for (Tensor[] p : modules.values()) for (Tensor t : p) if (t != null) t.close();
      for (Tensor t : copies.values()) if (t != null) t.close();
      if (projections != null) projections.close();
      for (Ia3Vector v : ia3Vectors) v.vector().close();
      for (Tensor[] p : boftParts.values()) for (Tensor t : p) if (t != null) t.close();
      spectra.values().forEach(Parameter::close);
      missBlocks.values().forEach(Parameter::close);
    }
  }

  /**
   * The embedding's LoRA tensors: {@code lora_embedding_A} [r, vocab] into parts[0], held transposed ([vocab, r]);
   * {@code lora_embedding_B} [dim, r] into parts[1].
   */
  private void embeddingPart(SafetensorsFile f, String key, Path weights, int r, Tensor[] parts) throws IOException {
    boolean isA = key.endsWith(jswift.nn.EmbeddingLora.A_SUFFIX);
    String module = key.replaceFirst("^base_model\\.model\\.", "").replace(isA ? jswift.nn.EmbeddingLora.A_SUFFIX
        : jswift.nn.EmbeddingLora.B_SUFFIX, "");
    if (!module.equals(CausalLM.EMBED_MODULE))
      throw new IOException(weights + ": '" + key + "' puts LoRA on " + module + ", which is not this model's embedding ("
          + CausalLM.EMBED_MODULE + ")");
    long[] e = model.baseModuleWeight(CausalLM.EMBED_MODULE).value().shape(), s = f.entry(key).shape();
    long[] want = isA ? new long[] {r, e[0]} : new long[] {e[1], r};
    if (!java.util.Arrays.equals(s, want))
      throw new IOException(weights + ": '" + key + "' has shape " + java.util.Arrays.toString(s) + ", expected "
          + java.util.Arrays.toString(want) + " (r=" + r + " from adapter_config.json, the embedding "
          + java.util.Arrays.toString(e) + ")");
    parts[isA ? 0 : 1] = isA ? Tensor.fromFloats(jswift.tuner.PeftLayout.transpose(f.floats(key), r, (int) e[0]),
        model.dtype(), model.device(), e[0], r) : f.load(key, model.dtype(), model.device());
  }

  /**
   * One module's MiSS block, {@code base_model.model.<module>.miss_block} (Bone: {@code .bone_block}) [r, out],
   * held transposed ([out, r], the B of the LoRA kernels) under PEFT's name in {@code blocks}.
   */
  private void missBlock(SafetensorsFile f, String key, Path weights, int r, String suffix,
      Map<Linear, Parameter> blocks) throws IOException {
    Linear l = layerOf(key, suffix, weights, suffix.contains("bone") ? "a Bone" : "a MiSS");
    String module = l.name();
    long[] s = f.entry(key).shape();
    if (!java.util.Arrays.equals(s, new long[] {r, l.outFeatures()}))
      throw new IOException(weights + ": '" + key + "' has shape " + java.util.Arrays.toString(s) + ", but " + module
          + " needs [" + r + ", " + l.outFeatures() + "] (r=" + r + " from adapter_config.json, one column per output)");
    float[] v = jswift.tuner.PeftLayout.transpose(f.floats(key), r, (int) l.outFeatures());
    blocks.put(l, new Parameter(key, Tensor.fromFloats(v, dtype, device, l.outFeatures(), r)));
  }

  /**
   * One module's FourierFT coefficients, {@code base_model.model.<module>.fourierft_spectrum} [n], n the config's
   * n_frequency for that module (n_frequency_pattern, alpha), loaded in f32 into {@code spectra}.
   */
  private void spectrum(SafetensorsFile f, String key, Path weights, jswift.tuner.LoraConfig config,
      Map<Linear, Parameter> spectra) throws IOException {
    Linear l = layerOf(key, ".fourierft_spectrum", weights, "a FourierFT");
    String module = l.name();
    int n = config.nFrequencyFor(module, l.outFeatures(), l.inFeatures());
    long[] s = f.entry(key).shape();
    if (!java.util.Arrays.equals(s, new long[] {n}))
      throw new IOException(weights + ": '" + key + "' has shape " + java.util.Arrays.toString(s) + ", but "
          + "adapter_config.json gives " + module + " n_frequency " + n);
    float[] v = f.floats(key);
    spectra.put(l, new Parameter(key, Tensor.fromFloats(v, DType.F32, device, v.length)));
  }

  /**
   * Adds the FourierFT adapters of {@link #spectrum}'s coefficients (which they then own) over bases drawn from
   * the config's random_loc_seed, as PEFT draws them; every layer's locations are drawn before the first is added.
   */
  private void addFourierAdapters(String name, Map<Linear, Parameter> spectra, jswift.tuner.LoraConfig config)
      throws IOException {
    jswift.nn.FourierBases bases = new jswift.nn.FourierBases(config.randomLocSeed(), dtype, device);
    Map<Linear, jswift.nn.FourierBases.Pair> pairs = new LinkedHashMap<>();
    try {
      for (Map.Entry<Linear, Parameter> e : spectra.entrySet()) {
        Linear l = e.getKey();
        pairs.put(l, bases.pair(l.outFeatures(), l.inFeatures(), (int) e.getValue().value().numel()));
      }
    } catch (IllegalArgumentException ex) {
      bases.close();
      throw new IOException(name + ": " + ex.getMessage(), ex);
    }
    model.setSharedAdapterTensors(name, bases);
    for (java.util.Iterator<Map.Entry<Linear, Parameter>> it = spectra.entrySet().iterator(); it.hasNext(); ) {
      Map.Entry<Linear, Parameter> e = it.next();
      Linear l = e.getKey();
      float scale = (float) jswift.nn.FourierBases.scale(config.ifft2Norm(), config.fourierScaling(), l.outFeatures(),
          l.inFeatures());
      l.addAdapter(name, LoraAdapter.fourier(e.getValue(), pairs.get(l), scale));
      it.remove();  // owned by the adapter now
    }
  }

  /**
   * One tensor of a BOFT adapter: {@code base_model.model.<module>.boft_R} [N, D, H, H] or {@code .boft_s} [out, 1],
   * loaded in f32 into {@code parts}. Older PEFT versions also saved each module's permutations ({@code .boft_P});
   * they follow from boft_R's shape, so they are skipped.
   */
  private void boftPart(SafetensorsFile f, String key, Path weights, Map<String, Tensor[]> parts) throws IOException {
    if (key.endsWith(".boft_P")) return;
    int slot = key.endsWith(".boft_R") ? 0 : key.endsWith(".boft_s") ? 1 : -1;
    if (!key.startsWith("base_model.model.") || slot < 0)
      throw new IOException(weights + ": unexpected tensor '" + key + "' (a BOFT adapter holds base_model.model."
          + "<module>.boft_R / .boft_s only)");
    String module = key.substring("base_model.model.".length(), key.length() - ".boft_R".length());
    Linear l = linears.get(module);
    if (l == null) throw new IOException(weights + ": '" + key + "' targets '" + module + "', which this model lacks");
    long[] shape = f.entry(key).shape();
    if (slot == 1 && !java.util.Arrays.equals(shape, new long[] {l.outFeatures(), 1}))
      throw new IOException(weights + ": '" + key + "' has shape " + java.util.Arrays.toString(shape) + ", but "
          + module + " needs [" + l.outFeatures() + ", 1] (one scale per output)");
    Tensor[] p = parts.computeIfAbsent(module, m -> new Tensor[2]);
    if (slot == 0) {
      p[0] = f.load(key, DType.F32, device);
    } else {  // kept as a vector [out]
      float[] v = f.floats(key);
      p[1] = Tensor.fromFloats(v, DType.F32, device, v.length);
    }
  }

  /** Adds the BOFT adapters of {@link #boftPart}'s tensors (which they then own), each checked against its layer. */
  private void addBoftAdapters(String name, Map<String, Tensor[]> parts, float dropout, Path weights)
      throws IOException {
    for (Map.Entry<String, Tensor[]> e : parts.entrySet())
      if (e.getValue()[0] == null || e.getValue()[1] == null)
        throw new IOException(weights + ": module " + e.getKey() + " has only one of boft_R / boft_s");
    // Every rotation is built (and so checked) before the first is added: a bad module adds nothing.
    Map<Linear, jswift.nn.BoftRotation> built = new LinkedHashMap<>();
    try {
      for (java.util.Iterator<Map.Entry<String, Tensor[]>> it = parts.entrySet().iterator(); it.hasNext(); ) {
        Map.Entry<String, Tensor[]> e = it.next();
        String prefix = "base_model.model." + e.getKey();
        Linear l = linears.get(e.getKey());
        built.put(l, new jswift.nn.BoftRotation(new Parameter(prefix + ".boft_R", e.getValue()[0]),
            new Parameter(prefix + ".boft_s", e.getValue()[1]), l.inFeatures(), dropout));
        it.remove();  // owned by the rotation now
      }
    } catch (IllegalArgumentException ex) {
      built.values().forEach(jswift.nn.BoftRotation::close);
      throw new IOException(weights + ": " + ex.getMessage(), ex);
    }
    built.forEach((l, rotation) -> l.addAdapter(name, LoraAdapter.boft(rotation)));
  }

  /**
   * One module's (IA)^3 vector, {@code base_model.model.<module>.ia3_l}: [1, in] scales the input (a feedforward
   * module, as PEFT stores those), [out, 1] the output.
   */
  private record Ia3Vector(Linear layer, Parameter vector, boolean feedforward) {}

  private Ia3Vector ia3Vector(SafetensorsFile f, String key, Path weights) throws IOException {
    Linear l = layerOf(key, ".ia3_l", weights, "an IA3");
    String module = l.name();
    long[] s = f.entry(key).shape();
    boolean ff = java.util.Arrays.equals(s, new long[] {1, l.inFeatures()});
    if (!ff && !java.util.Arrays.equals(s, new long[] {l.outFeatures(), 1}))
      throw new IOException(weights + ": '" + key + "' has shape " + java.util.Arrays.toString(s) + ", but " + module
          + " needs [1, " + l.inFeatures() + "] (feedforward) or [" + l.outFeatures() + ", 1]");
    float[] v = f.floats(key);
    return new Ia3Vector(l, new Parameter(key, Tensor.fromFloats(v, DType.F32, device, v.length)), ff);
  }

  /**
   * The layer an adapter tensor {@code base_model.model.<module><suffix>} adapts; any other key, or a module this
   * model lacks, is an error naming the file and the key ({@code kind}: "a FourierFT" adapter...).
   */
  private Linear layerOf(String key, String suffix, Path weights, String kind) throws IOException {
    if (!key.startsWith("base_model.model.") || !key.endsWith(suffix))
      throw new IOException(weights + ": unexpected tensor '" + key + "' (" + kind + " adapter holds base_model.model."
          + "<module>" + suffix + " only)");
    String module = key.substring("base_model.model.".length(), key.length() - suffix.length());
    Linear l = linears.get(module);
    if (l == null) throw new IOException(weights + ": '" + key + "' targets '" + module + "', which this model lacks");
    return l;
  }

  /** AdaLoRA: how many of a module's init_r singular values the config's rank_pattern keeps (init_r if none). */
  private static int adaLoraRank(JsonNode config, String module) {
    JsonNode keep = config.path("rank_pattern").path("base_model.model." + module + ".lora_E");
    if (!keep.isArray()) return config.path("init_r").asInt(12);
    int n = 0;
    for (JsonNode k : keep) if (k.asBoolean()) n++;
    return n;
  }

  /** diag(e) a in the model's dtype, for f32 a [r, in] and e [r, 1]. */
  private Tensor scaledRows(Tensor a, Tensor e) {
    float[] v = a.toFloatArray(), s = e.toFloatArray();
    int in = (int) a.size(1);
    for (int i = 0; i < v.length; i++) v[i] *= s[i / in];
    return Tensor.fromFloats(v, dtype, device, a.size(0), in);
  }

  /**
   * A VeRA adapter file's shared projections: the saved pair, or (PEFT's save_projection=False) torch's draw from
   * projection_prng_key over the widest shape of the layers the file adapts, as PEFT rebuilds them.
   */
  private VeraProjections veraProjections(SafetensorsFile f, int r, long seed, Path where) throws IOException {
    String a = VeraProjections.A_KEY, b = VeraProjections.B_KEY;
    if (!f.contains(a) || !f.contains(b)) {
      long maxIn = 0, maxOut = 0;
      for (String key : f.names()) {
        if (!key.endsWith(VERA_D_SUFFIX)) continue;
        Linear l = linears.get(key.substring(0, key.length() - VERA_D_SUFFIX.length())
            .replaceFirst("^base_model\\.model\\.", ""));
        if (l == null) continue;  // reported with the vectors
        maxIn = Math.max(maxIn, l.inFeatures());
        maxOut = Math.max(maxOut, l.outFeatures());
      }
      if (maxIn == 0) throw new IOException(where + " holds no VeRA vectors of this model's layers");
      return VeraProjections.random(seed, r, maxIn, maxOut, dtype, device);
    }
    long[] sa = f.entry(a).shape(), sb = f.entry(b).shape();
    if (sa.length != 2 || sb.length != 2 || sa[0] != r || sb[1] != r)
      throw new IOException(where + ": " + a + " " + java.util.Arrays.toString(sa) + " / " + b + " "
          + java.util.Arrays.toString(sb) + " do not fit r=" + r + " (expected [r, in] / [out, r])");
    return VeraProjections.of(f.floats(a), f.floats(b), r, sa[1], sb[0], dtype, device);
  }

  private static String savedModuleOf(String key, List<String> modulesToSave) {
    for (String module : new String[] {CausalLM.EMBED_MODULE, CausalLM.LM_HEAD_MODULE}) {
      if (!key.equals("base_model.model." + module + ".weight")) continue;
      for (String n : modulesToSave) if (module.equals(n) || module.endsWith("." + n)) return module;
    }
    return null;
  }

  private static final String A_SUFFIX = ".lora_A.weight", B_SUFFIX = ".lora_B.weight",
      MAGNITUDE_SUFFIX = ".lora_magnitude_vector", VERA_D_SUFFIX = ".vera_lambda_d", VERA_B_SUFFIX = ".vera_lambda_b";
}
