package jswift.quant;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;
import jswift.model.Checkpoint;
import jswift.model.CheckpointWriter;
import jswift.model.ModelConfig;
import jswift.model.SafetensorsDtype;
import jswift.model.SafetensorsFile;
import jswift.model.SafetensorsWriter;
import jswift.model.TensorSource;
import jswift.nn.AttentionLayout;
import jswift.nn.Linear;
import jswift.nn.Parameter;
import jswift.nn.Rope;
import jswift.tensor.Arena;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Kernels;
import jswift.tensor.Tensor;
import jswift.tuner.LoraMerge;

/**
 * Quantizes a Hugging Face model folder with GPTQ, layer by layer, into an AutoGPTQ "gptq" (v1) checkpoint that
 * transformers / AutoGPTQ / GPTQModel load. Only one decoder layer is dense (fp32, on the CPU or a GPU) at a time, next to the
 * calibration hidden states: the embeddings of the calibration blocks go through layer 0, whose linears are
 * quantized group by group in true-sequential order (each group's Hessian from inputs that already saw the
 * quantized earlier groups); the quantized layer's outputs are the next layer's inputs. Embeddings, norms and
 * the LM head are written in f16 (GPTQ checkpoints are f16 models). Each packed layer is parked in a file until
 * the shards are written, so the heap never holds more than one. The folder appears complete or not at all:
 * everything is written into a temporary sibling that is renamed at the end.
 */
public final class GptqExporter {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String PART_PREFIX = "packed-layer-";

  private GptqExporter() {}

  /** The quantization error and time of one linear. */
  public record LinearReport(String module, double loss, double seconds) {}

  /** What an export did. */
  public record Result(Path outputDir, List<LinearReport> linears, double seconds, long weightBytes,
      long calibrationTokens) {}

  /**
   * Quantizes {@code modelDir} into {@code outDir} (which must not exist or be empty) with the calibration token
   * blocks (each one sequence). Progress goes to {@code log}, one line per layer.
   */
  public static Result export(Path modelDir, Path outDir, List<int[]> calibration, GptqConfig config,
      long maxShardSize, PrintWriter log) throws IOException {
    return export(modelDir, outDir, calibration, config, maxShardSize, log, Device.CPU);
  }

  /**
   * As {@link #export(Path, Path, List, GptqConfig, long, PrintWriter)}, with the layer, its calibration hidden
   * states, the Hessians and the quantizer on {@code device} (CUDA: the GPTQ kernels' CUDA twins, which agree with
   * the CPU's to fp32 rounding).
   */
  public static Result export(Path modelDir, Path outDir, List<int[]> calibration, GptqConfig config,
      long maxShardSize, PrintWriter log, Device device) throws IOException {
    long start = System.nanoTime();
    Path tmp = startOutput(modelDir, outDir, calibration, "GPTQ");
    ModelConfig cfg = ModelConfig.load(modelDir);
    List<LinearReport> reports = new ArrayList<>();
    long tokens = 0, weightBytes;
    boolean ok = false;
    try (Checkpoint ckpt = Checkpoint.open(modelDir); Rope rope = new Rope(cfg, device)) {
      List<TensorSource> out = new ArrayList<>();
      List<Block> blocks = new ArrayList<>();
      List<SafetensorsFile> parts = new ArrayList<>();
      Files.createDirectories(tmp);
      try {
        try (Tensor embed = ckpt.load("model.embed_tokens.weight", new long[] {cfg.vocabSize(), cfg.hiddenSize()},
            DType.F32, device)) {
          for (int[] ids : calibration) {
            blocks.add(new Block(ids, embed, cfg.hiddenSize()));
            tokens += ids.length;
          }
        }
        long layerBytes = 0;
        for (int i = 0; i < cfg.numHiddenLayers(); i++) {
          long t0 = System.nanoTime();
          try (DenseLayer layer = new DenseLayer(cfg, ckpt, i, device)) {
            List<GptqPacked> packed = quantizeLayer(layer, blocks, rope, config, reports);
            for (Block b : blocks) b.advance(layer, rope);
            List<TensorSource> layerTensors = new ArrayList<>();
            for (GptqPacked p : packed) {
              layerTensors.addAll(p.tensors());
              layerBytes += p.bytes();
            }
            layerBytes += parkLayer(tmp, i, layer, layerTensors, parts, out);
          }
          double loss = 0;
          for (LinearReport r : reports.subList(reports.size() - 7, reports.size())) loss += r.loss();
          log.printf(Locale.ROOT, "[GPTQ] layer %d/%d quantized in %.1f s (error %.4g, summed over its 7 linears)%n",
              i + 1, cfg.numHiddenLayers(), (System.nanoTime() - t0) / 1e9, loss);
          log.flush();
        }
        weightBytes = layerBytes + addF16(out, ckpt, "model.norm.weight", cfg.hiddenSize())
            + addF16(out, ckpt, "model.embed_tokens.weight", cfg.vocabSize(), cfg.hiddenSize());
        if (!cfg.tieWordEmbeddings() && ckpt.contains("lm_head.weight"))
          weightBytes += addF16(out, ckpt, "lm_head.weight", cfg.vocabSize(), cfg.hiddenSize());
        CheckpointWriter.write(tmp, out, maxShardSize);
      } finally {
        for (Block b : blocks) b.close();
        for (SafetensorsFile f : parts) {
          f.close();
          Files.deleteIfExists(f.path());
        }
      }
      writeConfigs(modelDir, tmp, config);
      move(tmp, outDir);
      ok = true;
    } finally {
      if (!ok) deleteTree(tmp);
    }
    return new Result(outDir, reports, (System.nanoTime() - start) / 1e9, weightBytes, tokens);
  }

  /**
   * Writes one quantized layer's tensors (its packed linears, already in {@code layerTensors}, plus its norms in
   * f16) to a part file in {@code tmp} and adds them to {@code out} as stored tensors; returns the norms' bytes.
   * Parked on disk until the final shards are written (copied file to file then), so the heap holds one packed
   * layer at a time, whatever the model's size.
   */
  static long parkLayer(Path tmp, int index, DenseLayer layer, List<TensorSource> layerTensors,
      List<SafetensorsFile> parts, List<TensorSource> out) throws IOException {
    long bytes = 0;
    for (Parameter p : layer.others.values()) {
      byte[] f16 = GptqPacked.f16(p.value().toFloatArray());
      layerTensors.add(TensorSource.of(p.name(), SafetensorsDtype.F16, p.value().shape(), f16));
      bytes += f16.length;
    }
    Path part = tmp.resolve(PART_PREFIX + index + ".safetensors");
    SafetensorsWriter.write(part, layerTensors, SafetensorsWriter.PT_METADATA);
    SafetensorsFile f = SafetensorsFile.open(part);
    parts.add(f);
    for (String name : f.names()) out.add(TensorSource.stored(f, name));
    return bytes;
  }

  /** One calibration sequence: its hidden states [len, hidden] entering the current layer. */
  static final class Block implements AutoCloseable {
    final int length;
    final Tensor positions;
    Tensor hidden;

    Block(int[] ids, Tensor embed, int hiddenSize) {
      length = ids.length;
      int[] pos = new int[length];
      for (int t = 0; t < length; t++) pos[t] = t;
      Device d = embed.device();  // the hidden states live where the embedding table does
      positions = Tensor.fromInts(pos, d, length);
      hidden = Tensor.allocate(DType.F32, d, length, hiddenSize);
      try (Tensor idsT = Tensor.fromInts(ids, d, length)) {
        Kernels.embeddingForward(idsT, embed, hidden);
      }
    }

    AttentionLayout layout() {
      return new AttentionLayout(length, null, null, positions);
    }

    /** Runs the layer (the inputs it sees reach any observers); the output is dropped. */
    void run(DenseLayer layer, Rope rope) {
      try (Arena a = new Arena()) {
        layer.layer.forward(a, hidden, layout(), rope, 0, null, null);
      }
    }

    /** Replaces the hidden states by the layer's output. */
    void advance(DenseLayer layer, Rope rope) {
      try (Arena a = new Arena()) {
        Tensor y = layer.layer.forward(a, hidden, layout(), rope, 0, null, null);
        hidden.copyFrom(y);
      }
    }

    @Override
    public void close() {
      positions.close();
      hidden.close();
    }
  }

  /**
   * GPTQ on every linear of a layer, in true-sequential groups (or all from the dense layer's inputs when
   * true_sequential is off). Each quantized weight replaces the dense one in the layer right away, so the next
   * group's Hessian comes from inputs that went through it, as AutoGPTQ does.
   */
  static List<GptqPacked> quantizeLayer(DenseLayer layer, List<Block> blocks, Rope rope, GptqConfig config,
      List<LinearReport> reports) {
    List<List<Linear>> groups = layer.sequentialGroups();
    if (!config.trueSequential()) {
      // One pass over the dense layer gives every Hessian; quantizing then cannot change any group's inputs.
      groups = List.of(groups.stream().flatMap(List::stream).toList());
    }
    List<GptqPacked> packed = new ArrayList<>();
    for (List<Linear> group : groups) {
      List<Hessian> hessians = new ArrayList<>();
      try {
        for (Linear l : group) hessians.add(new Hessian(l));
        // Linears that share an input share its Hessian: observe only the first of each input.
        List<Hessian> observed = new ArrayList<>();
        for (Hessian h : hessians)
          if (observed.stream().noneMatch(o -> sameInput(o.linear, h.linear, layer))) observed.add(h);
        for (Hessian h : observed) h.linear.setInputObserver(h::add);
        try {
          for (Block b : blocks) b.run(layer, rope);
        } finally {
          for (Hessian h : observed) h.linear.setInputObserver(null);
        }
        for (Hessian h : hessians) {
          Hessian source = h.seen > 0 ? h : observed.stream().filter(o -> sameInput(o.linear, h.linear, layer))
              .findFirst().orElseThrow();
          packed.add(quantizeLinear(h.linear, source.h, config, reports));
        }
      } finally {
        for (Hessian h : hessians) h.close();
      }
    }
    return packed;
  }

  /** q, k, v read the input norm's output; gate and up the post-attention norm's. */
  private static boolean sameInput(Linear a, Linear b, DenseLayer layer) {
    if (a == b) return true;
    Linear[] at = layer.layer.attention().projections(), m = layer.layer.mlp().projections();
    List<Linear> qkv = List.of(at[0], at[1], at[2]), gateUp = List.of(m[0], m[1]);
    return (qkv.contains(a) && qkv.contains(b)) || (gateUp.contains(a) && gateUp.contains(b));
  }

  /** A running Hessian 2/N sum x x^T of one linear's inputs. */
  private static final class Hessian implements AutoCloseable {
    final Linear linear;
    final Tensor h;
    long seen;

    Hessian(Linear linear) {
      this.linear = linear;
      this.h = Tensor.zeros(DType.F32, linear.weight().value().device(), linear.inFeatures(), linear.inFeatures());
    }

    void add(Tensor x) {
      Kernels.gptqHessianAdd(x, h, seen);
      seen += x.size(0);
    }

    @Override
    public void close() {
      h.close();
    }
  }

  private static GptqPacked quantizeLinear(Linear l, Tensor hessian, GptqConfig c, List<LinearReport> reports) {
    long t0 = System.nanoTime();
    long out = l.outFeatures(), in = l.inFeatures(), groups = c.groups(in);
    int p = 32 / c.bits();
    if (in % p != 0 || out % p != 0)
      throw new IllegalArgumentException(l.name() + ": a [" + out + ", " + in + "] weight cannot be packed in the "
          + "GPTQ v1 layout at " + c.bits() + " bits (both dimensions must be multiples of " + p + ")");
    Device d = l.weight().value().device();
    try (Tensor w = Tensor.allocate(DType.F32, d, out, in);
        Tensor h = Tensor.allocate(DType.F32, d, in, in);
        Tensor codes = Tensor.allocate(DType.I32, d, out, in);
        Tensor scales = Tensor.allocate(DType.F32, d, groups, out);
        Tensor zeros = Tensor.allocate(DType.I32, d, groups, out);
        Tensor gIdx = Tensor.allocate(DType.I32, d, in)) {
      w.copyFrom(l.weight().value());
      h.copyFrom(hessian);  // the quantizer destroys its Hessian, which another linear may share
      double loss;
      try {
        loss = Kernels.gptqQuantize(w, h, c.bits(), c.groupSize(), c.sym(), c.descAct(), c.dampPercent(), codes,
            scales, zeros, gIdx);
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException(l.name() + ": " + e.getMessage(), e);
      }
      l.weight().value().copyFrom(w);  // later groups see this layer quantized
      float[] bias = l.bias() == null ? null : l.bias().value().toFloatArray();
      GptqPacked packed = GptqPacked.of(l.name(), in, out, c.bits(), groups, codes.toIntArray(),
          scales.toFloatArray(), zeros.toIntArray(), gIdx.toIntArray(), bias);
      reports.add(new LinearReport(l.name(), loss, (System.nanoTime() - t0) / 1e9));
      return packed;
    }
  }

  static long addF16(List<TensorSource> out, Checkpoint ckpt, String name, long... shape) {
    out.add(TensorSource.computed(name, DType.F16, shape, () -> ckpt.load(name, shape, DType.F16, Device.CPU)));
    long n = 2;
    for (long d : shape) n *= d;
    return n;
  }

  /**
   * The checks every calibrated export makes before any work (an unquantized model, calibration blocks, an absent
   * or empty output folder), then the fresh temporary sibling {@code <out>.incomplete} it writes into and renames
   * when complete; {@code method} ("GPTQ", "AWQ") names it in the messages.
   */
  static Path startOutput(Path modelDir, Path outDir, List<int[]> calibration, String method) throws IOException {
    refuseQuantized(modelDir);
    if (calibration.isEmpty())
      throw new IllegalArgumentException(method + " needs calibration data (--dataset): no token blocks were given");
    return startOutput(modelDir, outDir);
  }

  /** {@link #startOutput(Path, Path, List, String)}'s checks for an export without calibration (bnb, fp8). */
  static Path startOutput(Path modelDir, Path outDir) throws IOException {
    refuseQuantized(modelDir);
    if (Files.exists(outDir)) {
      try (Stream<Path> s = Files.list(outDir)) {
        if (s.findAny().isPresent())
          throw new IllegalArgumentException("output folder " + outDir + " exists and is not empty: remove it or "
              + "choose another --output_dir");
      }
    }
    Path tmp = outDir.toAbsolutePath().resolveSibling(outDir.getFileName() + ".incomplete");
    deleteTree(tmp);
    return tmp;
  }

  static void refuseQuantized(Path modelDir) throws IOException {
    Path cfg = modelDir.resolve("config.json");
    if (!Files.exists(cfg)) throw new IOException(cfg + " not found: is " + modelDir + " a Hugging Face model folder?");
    JsonNode q = JSON.readTree(cfg.toFile()).path("quantization_config");
    if (!q.isMissingNode() && !q.isNull())
      throw new IllegalArgumentException(modelDir + " is already quantized (config.json has a quantization_config "
          + "with quant_method '" + q.path("quant_method").asText("?") + "'): quantize the original model");
  }

  /** config.json with quantization_config and an f16 dtype, quantize_config.json, and the tokenizer files. */
  private static void writeConfigs(Path modelDir, Path dir, GptqConfig config) throws IOException {
    ObjectNode cfg = (ObjectNode) JSON.readTree(modelDir.resolve("config.json").toFile());
    cfg.set("quantization_config", config.quantizationConfigJson());
    if (cfg.has("dtype") || !cfg.has("torch_dtype")) cfg.put("dtype", "float16");
    if (cfg.has("torch_dtype")) cfg.put("torch_dtype", "float16");
    Files.writeString(dir.resolve("config.json"), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(cfg) + "\n");
    Files.writeString(dir.resolve("quantize_config.json"),
        JSON.writerWithDefaultPrettyPrinter().writeValueAsString(config.quantizeConfigJson()) + "\n");
    for (String name : LoraMerge.COPIED_FILES) {
      if (name.equals("config.json")) continue;
      Path src = modelDir.resolve(name);
      if (Files.exists(src)) Files.copy(src, dir.resolve(name), StandardCopyOption.REPLACE_EXISTING);
    }
  }

  static void move(Path tmp, Path outDir) throws IOException {
    if (Files.exists(outDir)) Files.delete(outDir);  // checked empty above
    try {
      Files.move(tmp, outDir, StandardCopyOption.ATOMIC_MOVE);
    } catch (AtomicMoveNotSupportedException e) {
      Files.move(tmp, outDir);
    }
  }

  static void deleteTree(Path dir) throws IOException {
    if (!Files.exists(dir)) return;
    try (Stream<Path> s = Files.walk(dir)) {
      for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.delete(p);
    }
  }
}
