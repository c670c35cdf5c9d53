package jswift.tuner;

import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import jswift.model.AtomicFile;
import jswift.model.CausalLM;
import jswift.model.SafetensorsWriter;
import jswift.model.TensorSource;
import jswift.nn.Linear;
import jswift.nn.LoraAdapter;
import jswift.nn.Parameter;
import jswift.tensor.DType;
import jswift.tensor.Tensor;

/**
 * Saves one named LoRA adapter of a {@link CausalLM} as PEFT does ({@code PeftModel.save_pretrained}), so that
 * {@code PeftModel.from_pretrained(base, dir)} loads it: {@code adapter_model.safetensors} with the keys
 * {@code base_model.model.<module>.lora_A.weight} [r, in] and {@code .lora_B.weight} [out, r] (PEFT drops the
 * adapter name from the keys), for DoRA also {@code .lora_magnitude_vector} [out] (no {@code .weight}: PEFT strips
 * it from the magnitude's parameter name); a VeRA adapter {@code .vera_lambda_b} [out] and {@code .vera_lambda_d} [r]
 * per module and the shared {@code base_model.vera_A} / {@code base_model.vera_B} once; an AdaLoRA adapter
 * {@code .lora_A} / {@code .lora_B} / {@code .lora_E} cut to the singular values its rank_pattern keeps; an IA3
 * adapter {@code .ia3_l} ([out, 1], or [1, in] for a feedforward module); a BOFT adapter {@code .boft_R} and
 * {@code .boft_s}; a FourierFT adapter {@code .fourierft_spectrum} [n]; a MiSS adapter {@code .miss_block} [r, out];
 * the modules_to_save copies as {@code base_model.model.<module>.weight}
 * (PEFT's key: the wrapper's {@code modules_to_save.<adapter>} dropped), and {@code adapter_config.json}
 * ({@link LoraConfig#toJson()}).
 *
 * <p>The tensors are saved in fp32 whatever the model's compute dtype, because that is what PEFT saves: its
 * {@code get_peft_model} upcasts bf16/fp16 adapter weights to fp32 by default ({@code autocast_adapter_dtype}),
 * and ms-swift keeps that default. A trained parameter's fp32 master copy is what gets written, so nothing is
 * lost to the bf16 copy the kernels read. (PEFT keeps a modules_to_save copy in the model's dtype; jswift writes its
 * fp32 master too, which PEFT loads by casting, so that a resumed run continues from the exact weights.)
 *
 * <p>Before writing, the adapter is checked against the config: every adapted module must be one that
 * target_modules selects (PEFT would silently drop the weights of any other), each module's rank and scale
 * must be the config's, and every module must be DoRA exactly when the config says use_dora. The two files are written atomically; existing adapter files are replaced only with
 * {@code overwrite}.
 */
public final class PeftAdapterWriter {
  public static final String WEIGHTS = "adapter_model.safetensors";

  private PeftAdapterWriter() {}

  /**
   * Writes {@code adapterName} of {@code model} into {@code dir}. {@code baseModelNameOrPath} is recorded as the
   * config's base_model_name_or_path (PEFT and ms-swift load the base from there).
   */
  public static void save(CausalLM model, String adapterName, LoraConfig config, String baseModelNameOrPath, Path dir,
      boolean overwrite) throws IOException {
    save(model, adapterName, config, baseModelNameOrPath, dir, overwrite, List.of());
  }

  /**
   * As {@link #save(CausalLM, String, LoraConfig, String, Path, boolean)}, with {@code extra} parameters written
   * under their names too (a reward model's score head, whose config lists it in modules_to_save).
   */
  public static void save(CausalLM model, String adapterName, LoraConfig config, String baseModelNameOrPath, Path dir,
      boolean overwrite, List<Parameter> extra) throws IOException {
    List<TensorSource> tensors = new ArrayList<>(tensors(model, adapterName, config));
    for (Parameter p : extra) tensors.add(fp32(p.name(), p));
    Path weights = dir.resolve(WEIGHTS), cfg = dir.resolve(LoraConfig.FILE);
    if (!overwrite) {
      for (Path p : List.of(weights, cfg))
        if (Files.exists(p))
          throw new FileAlreadyExistsException(p.toString(), null, "an adapter is already saved there; pass overwrite "
              + "= true to replace it");
    }
    Files.createDirectories(dir);
    String json = config.withBaseModelNameOrPath(baseModelNameOrPath).toJson();
    SafetensorsWriter.write(weights, tensors, SafetensorsWriter.PT_METADATA);
    try {
      AtomicFile.writeString(cfg, json);
    } catch (IOException | RuntimeException e) {
      AtomicFile.deleteAll(List.of(weights), e);  // weights without their config would load with wrong settings
      throw e;
    }
  }

  /** The adapter's tensors under their PEFT names, checked against the config. */
  static List<TensorSource> tensors(CausalLM model, String adapterName, LoraConfig config) {
    List<TensorSource> out = new ArrayList<>();
    for (Map.Entry<String, Linear> e : model.linears().entrySet()) {
      LoraAdapter a = e.getValue().adapters().get(adapterName);
      if (a == null) continue;
      String module = e.getKey();
      check(config, module, a);
      String prefix = "base_model.model." + module;
      if (a.isBoft()) {  // PEFT's shapes: boft_R [N, D, H, H], boft_s [out, 1]
        out.add(fp32(prefix + ".boft_R", a.boft().blocks()));
        out.add(host(prefix + ".boft_s", master(a.boft().scale()), a.boft().scale().value().numel(), 1));
        continue;
      }
      if (a.isIa3()) {  // PEFT's shapes: [1, in] for a feedforward module, [out, 1] otherwise
        long n = a.ia3Vector().value().numel();
        out.add(host(prefix + ".ia3_l", master(a.ia3Vector()), a.ia3Feedforward() ? new long[] {1, n}
            : new long[] {n, 1}));
        continue;
      }
      if (a.isMiss()) {  // PEFT's miss_block [r, out]: B^T
        int r = a.rank(), outs = (int) a.bValue().size(0);
        out.add(host(prefix + ".miss_block", PeftLayout.transpose(master(a.b()), outs, r), r, outs));
        continue;
      }
      if (a.isFourier()) {  // PEFT saves the coefficients only: the locations follow from random_loc_seed
        out.add(fp32(prefix + ".fourierft_spectrum", a.spectrum()));
        continue;
      }
      if (a.isVera()) {
        out.add(fp32(prefix + ".vera_lambda_b", a.outScale()));
        out.add(fp32(prefix + ".vera_lambda_d", a.rankScale()));
        continue;
      }
      if (a.isScaled()) {
        out.addAll(adaLora(prefix, a, config.adaLoraRankPattern().get(module)));
        continue;
      }
      out.add(fp32(prefix + ".lora_A.weight", a.a()));
      out.add(fp32(prefix + ".lora_B.weight", a.b()));
      if (a.isDora()) out.add(fp32(prefix + ".lora_magnitude_vector", a.magnitude()));
    }
    jswift.nn.EmbeddingLora embedding = model.embeddingLora(adapterName);
    if (embedding != null) {  // PEFT's lora_embedding_A [r, vocab] (held transposed) and lora_embedding_B [dim, r]
      String prefix = "base_model.model." + CausalLM.EMBED_MODULE;
      int vocab = (int) embedding.aTransposed().value().size(0), r = embedding.rank();
      out.add(host(prefix + jswift.nn.EmbeddingLora.A_SUFFIX, PeftLayout.transpose(master(embedding.aTransposed()),
          vocab, r), r, vocab));
      out.add(fp32(prefix + jswift.nn.EmbeddingLora.B_SUFFIX, embedding.b()));
    }
    if (out.isEmpty()) throw new IllegalArgumentException("the model has no adapter named '" + adapterName + "'");
    if (config.isVera()) {
      // PEFT saves the shared projections once, under base_model.vera_A / vera_B (save_projection, its default).
      // With save_projection false PEFT (and jswift) redraw them from projection_prng_key, bit for bit.
      jswift.nn.VeraProjections p = model.veraProjections(adapterName);
      if (config.saveProjection()) {
        out.add(fp32(jswift.nn.VeraProjections.A_KEY, p.a()));
        out.add(fp32(jswift.nn.VeraProjections.B_KEY, p.b()));
      }
    }
    // modules_to_save: the adapter's full copies, under PEFT's key (the wrapper's modules_to_save.<name> dropped).
    List<String> listed = ModulesToSave.modules(config);
    for (Map.Entry<String, Parameter> e : model.moduleCopies(adapterName).entrySet()) {
      if (!listed.contains(e.getKey()))
        throw new IllegalArgumentException("the adapter trains " + e.getKey() + " in full, but the config's"
            + " modules_to_save " + config.modulesToSave() + " does not name it: PEFT would not load it");
      out.add(fp32(e.getValue().name(), e.getValue()));
    }
    return out;
  }

  /**
   * An AdaLoRA module as PEFT saves it (resize_state_dict_by_rank_pattern): only the surviving triplets, lora_A
   * [r', in], lora_B [out, r'] and lora_E [r', 1] (all of them before any pruning, {@code keep} null).
   */
  private static List<TensorSource> adaLora(String prefix, LoraAdapter ad, boolean[] keep) {
    int r = ad.rank(), in = (int) ad.aValue().size(1), out = (int) ad.bValue().size(0);
    int[] kept = java.util.stream.IntStream.range(0, r).filter(i -> keep == null || keep[i]).toArray();
    int k = kept.length;
    float[] a = master(ad.a()), b = master(ad.b()), e = master(ad.rankScale());
    float[] ka = new float[k * in], kb = new float[out * k], ke = new float[k];
    for (int j = 0; j < k; j++) {
      System.arraycopy(a, kept[j] * in, ka, j * in, in);
      for (int o = 0; o < out; o++) kb[o * k + j] = b[o * r + kept[j]];
      ke[j] = e[kept[j]];
    }
    return List.of(host(prefix + ".lora_A", ka, k, in), host(prefix + ".lora_B", kb, out, k),
        host(prefix + ".lora_E", ke, k, 1));
  }

  private static float[] master(Parameter p) {
    return (p.master() != null ? p.master() : p.value()).toFloatArray();
  }

  private static TensorSource host(String name, float[] v, long... shape) {
    return TensorSource.computed(name, DType.F32, shape, () -> Tensor.fromFloats(v, DType.F32,
        jswift.tensor.Device.CPU, shape));
  }

  private static void check(LoraConfig config, String module, LoraAdapter a) {
    if (!config.targets(module))
      throw new IllegalArgumentException("adapter module " + module + " is not selected by target_modules "
          + config.targetModules() + ": PEFT would not load its weights; add it to target_modules");
    if (a.isBoft() != config.isBoft())
      throw new IllegalArgumentException("adapter module " + module + " is " + (a.isBoft() ? "a BOFT" : "not a BOFT")
          + " adapter but the config's peft_type is " + config.peftType());
    if (a.isBoft()) {
      jswift.nn.BoftRotation r = a.boft();
      int[] want = jswift.nn.BoftRotation.shape(module, (long) r.blockCount() * r.blockSize(), config.boftBlockSize(),
          config.boftBlockNum(), config.boftNButterflyFactor());
      if (want[0] != r.factors() || want[1] != r.blockCount() || want[2] != r.blockSize())
        throw new IllegalArgumentException("adapter module " + module + " has " + r.factors() + " butterfly factors of "
            + r.blockCount() + " blocks of " + r.blockSize() + ", but the config (" + config + ") gives " + want[0]
            + " of " + want[1] + " of " + want[2]);
      return;
    }
    if (a.isIa3() != config.isIa3() || (a.isIa3() && a.ia3Feedforward() != config.feedforward(module)))
      throw new IllegalArgumentException("adapter module " + module + " is " + (a.isIa3() ? (a.ia3Feedforward()
          ? "a feedforward IA3" : "an output-scaling IA3") : "a low-rank") + " adapter, which the config ("
          + config.peftType() + ", feedforward_modules " + config.fields().get("feedforward_modules") + ") does not say");
    if (a.isIa3()) return;
    if (a.isMiss() != config.isMiss() || (a.isMiss() && !config.peftType().equals("MISS")))
      throw new IllegalArgumentException("adapter module " + module + " is " + (a.isMiss() ? "a MiSS" : "not a MiSS")
          + " adapter but the config's peft_type is " + config.peftType() + " (jswift saves MiSS as MISS)");
    if (a.isFourier() != config.isFourierFt())
      throw new IllegalArgumentException("adapter module " + module + " is " + (a.isFourier() ? "a FourierFT" : "not a"
          + " FourierFT") + " adapter but the config's peft_type is " + config.peftType());
    if (a.isFourier()) {
      long out = a.bValue().size(0), in = a.aValue().size(1);
      int n = config.nFrequencyFor(module, out, in);
      double scale = jswift.nn.FourierBases.scale(config.ifft2Norm(), config.fourierScaling(), out, in);
      if (a.spectrum().value().numel() != n || Math.abs(a.scale() - scale) > 1e-6 * Math.abs(scale))
        throw new IllegalArgumentException("adapter module " + module + " has " + a.spectrum().value().numel()
            + " coefficients at scale " + a.scale() + ", but the config (" + config + ") gives " + n + " at " + scale);
      return;
    }
    if (a.rank() != (config.isAdaLora() ? config.initR() : config.rankFor(module)))
      throw new IllegalArgumentException("adapter module " + module + " has rank " + a.rank()
          + " but the config says " + (config.isAdaLora() ? "init_r=" + config.initR() : "r=" + config.rankFor(module)));
    boolean adaLora = a.isAdaLora();
    if (adaLora != config.isAdaLora())
      throw new IllegalArgumentException("adapter module " + module + " is " + (config.isAdaLora() ? "not " : "")
          + "an AdaLoRA adapter but the config's peft_type is " + config.peftType());
    if (a.isVera() != config.isVera())
      throw new IllegalArgumentException("adapter module " + module + " is " + (a.isVera() ? "a VeRA" : "a LoRA")
          + " adapter but the config's peft_type is " + config.peftType());
    if (a.isDora() != config.useDora())
      throw new IllegalArgumentException("adapter module " + module + " is " + (a.isDora() ? "a DoRA" : "a plain LoRA")
          + " adapter but the config says use_dora=" + config.useDora());
    double scale = config.scaleFor(module);
    // The adapter keeps its scale as a float; anything beyond float rounding means another alpha or rsLoRA setting.
    if (Math.abs(a.scale() - scale) > 1e-6 * Math.max(1, Math.abs(scale)))
      throw new IllegalArgumentException("adapter module " + module + " runs with scale " + a.scale()
          + " but the config's lora_alpha=" + config.alphaFor(module) + ", r=" + config.rankFor(module)
          + (config.useRslora() ? ", rsLoRA" : "") + " give " + scale);
  }

  /** The fp32 value of a parameter: its master copy when trained, else its value (cast when written). */
  static TensorSource fp32(String name, Parameter p) {
    Tensor t = p.master() != null ? p.master() : p.value();
    if (t.dtype() == DType.F32) return TensorSource.of(name, t);
    return TensorSource.computed(name, DType.F32, t.shape(), () -> t.to(DType.F32));
  }
}
