package jswift.model;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import jswift.nn.Attention;
import jswift.nn.AttentionLayout;
import jswift.nn.DecoderLayer;
import jswift.nn.Linear;
import jswift.nn.LoraAdapter;
import jswift.nn.Mlp;
import jswift.nn.Parameter;
import jswift.nn.RmsNorm;
import jswift.nn.Rope;
import jswift.nn.SharedAdapterTensors;
import jswift.nn.VeraProjections;
import jswift.tensor.Arena;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.DeviceGraph;
import jswift.tensor.Kernels;
import jswift.tensor.Tensor;

/**
 * A decoder-only language model (llama, mistral, qwen2, qwen3 families) built from a Hugging Face folder:
 * config.json and safetensors weights under their HF names. Runs on the CPU in fp32 or on CUDA in bf16 (fp32
 * accumulation, fp32 master weights for whatever is trained). Gives fp32 logits, the causal-LM loss, and a
 * training step's gradients (forward + backward, optionally recomputing each layer's activations in the
 * backward). PEFT LoRA / rsLoRA / DoRA adapters can be loaded, several at once, and switched. A GPTQ checkpoint
 * ("gptq" v1, {@link GptqCheckpoint}) loads with its linears kept quantized and dequantized per op; so does a
 * bitsandbytes nf4 checkpoint ({@link BnbCheckpoint}), as NF4 weights, and an AutoAWQ GEMM checkpoint
 * ({@link AwqCheckpoint}), as AWQ weights.
 */
public final class CausalLM implements AutoCloseable {
  private final ModelConfig config;
  private final Device device;
  private final DType dtype;
  private final Map<String, Parameter> parameters = new LinkedHashMap<>();
  private final Map<String, Linear> linears = new LinkedHashMap<>();
  private final List<DecoderLayer> layers = new ArrayList<>();
  private final Parameter embed;
  private final Parameter lmHead;
  private final RmsNorm finalNorm;
  private final Rope rope;
  private boolean gradientCheckpointing;
  private double neftuneNoiseAlpha;  // 0: off
  private int shiftedGroupSize;  // LongLoRA's S²-Attn in training steps: its group size; 0: off
  private final Map<String, Map<String, Parameter>> moduleCopies = new LinkedHashMap<>();  // adapter -> module -> copy
  private final Map<String, jswift.nn.EmbeddingLora> embeddingLoras = new LinkedHashMap<>();  // adapter -> its own
  private final Map<String, SharedAdapterTensors> sharedAdapterTensors = new LinkedHashMap<>();  // adapter -> its own
  private String activeAdapter;

  /** Loads a model folder onto a device: fp32 on the CPU, bf16 on CUDA. */
  public static CausalLM load(Path dir, Device device) throws IOException {
    return load(dir, device, device.isCpu() ? DType.F32 : DType.BF16);
  }

  public static CausalLM load(Path dir, Device device, DType dtype) throws IOException {
    return load(dir, device, dtype, Quantization.NONE);
  }

  /**
   * With NF4 quantization (QLoRA: bitsandbytes' nf4, blocks of 64, optional double quantization) every linear
   * layer of the decoder is quantized as soon as its weight is loaded, so peak memory is the 4-bit model plus
   * one dense weight; embeddings, norms and the LM head stay in the compute dtype (as bitsandbytes leaves them).
   */
  public static CausalLM load(Path dir, Device device, DType dtype, Quantization quantization) throws IOException {
    if (!dtype.isFloatingPoint()) throw new IllegalArgumentException("compute dtype must be a float type, got " + dtype);
    ModelConfig cfg = ModelConfig.load(dir);
    try (Checkpoint ckpt = Checkpoint.open(dir)) {
      return new CausalLM(cfg, ckpt, device, dtype, quantization);
    }
  }

  /**
   * A model of {@code cfg} whose weights come from {@code weights} (e.g. {@link RandomInit#source}: the shapes of a
   * model nobody can download where a benchmark runs), quantized as {@link #load(Path, Device, DType, Quantization)}
   * does.
   */
  public static CausalLM create(ModelConfig cfg, WeightSource weights, Device device, DType dtype,
      Quantization quantization) throws IOException {
    if (!dtype.isFloatingPoint()) throw new IllegalArgumentException("compute dtype must be a float type, got " + dtype);
    return new CausalLM(cfg, weights, device, dtype, quantization);
  }

  /** How linear weights are stored: dense, or NF4 (with or without double quantization of the absmax). */
  public enum Quantization {
    NONE, NF4, NF4_DOUBLE_QUANT
  }

  private final Quantization quantization;
  private final GptqCheckpoint gptq;  // the settings of a GPTQ checkpoint, else null
  private final BnbCheckpoint bnb;  // the settings of a bitsandbytes nf4 checkpoint, else null
  private final AwqCheckpoint awq;  // the settings of an AutoAWQ GEMM checkpoint, else null
  private final Fp8Checkpoint fp8;  // the settings of a block-wise FP8 checkpoint (dequantized at load), else null
  private Tensor code256;  // the dynamic map shared by double-quantized weights

  private CausalLM(ModelConfig cfg, WeightSource ckpt, Device device, DType dtype, Quantization quantization)
      throws IOException {
    this.config = cfg;
    this.device = device;
    this.dtype = dtype;
    this.gptq = ckpt instanceof Checkpoint files ? GptqCheckpoint.detect(files.directory()) : null;
    this.bnb = ckpt instanceof Checkpoint files ? BnbCheckpoint.detect(files.directory()) : null;
    this.awq = ckpt instanceof Checkpoint files ? AwqCheckpoint.detect(files.directory()) : null;
    this.fp8 = ckpt instanceof Checkpoint files ? Fp8Checkpoint.detect(files.directory()) : null;
    if (ckpt instanceof Checkpoint files && gptq == null && bnb == null && awq == null && fp8 == null)
      refuseUnknownQuantization(files.directory());
    if (bnb != null) {
      // A bitsandbytes nf4 checkpoint is already NF4: it loads as stored; asking for the other NF4 flavour is an error.
      Quantization stored = bnb.doubleQuant() ? Quantization.NF4_DOUBLE_QUANT : Quantization.NF4;
      if (quantization != Quantization.NONE && quantization != stored)
        throw new IllegalArgumentException(((Checkpoint) ckpt).directory() + " is a bitsandbytes nf4 checkpoint "
            + (bnb.doubleQuant() ? "with" : "without") + " double quantization: it loads quantized as saved; drop "
            + "the quantization options (or match bnb_4bit_use_double_quant)");
      quantization = stored;
    }
    this.quantization = quantization;
    if (gptq != null && quantization != Quantization.NONE)
      throw new IllegalArgumentException(((Checkpoint) ckpt).directory() + " is a GPTQ checkpoint (" + gptq.bits() + "-bit): it "
          + "loads quantized as it is; drop the NF4 quantization (--quant_bits / --quant_method bnb)");
    if (awq != null && quantization != Quantization.NONE)
      throw new IllegalArgumentException(((Checkpoint) ckpt).directory() + " is an AWQ checkpoint (4-bit, group_size "
          + awq.groupSize() + "): it loads quantized as it is; drop the NF4 quantization (--quant_bits / "
          + "--quant_method bnb)");
    boolean ok = false;
    try {
      int h = cfg.hiddenSize(), inter = cfg.intermediateSize(), hd = cfg.headDim();
      long qOut = (long) cfg.numAttentionHeads() * hd, kvOut = (long) cfg.numKeyValueHeads() * hd;
      embed = param(ckpt, "model.embed_tokens.weight", cfg.vocabSize(), h);
      for (int i = 0; i < cfg.numHiddenLayers(); i++) {
        String p = "model.layers." + i + ".";
        RmsNorm in = new RmsNorm(param(ckpt, p + "input_layernorm.weight", h), cfg.rmsNormEps());
        RmsNorm post = new RmsNorm(param(ckpt, p + "post_attention_layernorm.weight", h), cfg.rmsNormEps());
        boolean qkvBias = cfg.qkvBias();
        Linear q = linear(ckpt, p + "self_attn.q_proj", qOut, h, qkvBias);
        Linear k = linear(ckpt, p + "self_attn.k_proj", kvOut, h, qkvBias);
        Linear v = linear(ckpt, p + "self_attn.v_proj", kvOut, h, qkvBias);
        Linear o = linear(ckpt, p + "self_attn.o_proj", h, qOut, cfg.attentionBias());
        RmsNorm qn = null, kn = null;
        if (cfg.architecture().qkNorm()) {
          qn = new RmsNorm(param(ckpt, p + "self_attn.q_norm.weight", hd), cfg.rmsNormEps());
          kn = new RmsNorm(param(ckpt, p + "self_attn.k_norm.weight", hd), cfg.rmsNormEps());
        }
        Attention attn = new Attention(q, k, v, o, qn, kn, cfg.numAttentionHeads(), cfg.numKeyValueHeads(), hd,
            cfg.slidingWindow(i));
        Mlp mlp = new Mlp(linear(ckpt, p + "mlp.gate_proj", inter, h, cfg.mlpBias()),
            linear(ckpt, p + "mlp.up_proj", inter, h, cfg.mlpBias()),
            linear(ckpt, p + "mlp.down_proj", h, inter, cfg.mlpBias()));
        layers.add(new DecoderLayer(i, in, attn, post, mlp));
      }
      finalNorm = new RmsNorm(param(ckpt, "model.norm.weight", h), cfg.rmsNormEps());
      if (cfg.tieWordEmbeddings() || !ckpt.contains("lm_head.weight")) {
        if (!cfg.tieWordEmbeddings())
          throw new IOException("the checkpoint has no lm_head.weight and config.json does not tie word embeddings");
        lmHead = embed;
      } else {
        lmHead = param(ckpt, "lm_head.weight", cfg.vocabSize(), h);
      }
      rope = new Rope(cfg, device);
      ok = true;
    } finally {
      if (!ok) close();
    }
  }

  /** A quantization_config none of the readers claimed (hqq, eetq, quanto, torchao...) is an error, not dense weights. */
  private static void refuseUnknownQuantization(Path dir) throws IOException {
    Path cfg = dir.resolve("config.json");
    var q = new com.fasterxml.jackson.databind.ObjectMapper().readTree(cfg.toFile()).get("quantization_config");
    if (q != null && !q.isNull())
      throw new IOException(cfg + ": quantization_config with quant_method '" + q.path("quant_method").asText("?")
          + "' is not supported; jswift loads gptq, awq, bitsandbytes (nf4) and fp8 (FineGrainedFP8 or "
          + "compressed-tensors float-quantized) checkpoints, or the original model");
  }

  private Parameter param(WeightSource ckpt, String name, long... shape) throws IOException {
    Parameter p = new Parameter(name, ckpt.load(name, shape, dtype, device));
    parameters.put(name, p);
    return p;
  }

  private Linear linear(WeightSource ckpt, String module, long out, long in, boolean bias) throws IOException {
    if (ckpt instanceof Checkpoint files) {
      jswift.nn.QuantizedWeight q = null;
      if (gptq != null && gptq.isQuantized(files, module)) {
        q = gptq.load(files, module, out, in, dtype, device);
      } else if (awq != null && awq.isQuantized(files, module)) {
        q = awq.load(files, module, out, in, dtype, device);
      } else if (bnb != null && bnb.isQuantized(files, module)) {
        if (files.contains(module + ".weight.nested_absmax") && code256 == null)
          code256 = jswift.nn.Nf4Weight.dynamicMap(device);
        q = bnb.load(files, module, out, in, dtype, device, code256);
      }
      if (q != null) {
        Linear l;
        try {
          l = new Linear(module, q, bias ? param(ckpt, module + ".bias", out) : null);
        } catch (IOException | RuntimeException e) {
          q.close();
          throw e;
        }
        linears.put(module, l);
        return l;
      }
    }
    Parameter w;
    if (fp8 != null && ckpt instanceof Checkpoint files && fp8.isQuantized(files, module)) {
      w = new Parameter(module + ".weight", fp8.load(files, module, out, in, dtype, device));
      parameters.put(w.name(), w);
    } else {
      w = param(ckpt, module + ".weight", out, in);
    }
    Parameter b = bias ? param(ckpt, module + ".bias", out) : null;
    Linear l = new Linear(module, w, b);
    linears.put(module, l);
    if (quantization != Quantization.NONE) {
      boolean dq = quantization == Quantization.NF4_DOUBLE_QUANT;
      if (dq && code256 == null) code256 = jswift.nn.Nf4Weight.dynamicMap(device);
      Parameter dense = l.quantizeNf4(dq, code256);
      parameters.remove(dense.name());
      dense.close();
    }
    return l;
  }

  public ModelConfig config() {
    return config;
  }

  public Device device() {
    return device;
  }

  public DType dtype() {
    return dtype;
  }

  public Quantization quantization() {
    return quantization;
  }

  /** The GPTQ settings when the model was loaded from a GPTQ checkpoint, else null. */
  public GptqCheckpoint gptq() {
    return gptq;
  }

  /** The FP8 settings when the model was loaded (dequantized) from a block-wise FP8 checkpoint, else null. */
  public Fp8Checkpoint fp8() {
    return fp8;
  }

  /** The AWQ settings when the model was loaded from an AutoAWQ GEMM checkpoint, else null. */
  public AwqCheckpoint awq() {
    return awq;
  }

  /** Bytes of the model's weights on its device (NF4 layers at their packed size). */
  public long weightBytes() {
    long b = 0;
    for (Parameter p : parameters.values()) {
      b += p.value().byteSize();
      if (p.isInt8()) b += p.int8Scales().byteSize() + p.int8Zeros().byteSize();   // Q-GaLore's group statistics
    }
    for (Linear l : linears.values()) if (l.quantizedWeight() != null) b += l.quantizedWeight().bytes();
    return b;
  }

  /** Every base weight by its Hugging Face name. */
  public Map<String, Parameter> parameters() {
    return Collections.unmodifiableMap(parameters);
  }

  /** The linear layers by module path ("model.layers.0.self_attn.q_proj"). */
  public Map<String, Linear> linears() {
    return Collections.unmodifiableMap(linears);
  }

  /**
   * NEFTune (transformers' {@code neftune_noise_alpha}, ms-swift's {@code --neftune_noise_alpha}): training forwards
   * add noise uniform on ±alpha / sqrt(L d) to the input embeddings, L the batch's sequence length (its longest
   * sequence: the padded length transformers sees) and d the hidden size; evaluation and generation see none.
   * 0 turns it off. The noise is a function of the forward's seed and the device's dropout step, so a resumed
   * or graph-replayed step draws the same.
   */
  public void setNeftuneNoiseAlpha(double alpha) {
    if (!(alpha >= 0) || Double.isInfinite(alpha))
      throw new IllegalArgumentException("neftune_noise_alpha must be >= 0 (5 to 15 in the NEFTune paper), got " + alpha);
    neftuneNoiseAlpha = alpha;
  }

  /**
   * LongLoRA's shifted sparse attention ({@link jswift.nn.ShiftedGroups}) in every training forward from now on,
   * with groups of {@code groupSize} tokens (0 turns it off); evaluation and inference keep full attention. Each
   * half of the query heads takes half of the key / value heads, so both counts must be even.
   */
  public void setShiftedSparseAttention(int groupSize) {
    if (groupSize < 0) throw new IllegalArgumentException("S2-Attn group size must be >= 0, got " + groupSize);
    int heads = config.numAttentionHeads(), kvHeads = config.numKeyValueHeads();
    if (groupSize > 0 && (heads % 2 != 0 || kvHeads % 2 != 0))
      throw new IllegalArgumentException("--train_type longlora splits the attention heads in two halves (shifted "
          + "sparse attention), each with half of the key / value heads; this model has " + heads + " attention and "
          + kvHeads + " key / value heads: train it with --train_type lora");
    shiftedGroupSize = groupSize;
  }

  private static final long NEFTUNE_SEED_SALT = 0x4E454654554E45L;  // "NEFTUNE": not the layers' dropout masks

  private void addNeftuneNoise(Tensor embeddings, long seqLen, long seed) {
    double magnitude = neftuneNoiseAlpha / Math.sqrt((double) seqLen * config.hiddenSize());
    Kernels.addUniformNoise(embeddings, (float) magnitude, seed ^ NEFTUNE_SEED_SALT);
  }

  /** With recomputation each layer keeps only its input during the forward and rebuilds the rest in backward. */
  public void setGradientCheckpointing(boolean on) {
    gradientCheckpointing = on;
  }

  // ---- adapters ----

  /**
   * Loads a PEFT adapter folder (adapter_config.json + adapter_model.safetensors: LoRA and its variants, VeRA,
   * AdaLoRA, IA3, BOFT, FourierFT) under a name, every module checked against this model ({@link AdapterLoader}),
   * or an ms-swift ADAPTER checkpoint (bottleneck adapters, {@link jswift.tuner.SwiftAdapterFolder}); its tensors
   * are frozen until made trainable.
   */
  public void loadAdapter(String name, Path dir) throws IOException {
    if (jswift.tuner.SwiftAdapterFolder.isSwiftTuner(dir)) jswift.tuner.SwiftAdapterFolder.load(this, name, dir);
    else new AdapterLoader(this).load(name, dir);
  }

  /**
   * Gives adapter {@code adapterName} the frozen tensors its layers share (VeRA's projections, FourierFT's bases);
   * the model owns and frees them, and those given before are freed.
   */
  public void setSharedAdapterTensors(String adapterName, SharedAdapterTensors shared) {
    SharedAdapterTensors old = sharedAdapterTensors.put(adapterName, shared);
    if (old != null && old != shared) old.close();
  }

  /** An adapter's shared tensors of the given kind, or null when it has none of that kind. */
  public <T extends SharedAdapterTensors> T sharedAdapterTensors(String adapterName, Class<T> kind) {
    SharedAdapterTensors s = sharedAdapterTensors.get(adapterName);
    return kind.isInstance(s) ? kind.cast(s) : null;
  }

  /** Gives adapter {@code adapterName} its VeRA projections (the model owns and frees them). */
  public void setVeraProjections(String adapterName, VeraProjections projections) {
    setSharedAdapterTensors(adapterName, projections);
  }

  /** An adapter's VeRA projections, or null for a LoRA adapter. */
  public VeraProjections veraProjections(String adapterName) {
    return sharedAdapterTensors(adapterName, VeraProjections.class);
  }

  // ---- modules_to_save: whole modules an adapter trains and carries (PEFT's ModulesToSaveWrapper) ----

  /** The modules whose weight an adapter may replace by its own copy (modules_to_save). */
  public static final String EMBED_MODULE = "model.embed_tokens", LM_HEAD_MODULE = "lm_head";

  /**
   * Gives adapter {@code adapterName} its own copy of a module's weight (the embedding or the LM head), used instead
   * of the base weight while that adapter is active; the model owns and frees it. With tied embeddings each copy
   * replaces only its own module (the other keeps the shared base weight), as PEFT's copies untie them.
   */
  public void setModuleCopy(String adapterName, String module, Parameter weight) {
    Parameter base = baseModuleWeight(module);
    if (!java.util.Arrays.equals(weight.value().shape(), base.value().shape()) || weight.value().dtype() != dtype
        || !weight.value().device().equals(device))
      throw new IllegalArgumentException(weight.name() + ": a copy of " + module + " must be " + dtype.torchName()
          + java.util.Arrays.toString(base.value().shape()) + " on " + device + ", got " + weight.value());
    Parameter old = moduleCopies.computeIfAbsent(adapterName, k -> new LinkedHashMap<>()).put(module, weight);
    if (old != null && old != weight) old.close();
  }

  /**
   * Gives adapter {@code adapterName} LoRA on the input embedding (PEFT's lora.Embedding), used while that adapter is
   * active; the model owns and frees it.
   */
  public void setEmbeddingLora(String adapterName, jswift.nn.EmbeddingLora lora) {
    long[] a = lora.aTransposed().value().shape(), b = lora.b().value().shape(), e = embed.value().shape();
    if (a[0] != e[0] || b[0] != e[1])
      throw new IllegalArgumentException("embedding LoRA: A^T " + java.util.Arrays.toString(a) + " / B "
          + java.util.Arrays.toString(b) + " do not fit " + EMBED_MODULE + " " + java.util.Arrays.toString(e));
    jswift.nn.EmbeddingLora old = embeddingLoras.put(adapterName, lora);
    if (old != null && old != lora) old.close();
  }

  /** Adapter {@code adapterName}'s embedding LoRA, or null when it has none. */
  public jswift.nn.EmbeddingLora embeddingLora(String adapterName) {
    return embeddingLoras.get(adapterName);
  }

  private jswift.nn.EmbeddingLora activeEmbeddingLora() {
    return activeAdapter == null ? null : embeddingLoras.get(activeAdapter);
  }

  /** The base weight of a module that modules_to_save can name. */
  public Parameter baseModuleWeight(String module) {
    if (module.equals(EMBED_MODULE)) return embed;
    if (module.equals(LM_HEAD_MODULE)) return lmHead;
    throw new IllegalArgumentException("modules_to_save: '" + module + "' is not supported (jswift trains "
        + EMBED_MODULE + " and " + LM_HEAD_MODULE + " in full beside an adapter)");
  }

  /** An adapter's module copies by module path (empty if none). */
  public Map<String, Parameter> moduleCopies(String adapterName) {
    return Collections.unmodifiableMap(moduleCopies.getOrDefault(adapterName, Map.of()));
  }

  private Parameter embedding() {
    Parameter p = activeCopy(EMBED_MODULE);
    return p != null ? p : embed;
  }

  /** The LM head's weight [vocab, hidden] in use (the active adapter's copy, else the base's; tied: the embedding). */
  public Parameter lmHeadWeight() {
    return lmHead();
  }

  private Parameter lmHead() {
    Parameter p = activeCopy(LM_HEAD_MODULE);
    return p != null ? p : lmHead;
  }

  private Parameter activeCopy(String module) {
    Map<String, Parameter> m = activeAdapter == null ? null : moduleCopies.get(activeAdapter);
    return m == null ? null : m.get(module);
  }

  /** Activates an adapter on every layer that has it (others run their base weights); null = none. */
  public void setActiveAdapter(String name) {
    boolean found = name == null || moduleCopies.containsKey(name) || embeddingLoras.containsKey(name);
    activeAdapter = name;
    for (Linear l : linears.values()) {
      if (name != null && l.adapters().containsKey(name)) {
        l.setActiveAdapter(name);
        found = true;
      } else {
        l.setActiveAdapter(null);
      }
    }
    for (DecoderLayer layer : layers) {
      layer.mlp().setActiveAdapter(name);
      layer.setActiveIntervention(name);
      if (layer.mlp().activeAdapter() != null || layer.activeIntervention() != null) found = true;
    }
    if (!found) throw new IllegalArgumentException("no adapter named '" + name + "' is loaded");
  }

  /**
   * Gives adapter {@code adapterName} a bottleneck adapter after layer {@code layer}'s MLP (ms-swift's --train_type
   * adapter), used while that adapter is active; the model owns and frees it.
   */
  public void setBottleneckAdapter(String adapterName, int layer, jswift.nn.BottleneckAdapter adapter) {
    if (layer < 0 || layer >= layers.size())
      throw new IllegalArgumentException("bottleneck adapter: no layer " + layer + " (the model has " + layers.size()
          + ")");
    long hidden = config.hiddenSize();
    if (adapter.parameters().get(0).value().size(1) != hidden)
      throw new IllegalArgumentException(adapter.parameters().get(0).name() + " is "
          + java.util.Arrays.toString(adapter.parameters().get(0).value().shape()) + ": this model's hidden size is "
          + hidden);
    for (Parameter p : adapter.parameters())
      if (p.value().dtype() != dtype || !p.value().device().equals(device))
        throw new IllegalArgumentException(p.name() + " must be " + dtype.torchName() + " on " + device + ", got "
            + p.value());
    layers.get(layer).mlp().setAdapter(adapterName, adapter);
  }

  /** Adapter {@code adapterName}'s bottleneck adapters by layer index (empty when it has none). */
  public Map<Integer, jswift.nn.BottleneckAdapter> bottleneckAdapters(String adapterName) {
    Map<Integer, jswift.nn.BottleneckAdapter> out = new LinkedHashMap<>();
    for (int i = 0; i < layers.size(); i++) {
      jswift.nn.BottleneckAdapter b = layers.get(i).mlp().adapters().get(adapterName);
      if (b != null) out.put(i, b);
    }
    return out;
  }

  /**
   * Gives adapter {@code adapterName} a ReFT intervention on layer {@code layer}'s output (ms-swift's --train_type
   * reft), used while that adapter is active; the model owns and frees it.
   */
  public void setReftIntervention(String adapterName, int layer, jswift.nn.ReftIntervention intervention) {
    if (layer < 0 || layer >= layers.size())
      throw new IllegalArgumentException("ReFT: no layer " + layer + " (the model has " + layers.size() + ", 0.."
          + (layers.size() - 1) + ")");
    if (intervention.hidden() != config.hiddenSize())
      throw new IllegalArgumentException("ReFT intervention on layer " + layer + " is " + intervention.hidden()
          + " wide: this model's hidden size is " + config.hiddenSize());
    for (Parameter p : intervention.parameters())
      if (!p.value().device().equals(device))
        throw new IllegalArgumentException(p.name() + " must be on " + device + ", got " + p.value());
    layers.get(layer).setIntervention(adapterName, intervention);
  }

  /** Adapter {@code adapterName}'s ReFT interventions by layer index (empty when it has none). */
  public Map<Integer, jswift.nn.ReftIntervention> reftInterventions(String adapterName) {
    Map<Integer, jswift.nn.ReftIntervention> out = new LinkedHashMap<>();
    for (int i = 0; i < layers.size(); i++) {
      jswift.nn.ReftIntervention r = layers.get(i).interventions().get(adapterName);
      if (r != null) out.put(i, r);
    }
    return out;
  }

  /** The parameters of the active adapter of every layer (A / B, DoRA's magnitude, VeRA's vectors), by PEFT name. */
  public Map<String, Parameter> activeAdapterParameters() {
    Map<String, Parameter> out = new LinkedHashMap<>();
    for (Linear l : linears.values()) {
      LoraAdapter a = l.activeAdapter();
      if (a != null) for (Parameter p : a.ownParameters()) out.put(p.name(), p);
    }
    for (Parameter p : moduleCopies.getOrDefault(activeAdapter, Map.of()).values()) out.put(p.name(), p);
    jswift.nn.EmbeddingLora e = activeEmbeddingLora();
    if (e != null) for (Parameter p : List.of(e.aTransposed(), e.b())) out.put(p.name(), p);
    for (DecoderLayer layer : layers) {
      jswift.nn.BottleneckAdapter b = layer.mlp().activeAdapter();
      if (b != null) for (Parameter p : b.parameters()) out.put(p.name(), p);
      jswift.nn.ReftIntervention r = layer.activeIntervention();
      if (r != null) for (Parameter p : r.parameters()) out.put(p.name(), p);
    }
    return out;
  }

  // ---- forward / backward ----

  /** The device tensors and saved activations of one forward, freed together. */
  private final class Run implements AutoCloseable {
    final Arena arena = new Arena();
    long seed;
    Tensor ids, targets;
    AttentionLayout layout;
    final List<DecoderLayer.Saved> saved = new ArrayList<>();
    final RmsNorm.Saved finalSaved = new RmsNorm.Saved();
    Tensor hidden;  // the final norm's output
    float logitTemperature = 1f;  // the LM head's logits are divided by it (RL: the sampling temperature)

    @Override
    public void close() {
      arena.close();
    }
  }

  private Tensor upload(Arena a, int[] v) {
    Tensor t = a.allocate(DType.I32, device, v.length);
    t.copyFrom(v);
    return t;
  }

  private Run forward(Batch b, boolean training, long seed) {
    Run run = new Run();
    run.seed = seed;
    try {
      Arena a = run.arena;
      run.ids = upload(a, b.ids);
      run.targets = upload(a, b.targets);
      Tensor mask = b.keyMask == null ? null : upload(a, b.keyMask).view(b.sequences, b.seqLen);
      Tensor cu = b.cuSeqlens == null ? null : upload(a, b.cuSeqlens);
      jswift.nn.ShiftedGroups shifted = training && shiftedGroupSize > 0 ? jswift.nn.ShiftedGroups.create(a, device,
          b.tokens(), b.seqLen, b.keyMask, b.cuSeqlens, shiftedGroupSize) : null;
      run.layout = new AttentionLayout(b.seqLen, mask, cu, upload(a, b.positions), shifted);
      return forwardLayers(run, b.tokens(), training);
    } catch (RuntimeException e) {
      run.close();
      throw e;
    }
  }

  /** The forward from run's device inputs (ids, layout) to run.hidden; closes run if it throws. */
  private Run forwardLayers(Run run, int n, boolean training) {
    long seed = run.seed;
    try {
      Arena a = run.arena;
      int h = config.hiddenSize();
      Tensor x = a.allocate(dtype, device, n, h);
      Kernels.embeddingForward(run.ids, embedding().value(), x);
      jswift.nn.EmbeddingLora lora = activeEmbeddingLora();
      if (lora != null) lora.forward(a, run.ids, x);
      if (training && neftuneNoiseAlpha > 0) addNeftuneNoise(x, run.layout.seqLen(), seed);
      for (DecoderLayer layer : layers) {
        DecoderLayer.Saved s = training ? new DecoderLayer.Saved() : null;
        if (training && gradientCheckpointing) {
          // Compute in a throwaway arena; keep only the output (the next layer's saved input).
          try (Arena tmp = new Arena()) {
            Tensor y = layer.forward(tmp, x, run.layout, rope, seed, s, a);
            Tensor kept = a.allocate(dtype, device, n, h);
            kept.copyFrom(y);
            x = kept;
          }
        } else if (!training) {
          try (Arena tmp = new Arena()) {  // inference: activations die layer by layer
            Tensor y = layer.forward(tmp, x, run.layout, rope, seed, null, null);
            Tensor kept = a.allocate(dtype, device, n, h);
            kept.copyFrom(y);
            x = kept;
          }
        } else {
          x = layer.forward(a, x, run.layout, rope, seed, s, null);
        }
        if (s != null) run.saved.add(s);
      }
      run.hidden = finalNorm.forward(a, x, training ? run.finalSaved : null);
      return run;
    } catch (RuntimeException e) {
      run.close();
      throw e;
    }
  }

  /** fp32 logits [tokens, vocab] (row-major over the batch's tokens). */
  public float[] logits(Batch b) {
    try (Run run = forward(b, false, 0)) {
      Tensor logits = run.arena.allocate(DType.F32, device, b.tokens(), config.vocabSize());
      Kernels.matmul(run.hidden, false, lmHead().value(), true, logits, 1f, 0f);  // fp32 output for any dtype
      return logits.toFloatArray();
    }
  }

  /** The mean causal-LM cross-entropy over the batch's targets (transformers' loss). */
  public double loss(Batch b) {
    try (Run run = forward(b, false, 0)) {
      return meanLoss(run, b);
    }
  }

  private double meanLoss(Run run, Batch b) {
    int n = b.tokens(), count = b.targetCount();
    if (count == 0) throw new IllegalArgumentException("the batch has no targets (every label is -100)");
    Tensor loss = run.arena.allocate(DType.F32, device, n);
    Tensor lse = run.arena.allocate(DType.F32, device, n);
    Kernels.lmHeadCrossEntropyForward(run.hidden, lmHead().value(), run.targets, Batch.IGNORE, 0, loss, lse, null);
    double sum = 0;
    for (float l : loss.toFloatArray()) sum += l;  // ignored rows are exactly 0
    return sum / count;
  }

  /**
   * One training micro-step: forward, the mean loss, and its gradient accumulated into every trainable
   * parameter (and the active adapter's trainable A / B). {@code seed} drives LoRA dropout. Returns the loss.
   */
  public double forwardBackward(Batch b, long seed) {
    int count = b.targetCount();
    if (count == 0) throw new IllegalArgumentException("the batch has no targets (every label is -100)");
    return forwardBackward(b, seed, count);
  }

  /**
   * A micro-step of an accumulated batch: the gradient of sum_t weight_t * CE_t / normalizer (the normalizer is
   * the total target weight of the whole accumulated batch, so micro-batches add up to the token-level mean, as
   * transformers computes it with num_items_in_batch). Returns sum_t weight_t * CE_t / normalizer.
   */
  public double forwardBackward(Batch b, long seed, double normalizer) {
    return forwardBackward(b, seed, normalizer, 1f);
  }

  /**
   * {@link #forwardBackward(Batch, long, double)} with the logits divided by {@code temperature} before the softmax:
   * the cross-entropy of the sampling distribution softmax(logits / T), whose gradient RL trainers take (TRL's GRPO
   * and PPO divide the logits by the sampling temperature).
   */
  public double forwardBackward(Batch b, long seed, double normalizer, float temperature) {
    if (!(normalizer > 0)) throw new IllegalArgumentException("normalizer must be > 0, got " + normalizer);
    checkTemperature(temperature);
    float[] dl = lossWeights(b, normalizer);
    try (Run run = forward(b, true, seed)) {
      Tensor dloss = run.arena.allocate(DType.F32, device, dl.length);
      dloss.copyFrom(dl);
      run.logitTemperature = temperature;
      return weightedLoss(run, b, dloss, normalizer);
    }
  }

  private static void checkTemperature(float temperature) {
    if (!(temperature > 0 && temperature < Float.POSITIVE_INFINITY))
      throw new IllegalArgumentException("the logits' temperature must be > 0, got " + temperature);
  }

  /**
   * The LM head's input: the final hidden states, or divided by the run's logit temperature (logits / T = (h / T)
   * W^T), in the run's arena.
   */
  private Tensor headInput(Run run) {
    if (run.logitTemperature == 1f) return run.hidden;
    Tensor scaled = run.arena.zeros(dtype, device, run.hidden.shape());
    Kernels.axpby(1f / run.logitTemperature, run.hidden, 1f, scaled);
    return scaled;
  }

  /** The loss gradient's weight of each token: weight_t / normalizer at targets, 0 elsewhere. */
  private static float[] lossWeights(Batch b, double normalizer) {
    float[] dl = new float[b.tokens()];
    for (int t = 0; t < dl.length; t++) dl[t] = b.targets[t] == Batch.IGNORE ? 0f : (float) (b.weight(t) / normalizer);
    return dl;
  }

  /**
   * The log-probability each packed sequence of the batch gives its targets: the sum over its target tokens of
   * log p(target) (labels of -100 excluded, loss weights ignored), forward only, no dropout.
   */
  public double[] sequenceLogProbs(Batch b) {
    TokenLosses t = tokenLosses(b);
    double[] out = new double[b.sequences];
    for (int s = 0; s < b.sequences; s++)
      for (int k = b.sequenceStart(s); k < b.sequenceEnd(s); k++) if (b.targets[k] != Batch.IGNORE) out[s] -= t.loss[k];
    return out;
  }

  /**
   * Each token's log-probability of its target, log p(target_t) (0 where the target is -100), forward only, no
   * dropout: GRPO's per-token policy and reference log-probabilities.
   */
  public float[] targetLogProbs(Batch b) {
    return targetLogProbs(b, 1f);
  }

  /** {@link #targetLogProbs(Batch)} under softmax(logits / temperature), the distribution a sampler drew from. */
  public float[] targetLogProbs(Batch b, float temperature) {
    checkTemperature(temperature);
    TokenLosses t = tokenLosses(b, temperature);
    float[] out = new float[b.tokens()];
    for (int k = 0; k < out.length; k++) if (b.targets[k] != Batch.IGNORE) out[k] = -t.loss[k];
    return out;
  }

  // ---- sequence heads (a reward model's score) on the last token's hidden state ----

  /**
   * The final hidden state (after the last norm) at the last token of each packed sequence, [sequences][hidden],
   * forward only, no dropout: what transformers' *ForSequenceClassification heads read.
   */
  public float[][] lastHiddenStates(Batch b) {
    return hiddenStates(b, lastTokens(b));
  }

  /**
   * The final hidden states (after the last norm) at the given token rows of the batch, [rows.length][hidden],
   * forward only, no dropout (a value model's per-token head reads them).
   */
  public float[][] hiddenStates(Batch b, int[] rows) {
    checkRows(b, rows);
    try (Run run = forward(b, false, 0)) {
      return lastRows(run.arena, run.hidden, rows);
    }
  }

  private static void checkRows(Batch b, int[] rows) {
    for (int r : rows)
      if (r < 0 || r >= b.tokens())
        throw new IllegalArgumentException("token row " + r + " is outside the batch's " + b.tokens() + " tokens");
  }

  /** A head on the sequences' last hidden states: given them, returns dLoss/d(each), same shape. */
  public interface SequenceHead {
    float[][] gradient(float[][] lastHidden);
  }

  /**
   * A training micro-step of a sequence head: forward with dropout ({@code seed}), the last hidden state of each
   * packed sequence handed to {@code head}, and the backward of the gradient it returns into every trainable
   * parameter. The LM head is not used.
   */
  public void forwardBackwardLastHidden(Batch b, long seed, SequenceHead head) {
    if (b.cuSeqlens == null) throw new IllegalArgumentException("a sequence head needs a packed batch");
    forwardBackwardHidden(b, seed, lastTokens(b), head);
  }

  /**
   * As {@link #forwardBackwardLastHidden}, for the hidden states at the given token rows (distinct): {@code head}
   * gets them and returns dLoss/d(each); every other row's gradient is zero.
   */
  public void forwardBackwardHidden(Batch b, long seed, int[] rows, SequenceHead head) {
    checkRows(b, rows);
    if (java.util.Arrays.stream(rows).distinct().count() != rows.length)
      throw new IllegalArgumentException("forwardBackwardHidden: the token rows must be distinct");
    try (Run run = forward(b, true, seed)) {
      int h = config.hiddenSize(), n = rows.length;
      float[][] grad = head.gradient(lastRows(run.arena, run.hidden, rows));
      if (grad.length != n) throw new IllegalArgumentException(grad.length + " gradients for " + n + " rows");
      // the gradient is zero but at those rows: scattered there on the device (no [tokens, hidden] host copy)
      float[] flat = new float[n * h];
      for (int s = 0; s < n; s++) System.arraycopy(grad[s], 0, flat, s * h, h);
      Tensor g = run.arena.allocate(DType.F32, device, n, h);
      g.copyFrom(flat);
      Tensor dh32 = run.arena.allocate(DType.F32, device, b.tokens(), h);
      Kernels.fill(dh32, 0f);
      Kernels.embeddingBackward(deviceInts(run.arena, rows), g, dh32);
      Tensor dHidden = dh32;
      if (dtype != DType.F32) {
        dHidden = run.arena.allocate(dtype, device, b.tokens(), h);
        Kernels.cast(dh32, dHidden);
      }
      backward(run, dHidden);
    }
  }

  /** A loss on the logits: given rows [from, from + n) of the batch's fp32 logits ([n][vocab], row-major), returns dLoss/dlogits. */
  public interface LogitsLoss {
    float[] gradient(int from, int n, float[] logits);
  }

  /**
   * A training micro-step of a loss on the whole next-token distributions (knowledge distillation): forward with
   * dropout ({@code seed}), then, {@code chunkRows} tokens at a time (so that [tokens, vocab] is never whole), the
   * LM head's logits handed to {@code loss}, whose gradient goes back through the LM head into the hidden states
   * (and the LM head's gradient when it trains); then the model's backward.
   */
  public void forwardBackwardLogits(Batch b, long seed, int chunkRows, LogitsLoss loss) {
    if (chunkRows < 1) throw new IllegalArgumentException("chunkRows must be >= 1, got " + chunkRows);
    try (Run run = forward(b, true, seed)) {
      int n = b.tokens(), h = config.hiddenSize(), v = config.vocabSize();
      Parameter head = lmHead();
      Tensor dh = run.arena.allocate(dtype, device, n, h);
      for (int from = 0; from < n; from += chunkRows) {
        int rows = Math.min(chunkRows, n - from);
        try (Arena chunk = new Arena()) {
          Tensor hid = run.hidden.narrow(from, rows);
          Tensor logits = chunk.allocate(DType.F32, device, rows, v);
          Kernels.matmul(hid, false, head.value(), true, logits, 1f, 0f);
          float[] g = loss.gradient(from, rows, logits.toFloatArray());
          if (g.length != rows * v) throw new IllegalArgumentException(g.length + " logit gradients for " + rows * v + " logits");
          Tensor dlogits = chunk.allocate(dtype, device, rows, v);
          dlogits.copyFrom(g);
          Kernels.matmul(dlogits, false, head.value(), false, dh.narrow(from, rows), 1f, 0f);  // dh = dlogits W
          if (head.isTrainable()) Kernels.matmul(dlogits, true, hid, false, head.grad(), 1f, 1f);  // dW += dlogits^T h
        }
      }
      backward(run, dh);
    }
  }

  /** The index of each sequence's last real token among the batch's tokens. */
  private static int[] lastTokens(Batch b) {
    int[] out = new int[b.sequences];
    for (int s = 0; s < b.sequences; s++) {
      int last = b.cuSeqlens != null ? b.sequenceEnd(s) - 1 : s * b.seqLen + b.seqLen - 1;
      if (b.keyMask != null) while (last > s * b.seqLen && b.keyMask[last] == 0) last--;  // the last real token
      out[s] = last;
    }
    return out;
  }

  /** Rows {@code tokens} of the hidden states [tokens, hidden], gathered on the device, then to the host. */
  private float[][] lastRows(Arena a, Tensor hidden, int[] tokens) {
    int h = config.hiddenSize();
    Tensor rows = a.allocate(hidden.dtype(), device, tokens.length, h);
    Kernels.embeddingForward(deviceInts(a, tokens), hidden, rows);
    float[] flat = rows.toFloatArray();
    float[][] out = new float[tokens.length][];
    for (int s = 0; s < tokens.length; s++) out[s] = java.util.Arrays.copyOfRange(flat, s * h, (s + 1) * h);
    return out;
  }

  private Tensor deviceInts(Arena a, int[] values) {
    Tensor t = a.allocate(DType.I32, device, values.length);
    t.copyFrom(values);
    return t;
  }

  /** Loss and token accuracy of a batch, for evaluation. */
  public record Eval(double lossSum, int targets, int correct) {}

  public Eval evaluate(Batch b) {
    TokenLosses t = tokenLosses(b);
    double sum = 0;
    int count = 0, correct = 0;
    for (int k = 0; k < b.tokens(); k++) {
      if (b.targets[k] == Batch.IGNORE) continue;
      sum += t.loss[k];
      count++;
      if (t.argmax[k] == b.targets[k]) correct++;
    }
    return new Eval(sum, count, correct);
  }

  /** Each token's cross-entropy on its target and the most likely next token (forward only, no dropout). */
  private record TokenLosses(float[] loss, int[] argmax) {}

  private TokenLosses tokenLosses(Batch b) {
    return tokenLosses(b, 1f);
  }

  private TokenLosses tokenLosses(Batch b, float temperature) {
    try (Run run = forward(b, false, 0)) {
      run.logitTemperature = temperature;
      int n = b.tokens();
      Tensor loss = run.arena.allocate(DType.F32, device, n);
      Tensor lse = run.arena.allocate(DType.F32, device, n);
      Tensor argmax = run.arena.allocate(DType.I32, device, n);
      Kernels.lmHeadCrossEntropyForward(headInput(run), lmHead().value(), run.targets, Batch.IGNORE, 0, loss, lse,
          argmax);
      return new TokenLosses(loss.toFloatArray(), argmax.toIntArray());
    }
  }

  private double weightedLoss(Run run, Batch b, Tensor dloss, double normalizer) {
    Tensor loss = run.arena.allocate(DType.F32, device, b.tokens());
    Tensor argmax = run.arena.allocate(DType.I32, device, b.tokens());
    lossBackward(run, dloss, loss, argmax);
    countCorrect(b, argmax);
    return weightedSum(b, loss.toFloatArray(), normalizer);
  }

  /**
   * The loss head (per-token cross-entropy into loss, its gradient weighted by dloss, each token's most likely
   * next token into argmax) and the whole backward.
   */
  private void lossBackward(Run run, Tensor dloss, Tensor loss, Tensor argmax) {
    long n = run.ids.numel();
    Tensor lse = run.arena.allocate(DType.F32, device, n);
    Tensor dh = run.arena.allocate(dtype, device, n, config.hiddenSize());
    Kernels.lmHeadCrossEntropyForwardBackward(headInput(run), lmHead().value(), run.targets, dloss, Batch.IGNORE, 0,
        loss, lse, argmax, dh, lmHead().isTrainable() ? lmHead().grad() : null);
    if (run.logitTemperature != 1f) Kernels.axpby(1f / run.logitTemperature - 1f, dh, 1f, dh);  // d(h / T) / dh = 1 / T
    backward(run, dh);
  }

  // Token accuracy of the training micro-steps since the last takeTokenAccuracy: targets whose logits' argmax is
  // the target itself, and targets.
  private long correctTargets, countedTargets;

  private void countCorrect(Batch b, Tensor argmax) {
    int[] am = argmax.toIntArray();
    for (int t = 0; t < b.tokens(); t++) {
      if (b.targets[t] == Batch.IGNORE) continue;
      countedTargets++;
      if (am[t] == b.targets[t]) correctTargets++;
    }
  }

  /**
   * {correct, targets} over the training micro-steps since the last call (ms-swift's token_acc is their ratio),
   * then starts counting again.
   */
  public long[] takeTokenAccuracy() {
    long[] r = {correctTargets, countedTargets};
    correctTargets = 0;
    countedTargets = 0;
    return r;
  }

  /** sum_t weight_t * CE_t / normalizer over b's targets (ignored positions and padding excluded). */
  private static double weightedSum(Batch b, float[] loss, double normalizer) {
    double sum = 0;
    for (int t = 0; t < b.tokens(); t++) if (b.targets[t] != Batch.IGNORE) sum += b.weight(t) * loss[t];
    return sum / normalizer;
  }

  // ---- fixed-shape micro-steps (graph replay) ----

  /**
   * The device inputs of a micro-step of fixed shape ({@link Batch#padTo}): a {@link DeviceGraph}
   * captures {@link #forwardBackward(StepInputs, long)} once with these tensors' addresses baked in, and each step
   * copies its batch into them ({@link #stage}) before a launch. The packed layout's sequence count is part of
   * the shape (the attention kernels' grid).
   */
  public final class StepInputs implements AutoCloseable {
    private final Arena arena = new Arena();
    private final int tokens, seqLen;
    private final Tensor ids, targets, positions, cuSeqlens, dloss, loss, argmax;
    private int sequences = -1;  // of the staged batch (padding included): the attention's batch

    private StepInputs(int tokens, int seqLen) {
      this.tokens = tokens;
      this.seqLen = seqLen;
      ids = arena.allocate(DType.I32, device, tokens);
      targets = arena.allocate(DType.I32, device, tokens);
      positions = arena.allocate(DType.I32, device, tokens);
      cuSeqlens = arena.allocate(DType.I32, device, tokens + 1L);  // room for one sequence per token
      dloss = arena.allocate(DType.F32, device, tokens);
      loss = arena.allocate(DType.F32, device, tokens);
      argmax = arena.allocate(DType.I32, device, tokens);
    }

    /**
     * Copies a batch of exactly this shape (tokens, and sequences no longer than seqLen) into the tensors, with
     * each target's loss-gradient weight weight_t / normalizer. Ordered with the device's work: a launch queued
     * after it sees this batch.
     */
    public void stage(Batch fixed, double normalizer) {
      if (fixed.tokens() != tokens || fixed.cuSeqlens == null || fixed.seqLen > seqLen)
        throw new IllegalArgumentException("stage: a packed batch of " + tokens + " tokens in sequences of at most "
            + seqLen + " is needed (Batch.padTo); got " + fixed.tokens() + " tokens"
            + (fixed.cuSeqlens == null ? " in the padded layout" : ", longest sequence " + fixed.seqLen));
      if (!(normalizer > 0)) throw new IllegalArgumentException("normalizer must be > 0, got " + normalizer);
      ids.copyFrom(fixed.ids);
      targets.copyFrom(fixed.targets);
      positions.copyFrom(fixed.positions);
      cuSeqlens.narrow(0, fixed.cuSeqlens.length).copyFrom(fixed.cuSeqlens);
      dloss.copyFrom(lossWeights(fixed, normalizer));
      sequences = fixed.sequences;
    }

    @Override
    public void close() {
      arena.close();
    }
  }

  /** Device inputs for micro-steps of {@code tokens} tokens in packed sequences of at most {@code seqLen}. */
  public StepInputs stepInputs(int tokens, int seqLen) {
    if (tokens < 1 || seqLen < 1) throw new IllegalArgumentException("stepInputs: tokens and seqLen must be >= 1");
    return new StepInputs(tokens, seqLen);
  }

  /**
   * The forward and backward of the staged batch, as {@link #forwardBackward(Batch, long, double)} computes them
   * (gradients accumulated into the trainable parameters), but with no host read: each token's loss and argmax
   * land in the inputs' tensors, read by {@link #stagedLoss} after the step ran. So the whole call can be captured
   * into a graph and replayed (the dropout masks then come from the device's dropout step, {@link
   * Kernels#setDropoutStep}; {@code seed} is baked in).
   */
  public void forwardBackward(StepInputs in, long seed) {
    if (in.sequences < 0) throw new IllegalStateException("forwardBackward: nothing was staged");
    if (shiftedGroupSize > 0)
      throw new IllegalStateException("forwardBackward(StepInputs): CUDA graphs do not run S2-Attn (longlora)");
    Run run = new Run();
    run.seed = seed;
    run.ids = in.ids;
    run.targets = in.targets;
    run.layout = new AttentionLayout(in.seqLen, null, in.cuSeqlens.narrow(0, in.sequences + 1L), in.positions);
    try (Run r = forwardLayers(run, in.tokens, true)) {
      lossBackward(r, in.dloss, in.loss, in.argmax);
    }
  }

  /**
   * sum_t weight_t * CE_t / normalizer of b (the batch staged, padding included) after its step ran; its token
   * accuracy joins {@link #takeTokenAccuracy}'s count.
   */
  public double stagedLoss(StepInputs in, Batch b, double normalizer) {
    countCorrect(b, in.argmax);
    return weightedSum(b, in.loss.toFloatArray(), normalizer);
  }

  // --- per-parameter optimizer steps (--galore_optim_per_parameter): told as gradients complete ---
  private java.util.function.Consumer<List<Parameter>> gradientsReady;
  private List<List<Parameter>> layerParameters;

  /**
   * A hook the backward calls with each group of parameters whose gradients (of this backward) are complete: an
   * untied lm_head right after the loss, the final norm, then each decoder layer right after its backward (last
   * layer first), and the embedding (a tied lm_head) at the end. The optimizer steps them there and frees their
   * gradients (GaLore's per-layer update). Null removes it.
   */
  public void onGradientsReady(java.util.function.Consumer<List<Parameter>> hook) {
    gradientsReady = hook;
    if (hook != null && layerParameters == null) {
      layerParameters = new ArrayList<>();
      for (int i = 0; i < layers.size(); i++) {
        String prefix = "model.layers." + i + ".";
        List<Parameter> own = new ArrayList<>();
        for (Parameter p : parameters.values()) if (p.name().startsWith(prefix)) own.add(p);
        layerParameters.add(own);
      }
    }
  }

  private void ready(List<Parameter> group) {
    if (gradientsReady != null) gradientsReady.accept(group);
  }

  private void backward(Run run, Tensor dHidden) {
    Arena a = run.arena;
    if (lmHead() != embedding()) ready(List.of(lmHead()));
    Tensor dh = finalNorm.backward(a, dHidden, run.finalSaved);
    ready(List.of(finalNorm.weight()));
    for (int i = layers.size() - 1; i >= 0; i--) {
      DecoderLayer layer = layers.get(i);
      if (gradientCheckpointing) {
        try (Arena tmp = new Arena()) {
          Tensor g = layer.backward(tmp, dh, run.layout, rope, run.seed, run.saved.get(i));
          Tensor kept = a.allocate(dtype, device, g.shape());
          kept.copyFrom(g);
          dh = kept;
        }
      } else {
        dh = layer.backward(a, dh, run.layout, rope, run.seed, run.saved.get(i));
      }
      if (gradientsReady != null) ready(layerParameters.get(i));
    }
    jswift.nn.EmbeddingLora lora = activeEmbeddingLora();
    if (lora != null) {
      lora.backward(a, run.ids, dh);
      ready(List.of(lora.aTransposed(), lora.b()));
    }
    if (embedding().isTrainable()) Kernels.embeddingBackward(run.ids, dh, embedding().grad());
    ready(List.of(embedding()));
  }

  // ---- inference with a KV cache ----

  /** An empty cache for {@code batch} sequences of up to {@code capacity} tokens each. */
  public KvCache newCache(int batch, int capacity) {
    return new KvCache(config, batch, capacity, dtype, device);
  }

  /**
   * Runs qLen new tokens per sequence through the model against the cache (prefill: the whole prompt; decode:
   * one token) and returns the fp32 logits of each sequence's last new token, [batch][vocab]. ids and positions
   * are [batch * qLen]; realMask (same shape, may be null) marks padding tokens with 0, which later tokens never
   * attend to (left-padded prompts).
   */
  public float[][] forwardCached(KvCache cache, int[] ids, int qLen, int[] positions, int[] realMask) {
    int batch = cache.batch;
    if (ids.length != batch * qLen || positions.length != ids.length || (realMask != null && realMask.length != ids.length))
      throw new IllegalArgumentException("forwardCached: ids, positions and mask must have batch * qLen = "
          + batch * qLen + " entries");
    // A prompt's prefill (the cache held nothing): attention within the new tokens, by the flash kernel
    boolean prompt = qLen > 1 && cache.isEmpty();
    cache.append(qLen, realMask);
    try (Arena a = new Arena()) {
      Tensor logits = a.allocate(DType.F32, device, batch, config.vocabSize());
      Tensor pos = upload(a, positions);
      AttentionLayout layout = !prompt ? null
          : new AttentionLayout(qLen, realMask == null ? null : upload(a, realMask).view(batch, qLen), null, pos);
      enqueueCached(cache, upload(a, ids), pos, qLen, layout, logits);
      return logitRows(logits, batch);
    }
  }

  /**
   * The forward of qLen new tokens per sequence against the cache, into fp32 logits [batch, vocab]; no host read.
   * {@code prompt}: the new tokens' layout when the cache held nothing before them, else null.
   */
  private void enqueueCached(KvCache cache, Tensor idsT, Tensor pos, int qLen, AttentionLayout prompt, Tensor logits) {
    int batch = cache.batch;
    long n = idsT.numel();
    try (Arena a = new Arena()) {
      int h = config.hiddenSize();
      Tensor x = a.allocate(dtype, device, n, h);
      Kernels.embeddingForward(idsT, embedding().value(), x);
      jswift.nn.EmbeddingLora lora = activeEmbeddingLora();
      if (lora != null) lora.forward(a, idsT, x);
      for (int l = 0; l < layers.size(); l++) {
        try (Arena tmp = new Arena()) {
          Tensor y = layers.get(l).forwardCached(tmp, x, batch, qLen, pos, rope, cache.keys.get(l),
              cache.values.get(l), cache.lengthsOnDevice, cache.maskOnDevice, prompt);
          Tensor kept = a.allocate(dtype, device, n, h);
          kept.copyFrom(y);
          x = kept;
        }
      }
      // Only each sequence's last token needs the final norm and the LM head.
      Tensor last = a.allocate(dtype, device, batch, h);
      for (int b = 0; b < batch; b++) last.narrow(b, 1).copyFrom(x.narrow((long) b * qLen + qLen - 1, 1));
      Tensor normed = finalNorm.forward(a, last, null);
      Kernels.matmul(normed, false, lmHead().value(), true, logits, 1f, 0f);
    }
  }

  private float[][] logitRows(Tensor logits, int batch) {
    float[] flat = logits.toFloatArray();
    float[][] rows = new float[batch][];
    for (int b = 0; b < batch; b++)
      rows[b] = java.util.Arrays.copyOfRange(flat, b * config.vocabSize(), (b + 1) * config.vocabSize());
    return rows;
  }

  /**
   * One decode token for every sequence of a cache, replayed from a captured {@link DeviceGraph}: decode is bound
   * by the host's calls on a GPU (a few thousand a token), and a replay is one. The token's ids and positions go
   * into fixed device tensors, the cache's lengths and padding mask are updated (both outside the graph, which
   * reads them from memory), the graph runs the forward into a fixed logits tensor, and the logits are read. The
   * first token runs eagerly (on CUDA that fills the allocator's cache for the capture), the second is captured.
   * If the capture is refused, every token runs eagerly.
   */
  public final class DecodeGraph implements AutoCloseable {
    private final KvCache cache;
    private final Arena arena = new Arena();
    private final Tensor ids, positions, logits;
    private DeviceGraph graph;
    private boolean warmedUp, eagerOnly;

    private DecodeGraph(KvCache cache) {
      this.cache = cache;
      ids = arena.allocate(DType.I32, device, cache.batch);
      positions = arena.allocate(DType.I32, device, cache.batch);
      logits = arena.allocate(DType.F32, device, cache.batch, config.vocabSize());
    }

    /** The next token of each sequence (its id and position): as {@code forwardCached(cache, ids, 1, positions, null)}. */
    public float[][] next(int[] tokenIds, int[] tokenPositions) {
      if (tokenIds.length != cache.batch || tokenPositions.length != cache.batch)
        throw new IllegalArgumentException("decode: one id and one position per sequence (" + cache.batch + ")");
      cache.append(1, null);
      ids.copyFrom(tokenIds);
      positions.copyFrom(tokenPositions);
      if (graph != null) {
        graph.launch();
      } else if (eagerOnly) {
        enqueueCached(cache, ids, positions, 1, null, logits);
      } else if (!warmedUp) {
        // allocating as the capture will (Generator recycles blocks on the Java side, which a capture cannot use)
        DeviceGraph.warmUp(() -> enqueueCached(cache, ids, positions, 1, null, logits));
        warmedUp = true;
      } else {
        try {
          graph = DeviceGraph.capture(device, () -> enqueueCached(cache, ids, positions, 1, null, logits));
          graph.launch();
        } catch (jswift.tensor.JswiftNativeException e) {
          if (e.status() != DeviceGraph.UNSUPPORTED) throw e;
          eagerOnly = true;  // nothing of the refused capture ran
          enqueueCached(cache, ids, positions, 1, null, logits);
        }
      }
      return logitRows(logits, cache.batch);
    }

    /** True once tokens are replayed from a graph. */
    public boolean replaying() {
      return graph != null;
    }

    @Override
    public void close() {
      if (graph != null) graph.close();
      graph = null;
      arena.close();
    }
  }

  /** A graph-replayed decode loop over this cache (see {@link DecodeGraph}). */
  public DecodeGraph decodeGraph(KvCache cache) {
    return new DecodeGraph(cache);
  }

  @Override
  public void close() {
    for (Linear l : linears.values()) l.close();
    for (Map<String, Parameter> m : moduleCopies.values()) m.values().forEach(Parameter::close);
    moduleCopies.clear();
    sharedAdapterTensors.values().forEach(SharedAdapterTensors::close);
    sharedAdapterTensors.clear();
    embeddingLoras.values().forEach(jswift.nn.EmbeddingLora::close);
    embeddingLoras.clear();
    for (DecoderLayer layer : layers) {
      layer.mlp().closeAdapters();
      layer.closeInterventions();
    }
    for (Parameter p : parameters.values()) p.close();
    parameters.clear();
    if (rope != null) rope.close();
    if (code256 != null) code256.close();
  }
}
