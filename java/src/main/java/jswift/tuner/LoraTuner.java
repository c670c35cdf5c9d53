package jswift.tuner;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import jswift.model.CausalLM;
import jswift.nn.EmbeddingLora;
import jswift.nn.Linear;
import jswift.nn.LoraAdapter;
import jswift.nn.Parameter;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Tensor;

/**
 * Adds a new, trainable LoRA adapter to a model's linear layers, as PEFT's {@code get_peft_model} does. The
 * {@link LoraConfig} says where (PEFT's target_modules rules; {@code all-linear} is expanded here to the names of
 * every linear layer of the decoder, the LM head excluded, and the expanded list is what gets saved), the rank and
 * scale per module, and the initialisation: A Kaiming-uniform (a = sqrt(5), bound 1/sqrt(in)) or Gaussian (std
 * 1/r), B zero, so the adapted model starts equal to the base model ({@code init_lora_weights = false}: B
 * random too). With {@code use_dora} every module also gets a trainable magnitude, initialised as PEFT does to the
 * row norms of W + s B A for the initial A and B (||W|| with the default zero B), so a DoRA adapter starts equal
 * to the base model too. PiSSA and OLoRA ({@code pissa}, {@code pissa_niter_N}, {@code olora}) instead take A and
 * B from each weight's SVD / QR and leave the residual W - s B A as the base ({@link ResidualInit}). Modules named
 * in modules_to_save get trainable copies ({@link ModulesToSave}).
 */
public final class LoraTuner {
  public static final String ALL_LINEAR = "all-linear";

  private LoraTuner() {}

  /** The config with {@code all-linear} replaced by the distinct layer names it stands for in this model. */
  public static LoraConfig resolveTargets(CausalLM model, LoraConfig cfg) {
    JsonNode t = cfg.targetModules();
    if (t == null || t.isNull()) return cfg;
    List<String> given = new ArrayList<>();
    if (t.isTextual()) {
      if (!t.asText().equals(ALL_LINEAR) && !t.asText().equals(ALL_EMBEDDING)) return cfg;  // a regex
      given.add(t.asText());
    } else {
      t.forEach(n -> given.add(n.asText()));
    }
    if (!given.contains(ALL_LINEAR) && !given.contains(ALL_EMBEDDING)) return cfg;
    Set<String> names = new LinkedHashSet<>();
    for (String g : given) {
      if (g.equals(ALL_LINEAR)) {
        for (String path : model.linears().keySet()) names.add(path.substring(path.lastIndexOf('.') + 1));
      } else if (g.equals(ALL_EMBEDDING)) {
        names.add(CausalLM.EMBED_MODULE.substring(CausalLM.EMBED_MODULE.lastIndexOf('.') + 1));
      } else {
        names.add(g);
      }
    }
    return cfg.withTargetModules(new ArrayList<>(names));
  }

  /** ms-swift's target for the input embedding ({@code embed_tokens} here). */
  public static final String ALL_EMBEDDING = "all-embedding";

  /** Whether a (resolved) config targets the input embedding with LoRA. */
  public static boolean targetsEmbedding(CausalLM model, LoraConfig cfg) {
    return resolveTargets(model, cfg).targets(CausalLM.EMBED_MODULE);
  }

  private static boolean contains(JsonNode list, String value) {
    for (JsonNode n : list) if (n.asText().equals(value)) return true;
    return false;
  }

  /** The linear layers a (resolved) config targets, in model order; an empty selection is an error. */
  public static List<Linear> targets(CausalLM model, LoraConfig cfg) {
    LoraConfig resolved = resolveTargets(model, cfg);
    List<Linear> out = new ArrayList<>();
    for (Map.Entry<String, Linear> e : model.linears().entrySet()) if (resolved.targets(e.getKey())) out.add(e.getValue());
    if (out.isEmpty() && !resolved.targets(CausalLM.EMBED_MODULE)) {
      Set<String> names = new LinkedHashSet<>();
      for (String p : model.linears().keySet()) names.add(p.substring(p.lastIndexOf('.') + 1));
      throw new IllegalArgumentException("target_modules " + cfg.targetModules() + " match no linear layer; this model has "
          + names + " (or use all-linear)");
    }
    return out;
  }

  /**
   * Adds adapter {@code name} to every target (trainable, seeded init), activates it, and returns its parameters.
   * The config to save with the adapter is {@link #resolveTargets}.
   */
  public static List<Parameter> apply(CausalLM model, String name, LoraConfig cfg, long seed) {
    if ((cfg.isVera() || cfg.isAdaLora() || cfg.isIa3() || cfg.isBoft() || cfg.isFourierFt() || cfg.isMiss())
        && targetsEmbedding(model, cfg))
      throw new IllegalArgumentException("target_modules " + cfg.targetModules() + " includes " + CausalLM.EMBED_MODULE
          + ": only LoRA adapts the embedding (" + cfg.peftType() + " adapts linear layers)");
    if (cfg.isVera()) return VeraTuner.apply(model, name, cfg);  // its projections come from projection_prng_key
    if (cfg.isAdaLora()) return AdaLoraTuner.apply(model, name, cfg, seed);
    if (cfg.isIa3()) return Ia3Tuner.apply(model, name, cfg);
    if (cfg.isBoft()) return BoftTuner.apply(model, name, cfg, seed);
    if (cfg.isFourierFt()) return FourierFtTuner.apply(model, name, cfg, seed);
    if (cfg.isMiss()) return MissTuner.apply(model, name, cfg, seed);
    String init = initMethod(cfg);
    List<Parameter> params = new ArrayList<>();
    SplittableRandom rng = new SplittableRandom(seed);
    for (Linear l : targets(model, cfg)) {
      int in = (int) l.inFeatures(), out = (int) l.outFeatures(), r = cfg.rankFor(l.name());
      float[] a = new float[r * in];
      float[] b = new float[out * r];
      switch (init) {
        case "true":
          kaimingUniform(rng, a, in);
          break;
        case "gaussian":
          for (int i = 0; i < a.length; i++) a[i] = (float) (gaussian(rng) / r);
          break;
        case "false":
          kaimingUniform(rng, a, in);
          kaimingUniform(rng, b, r);
          break;
        default:
          // pissa / pissa_niter_N / olora: A, B from the weight itself, which becomes the residual W - s B A.
          decompose(l, init, a, b, cfg.scaleFor(l.name()), rng);
      }
      String prefix = "base_model.model." + l.name();
      float scale = (float) cfg.scaleFor(l.name());
      Parameter pm = cfg.useDora() ? new Parameter(prefix + ".lora_magnitude_vector", initialMagnitude(l, a, b, scale, model.device()))
          : null;
      Tensor ta = Tensor.fromFloats(a, model.dtype(), model.device(), r, in);
      Tensor tb = Tensor.fromFloats(b, model.dtype(), model.device(), out, r);
      Parameter pa = new Parameter(prefix + ".lora_A.weight", ta), pb = new Parameter(prefix + ".lora_B.weight", tb);
      l.addAdapter(name, new LoraAdapter(pa, pb, pm, scale, (float) cfg.loraDropout()));
      // The fp32 masters start from the fp32 draws, not from their bf16 rounding.
      pa.setTrainable(true);
      pb.setTrainable(true);
      if (pa.master() != pa.value()) {
        pa.master().copyFrom(a);
        pb.master().copyFrom(b);
      }
      params.add(pa);
      params.add(pb);
      if (pm != null) {
        pm.setTrainable(true);
        params.add(pm);
      }
    }
    if (targetsEmbedding(model, cfg)) params.addAll(embeddingLora(model, name, cfg, init, rng));
    params.addAll(ModulesToSave.apply(model, name, cfg));
    model.setActiveAdapter(name);
    return params;
  }

  /**
   * LoRA on the input embedding, initialised as PEFT's lora.Embedding: A zero and B ~ N(0, 1) (init true / gaussian),
   * both N(0, 1) for init false; A held transposed ({@link EmbeddingLora}).
   */
  private static List<Parameter> embeddingLora(CausalLM model, String name, LoraConfig cfg, String init,
      SplittableRandom rng) {
    if (cfg.useDora() || !(init.equals("true") || init.equals("false") || init.equals("gaussian")))
      throw new IllegalArgumentException("LoRA on " + CausalLM.EMBED_MODULE + " (target_modules " + cfg.targetModules()
          + ") takes plain LoRA with init_weights true, false or gaussian" + (cfg.useDora() ? ", not DoRA" : ", not "
          + init));
    if (!cfg.modulesToSave().isEmpty() && ModulesToSave.modules(cfg).contains(CausalLM.EMBED_MODULE))
      throw new IllegalArgumentException(CausalLM.EMBED_MODULE + " is both a LoRA target and in modules_to_save: "
          + "choose one");
    String module = CausalLM.EMBED_MODULE;
    long[] e = model.baseModuleWeight(module).value().shape();
    int vocab = (int) e[0], dim = (int) e[1], r = cfg.rankFor(module);
    float[] at = new float[vocab * r], b = new float[dim * r];
    if (init.equals("false")) for (int i = 0; i < at.length; i++) at[i] = (float) gaussian(rng);
    for (int i = 0; i < b.length; i++) b[i] = (float) gaussian(rng);
    String prefix = "base_model.model." + module;
    Parameter pa = new Parameter(prefix + EmbeddingLora.A_SUFFIX, Tensor.fromFloats(at, model.dtype(), model.device(),
        vocab, r));
    Parameter pb = new Parameter(prefix + EmbeddingLora.B_SUFFIX, Tensor.fromFloats(b, model.dtype(), model.device(),
        dim, r));
    model.setEmbeddingLora(name, new EmbeddingLora(pa, pb, (float) cfg.scaleFor(module)));
    pa.setTrainable(true);
    pb.setTrainable(true);
    if (pb.master() != pb.value()) {  // the fp32 masters start from the fp32 draws
      pa.master().copyFrom(at);
      pb.master().copyFrom(b);
    }
    return List.of(pa, pb);
  }

  /** ||W + s B A|| per row from the fp32 draws of A and B (PEFT's adapter weights are fp32 whatever the model's). */
  private static Tensor initialMagnitude(Linear l, float[] a, float[] b, float scale, Device device) {
    int in = (int) l.inFeatures(), out = (int) l.outFeatures(), r = a.length / in;
    try (Tensor ta = Tensor.fromFloats(a, DType.F32, device, r, in);
        Tensor tb = Tensor.fromFloats(b, DType.F32, device, out, r)) {
      return l.weightNorm(ta, tb, scale);
    }
  }

  /**
   * init_lora_weights: true (Kaiming A, zero B), false (both random), "gaussian", or a base-changing method
   * ({@link ResidualInit}: pissa, pissa_niter_N, olora); others are refused.
   */
  private static String initMethod(LoraConfig cfg) {
    JsonNode v = cfg.fields().get("init_lora_weights");
    String s = v == null || v.isNull() ? "true" : v.isBoolean() ? String.valueOf(v.asBoolean()) : v.asText();
    if (!s.equals("true") && !s.equals("false") && !s.equals("gaussian") && !ResidualInit.supported(s))
      throw new IllegalArgumentException("init_weights '" + s + "' is not supported (true, false, gaussian, pissa, "
          + "pissa_niter_N, olora)");
    if (ResidualInit.supported(s) && cfg.useDora())
      throw new IllegalArgumentException("init_weights " + s + " with use_dora: PEFT's conversion of such an adapter"
          + " to a plain LoRA on the original base (what ms-swift saves as converted/default) drops DoRA's"
          + " magnitudes, so the run could not be merged or served on the original model; use one or the other");
    return s;
  }

  /**
   * Fills A and B from the layer's own weight (PiSSA / OLoRA) and replaces the weight by the residual
   * W - s B A, in the model's dtype. The decomposition runs on the host in fp32 (as PEFT's, in fp32 whatever the
   * model's dtype); a CUDA weight is copied over and back.
   */
  private static void decompose(Linear l, String init, float[] a, float[] b, double scale, SplittableRandom rng) {
    if (l.weight() == null)
      throw new IllegalArgumentException("init_weights " + init + " decomposes the dense weight of " + l.name()
          + ", but the base is NF4-quantized (--quant_method bnb). PEFT refuses PiSSA on a 4-bit base too (its"
          + " QPiSSA recipe decomposes the unquantized model, saves the residual model and quantizes that; its OLoRA"
          + " dequantizes, subtracts and re-quantizes); jswift does neither: drop the quantization or use"
          + " --init_weights true");
    Parameter w = l.weight();
    int in = (int) l.inFeatures(), out = (int) l.outFeatures(), r = a.length / in;
    ResidualInit.Factors f = ResidualInit.compute(init, w.value().toFloatArray(), out, in, r, scale, rng);
    System.arraycopy(f.a(), 0, a, 0, a.length);
    System.arraycopy(f.b(), 0, b, 0, b.length);
    w.value().copyFrom(f.residual());
    if (w.master() != null && w.master() != w.value()) w.master().copyFrom(f.residual());
  }

  /** torch.nn.init.kaiming_uniform_(w, a=sqrt(5)): U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
  private static void kaimingUniform(SplittableRandom rng, float[] w, int fanIn) {
    double bound = 1.0 / Math.sqrt(fanIn);
    for (int i = 0; i < w.length; i++) w[i] = (float) ((rng.nextDouble() * 2 - 1) * bound);
  }

  static double gaussian(SplittableRandom rng) {
    double u = 1 - rng.nextDouble(), v = rng.nextDouble();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
}
