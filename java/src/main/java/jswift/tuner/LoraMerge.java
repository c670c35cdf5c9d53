package jswift.tuner;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import jswift.model.AtomicFile;
import jswift.model.Checkpoint;
import jswift.model.CheckpointWriter;
import jswift.model.SafetensorsFile;
import jswift.model.ShardPlan;
import jswift.model.TensorSource;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Kernels;
import jswift.tensor.Tensor;

/**
 * Folds a LoRA adapter into its base model ({@code swift export --merge_lora true}) and writes a plain Hugging Face
 * model folder: every adapted weight becomes W' = W + s B A, computed in fp32 on a device (a GEMM with beta = 1
 * into an fp32 copy of W) and cast back to W's stored dtype (DoRA: W' = (m / ||W + s B A||)[:, None] (W + s B A)
 * row by row, as PEFT merges it, which is exactly what the DoRA layer computes); every other tensor is copied byte for byte with its
 * stored dtype; config.json, generation_config.json and the tokenizer files are copied; the weights are written
 * by {@link CheckpointWriter} (sharded like transformers' save_pretrained, 5GB shards by default). Weights in the
 * adapter's modules_to_save replace the base's whole; when the embedding or the LM head is one of them the merged
 * config says tie_word_embeddings false and a tied base gets its own lm_head.weight (ms-swift's export does the
 * same).
 *
 * <p>It streams: one weight at a time is read, merged, written and freed, so neither the base model nor the merged
 * one is ever held in memory whole. The adapter is checked against the base before anything is written. An
 * output folder that exists and is not empty is refused unless {@code existOk} (ms-swift's {@code --exist_ok});
 * if the merge fails, the files it wrote are removed again.
 */
public final class LoraMerge {
  /** What is copied beside the weights when the base has it: the model's config and its tokenizer. */
  public static final List<String> COPIED_FILES = List.of("config.json", "generation_config.json", "tokenizer.json",
      "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja", "tokenizer.model", "vocab.json",
      "merges.txt", "added_tokens.json");

  private static final ObjectMapper JSON = new ObjectMapper();

  /** Where to compute, how large a shard may get, and whether a non-empty output folder may be written into. */
  public record Options(Device device, long maxShardSize, boolean existOk) {
    public static Options on(Device device) {
      return new Options(device, ShardPlan.parseSize(ShardPlan.DEFAULT_MAX_SHARD_SIZE), false);
    }

    public Options withMaxShardSize(long bytes) {
      return new Options(device, bytes, existOk);
    }

    public Options withExistOk(boolean ok) {
      return new Options(device, maxShardSize, ok);
    }
  }

  /** The merged folder, the files written into it, and how many weights the adapter changed. */
  public record Result(Path outputDir, List<Path> files, int mergedWeights) {}

  private LoraMerge() {}

  /** ms-swift's default output folder: {@code <adapter folder>-merged}, beside the adapter folder. */
  public static Path defaultOutputDir(Path adapterDir) {
    Path abs = adapterDir.toAbsolutePath().normalize();
    return abs.resolveSibling(abs.getFileName() + "-merged");
  }

  public static Result merge(Path baseDir, Path adapterDir, Path outDir, Options options) throws IOException {
    if (SwiftAdapterFolder.isSwiftTuner(adapterDir))
      throw new IllegalArgumentException(adapterDir + " holds an ms-swift tuner (--train_type adapter: a small MLP "
          + "after each layer's MLP; or reft: an intervention on a layer's output), nonlinear in the representation, "
          + "which no weight of the base can absorb, so it cannot be merged; use it as it is (infer / deploy / eval "
          + "--adapters " + adapterDir + ")");
    checkOutputDir(baseDir, adapterDir, outDir, options.existOk());
    refuseQuantizedBase(baseDir);
    // A sequence classifier's adapter (task_type SEQ_CLS: sft --task_type seq_cls, rlhf --rlhf_type rm) merges into
    // a *ForSequenceClassification model: the merged weights, its score head and a classifier's config.json.
    boolean classifier = "SEQ_CLS".equals(LoraConfig.read(adapterDir).fields().path("task_type").asText());
    try (Checkpoint base = Checkpoint.open(baseDir);
        PeftAdapterFolder adapter = PeftAdapterFolder.open(adapterDir, base)) {
      List<TensorSource> tensors = new ArrayList<>();
      Map<String, String> saved = adapter.savedModules();
      for (String name : base.names()) {
        PeftAdapterFolder.Module m = adapter.modules().get(stripWeight(name));
        // IA3 on outputs scales the layer's bias too, as PEFT's merge does
        PeftAdapterFolder.Module scaledBias = name.endsWith(".bias") ? adapter.modules().get(
            name.substring(0, name.length() - ".bias".length())) : null;
        if (scaledBias != null && scaledBias.isIa3() && !scaledBias.ia3Feedforward()) {
          tensors.add(ia3Scaled(base, adapter, scaledBias, name, options.device()));
          continue;
        }
        tensors.add(saved.containsKey(name) ? copied(adapter, saved.get(name), name, base.file(name).dtype(name),
            options.device()) : m == null ? TensorSource.stored(base.file(name), name)
            : m.isIa3() ? ia3Scaled(base, adapter, m, name, options.device())
            : m.isBoft() ? boftRotated(base, adapter, m, options.device()) : merged(base, adapter, m, options.device()));
      }
      // ms-swift: an embedding or LM head trained in full unties the word embeddings; a tied base then gets its own
      // lm_head.weight (the trained one, or the base embedding when only the embedding was trained).
      // LoRA on the embedding changes the input embedding only (PEFT's lora.Embedding): a tied LM head keeps the base.
      boolean untie = saved.containsKey(EMBED) || saved.containsKey(LM_HEAD)
          || adapter.modules().containsKey(jswift.model.CausalLM.EMBED_MODULE);
      if (untie && !base.contains(LM_HEAD)) {
        DType stored = base.file(EMBED).dtype(EMBED);
        tensors.add(saved.containsKey(LM_HEAD) ? copied(adapter, saved.get(LM_HEAD), LM_HEAD, stored, options.device())
            : TensorSource.computed(LM_HEAD, stored, base.file(EMBED).entry(EMBED).shape(),
                () -> base.file(EMBED).load(EMBED, stored, options.device())));
      }
      int labels = 0;
      if (classifier) {
        String key = jswift.model.ScoreHead.adapterKey(adapter.weights());
        if (key == null)
          throw new IOException(adapterDir + " is a sequence classifier's adapter (task_type SEQ_CLS) without its "
              + "score head (" + jswift.model.ScoreHead.ADAPTER_KEY + ")");
        labels = (int) adapter.weights().entry(key).shape()[0];
        tensors.add(copied(adapter, key, jswift.model.ScoreHead.MODEL_KEY, base.file(EMBED).dtype(EMBED),
            options.device()));
      }
      boolean created = !Files.exists(outDir);
      List<Path> written = new ArrayList<>();
      try {
        written.addAll(CheckpointWriter.write(outDir, tensors, options.maxShardSize()));
        for (String f : COPIED_FILES) {
          Path src = baseDir.resolve(f);
          if (!Files.isRegularFile(src)) continue;
          Path dst = outDir.resolve(f);
          if ((untie || classifier) && f.equals("config.json"))
            AtomicFile.writeString(dst, mergedConfig(src, untie, classifier ? labels : 0, adapterDir));
          else AtomicFile.copy(src, dst);
          written.add(dst);
        }
        return new Result(outDir, List.copyOf(written), adapter.modules().size());
      } catch (IOException | RuntimeException | Error e) {
        AtomicFile.deleteAll(written, e);  // weights without their config.json are not a usable model
        if (created) deleteIfEmpty(outDir, e);
        throw e;
      }
    }
  }

  /**
   * W + s B A (DoRA: rescaled per row to the magnitude) in fp32 on the device, then W's stored dtype; computed only
   * when the writer reaches it.
   */
  private static TensorSource merged(Checkpoint base, PeftAdapterFolder adapter, PeftAdapterFolder.Module m,
      Device device) throws IOException {
    String name = m.weightName();
    SafetensorsFile file = base.file(name);
    DType stored = floatDtype(file, name, "LoRA");
    SafetensorsFile ab = adapter.weights();
    float scale = (float) m.scale();
    return TensorSource.computed(name, stored, file.entry(name).shape(), () -> {
      Tensor w = file.load(name, DType.F32, device);
      boolean returned = false;
      Tensor[] ba = adapter.factors(m, w.size(0), w.size(1), device);
      try (Tensor a = ba[0]; Tensor b = ba[1]) {
        Kernels.matmul(b, false, a, false, w, scale, 1f);
        if (m.magnitudeKey() != null) rescaleRows(w, ab, m.magnitudeKey(), device);
        if (stored == DType.F32) {
          returned = true;
          return w;
        }
        return w.to(stored);
      } finally {
        if (!returned) w.close();
      }
    });
  }

  /**
   * An IA3 module's weight (or bias) times its vector, in fp32, cast back to the stored dtype: W[:, j] l[j] for a
   * feedforward module, W[i, :] l[i] (and b[i] l[i]) otherwise (PEFT's IA3 merge).
   */
  private static TensorSource ia3Scaled(Checkpoint base, PeftAdapterFolder adapter, PeftAdapterFolder.Module m,
      String name, Device device) throws IOException {
    SafetensorsFile file = base.file(name);
    DType stored = floatDtype(file, name, "IA3");
    long[] shape = file.entry(name).shape();
    return TensorSource.computed(name, stored, shape, () -> {
      float[] l = adapter.weights().floats(m.aKey());
      try (Tensor w = file.load(name, DType.F32, device);
          Tensor v = Tensor.fromFloats(l, DType.F32, device, l.length)) {
        if (shape.length == 1 || !m.ia3Feedforward()) Kernels.scaleRowsCols(w.view(-1, shape.length == 1 ? 1
            : shape[1]), v, null, w.view(-1, shape.length == 1 ? 1 : shape[1]));
        else Kernels.scaleRowsCols(w, null, v, w);
        return w.to(stored);
      }
    });
  }

  /**
   * A BOFT module's weight rotated and scaled, s ⊙ (W R^T) (PEFT's BOFT merge; the bias is unchanged), in fp32 and
   * cast back to the stored dtype: each row of W goes through M_0^T, M_1^T, ... (R^T = M_0^T ... M_{N-1}^T) with the
   * same kernels as the layer's forward.
   */
  private static TensorSource boftRotated(Checkpoint base, PeftAdapterFolder adapter, PeftAdapterFolder.Module m,
      Device device) throws IOException {
    String name = m.weightName();
    SafetensorsFile file = base.file(name);
    DType stored = floatDtype(file, name, "BOFT");
    long[] shape = file.entry(name).shape();
    return TensorSource.computed(name, stored, shape, () -> {
      float[] s = adapter.weights().floats(m.bKey());
      try (Tensor w = file.load(name, DType.F32, device);
          jswift.nn.BoftRotation rot = new jswift.nn.BoftRotation(
              new jswift.nn.Parameter(m.aKey(), adapter.weights().load(m.aKey(), DType.F32, device)),
              new jswift.nn.Parameter(m.bKey(), Tensor.fromFloats(s, DType.F32, device, s.length)), shape[1], 0f);
          Tensor rotated = rot.rotateRows(w)) {
        Kernels.scaleRowsCols(rotated, rot.scale().value(), null, rotated);
        return rotated.to(stored);
      }
    });
  }

  /** A base weight's stored float dtype; a quantized (integer) one cannot take a merge: an error names it. */
  private static DType floatDtype(SafetensorsFile file, String name, String method) throws IOException {
    DType stored = file.dtype(name);
    if (stored == null || !stored.isFloatingPoint())
      throw new IOException(file.path() + ": '" + name + "' is stored as " + file.entry(name).dtype() + "; " + method
          + " merges into float32 / bfloat16 / float16 weights only (is the base quantized?)");
    return stored;
  }

  private static final String EMBED = "model.embed_tokens.weight", LM_HEAD = "lm_head.weight";

  /** A modules_to_save tensor of the adapter, written under the base's name in the base's dtype. */
  private static TensorSource copied(PeftAdapterFolder adapter, String key, String name, DType stored, Device device)
      throws IOException {
    if (stored == null || !stored.isFloatingPoint())
      throw new IOException("'" + name + "' of the base is not a float tensor; modules_to_save replaces float weights");
    SafetensorsFile file = adapter.weights();
    return TensorSource.computed(name, stored, file.entry(key).shape(), () -> file.load(key, stored, device));
  }

  /**
   * The merged model's config.json, as transformers writes it (indent 2, sorted keys, newline): with
   * tie_word_embeddings false when {@code untie}; a sequence classifier's when {@code labels} > 0 (its problem_type
   * from the run's args.json beside the adapter, else the default for its labels).
   */
  private static String mergedConfig(Path src, boolean untie, int labels, Path adapterDir) throws IOException {
    com.fasterxml.jackson.databind.node.ObjectNode c = (com.fasterxml.jackson.databind.node.ObjectNode) JSON.readTree(
        src.toFile());
    if (untie) c.put("tie_word_embeddings", false);
    if (labels > 0) {
      Path args = adapterDir.resolve("args.json");
      String type = Files.exists(args) ? JSON.readTree(args.toFile()).path("problem_type").asText(null) : null;
      jswift.model.ScoreHead.classifierConfig(c, labels, jswift.model.ProblemType.parse(type, labels));
    }
    return jswift.template.PythonJson.dumps(LoraConfig.sorted(c), 2, true) + "\n";
  }

  /** w (f32 [out, in]) *= m / ||w|| per row: DoRA's merge, with w = W + s B A. */
  private static void rescaleRows(Tensor w, SafetensorsFile adapter, String magnitudeKey, Device device)
      throws IOException {
    long out = w.size(0);
    try (Tensor magnitude = adapter.load(magnitudeKey, DType.F32, device);
        Tensor invNorm = Tensor.allocate(DType.F32, device, out);
        Tensor factor = Tensor.allocate(DType.F32, device, out)) {
      Kernels.rowNorm(w, null, invNorm);
      Kernels.scaleRowsCols(magnitude.view(1, out), null, invNorm, factor.view(1, out));
      Kernels.scaleRowsCols(w, factor, null, w);
    }
  }

  private static String stripWeight(String name) {
    return name.endsWith(".weight") ? name.substring(0, name.length() - ".weight".length()) : name;
  }

  private static void checkOutputDir(Path baseDir, Path adapterDir, Path outDir, boolean existOk) throws IOException {
    Path out = outDir.toAbsolutePath().normalize();
    for (Path in : List.of(baseDir, adapterDir)) {
      boolean same = out.equals(in.toAbsolutePath().normalize())
          || (Files.exists(outDir) && Files.exists(in) && Files.isSameFile(outDir, in));
      if (same)
        throw new IllegalArgumentException("the output folder " + outDir + " is an input of the merge; choose another");
    }
    if (!Files.exists(outDir)) return;
    if (!Files.isDirectory(outDir))
      throw new FileAlreadyExistsException(outDir.toString(), null, "exists and is not a folder");
    if (existOk) return;
    try (Stream<Path> entries = Files.list(outDir)) {
      if (entries.findAny().isPresent())
        throw new FileAlreadyExistsException(outDir.toString(), null, "the output folder exists and is not empty; "
            + "pass --exist_ok true (Options.withExistOk) to write into it, replacing files of the same names");
    }
  }

  /** ms-swift merges on the unquantized base only; a quantized checkpoint has no float weights to add to. */
  private static void refuseQuantizedBase(Path baseDir) throws IOException {
    Path cfg = baseDir.resolve("config.json");
    if (!Files.exists(cfg)) throw new IOException(baseDir + " has no config.json: is it a Hugging Face model folder?");
    JsonNode q = JSON.readTree(cfg.toFile()).get("quantization_config");
    if (q != null && !q.isNull())
      throw new IOException(cfg + " describes a quantized model (" + q.path("quant_method").asText("?") + "); merge the"
          + " adapter into the unquantized base model instead");
  }

  private static void deleteIfEmpty(Path dir, Throwable cause) {
    try {
      if (!Files.isDirectory(dir)) return;
      try (Stream<Path> entries = Files.list(dir)) {
        if (entries.findAny().isPresent()) return;
      }
      Files.delete(dir);
    } catch (IOException e) {
      cause.addSuppressed(e);
    }
  }
}
