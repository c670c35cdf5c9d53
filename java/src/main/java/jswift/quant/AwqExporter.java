package jswift.quant;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import jswift.model.Checkpoint;
import jswift.model.CheckpointWriter;
import jswift.model.ModelConfig;
import jswift.model.SafetensorsFile;
import jswift.model.TensorSource;
import jswift.nn.Attention;
import jswift.nn.Linear;
import jswift.nn.Mlp;
import jswift.nn.Rope;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Kernels;
import jswift.tensor.Tensor;
import jswift.tuner.LoraMerge;

/**
 * Quantizes a Hugging Face model folder with AWQ, layer by layer, into an AutoAWQ "GEMM" checkpoint that
 * transformers / AutoAWQ / vLLM load. As AutoAWQ's quantizer: one decoder layer is dense (fp32, CPU) at a time; the
 * calibration hidden states go through it once, recording the inputs of q/k/v, o, gate/up and down (and its fp
 * outputs become the next layer's inputs); the four scale searches ({@link AwqScales}) run on those inputs against
 * the unmodified layer, the scales are folded into the norms and the v / up rows, the clip search ({@link AwqClip},
 * all linears but q and k) runs on the scaled weights, and each linear is quantized with zero points
 * ({@link AwqQuantizer}) and packed ({@link AwqLayout}). Embeddings, norms and the LM head are written in f16 (AWQ
 * checkpoints are f16 models). Each packed layer is parked in a file until the shards are written; the folder
 * appears complete or not at all (written into a temporary sibling renamed at the end). Peak memory is one layer
 * in fp32 plus the calibration hidden states and the four recorded inputs of the current layer.
 */
public final class AwqExporter {
  private static final ObjectMapper JSON = new ObjectMapper();

  private AwqExporter() {}

  /**
   * The output error of one quantized linear on (at most 512) sampled calibration tokens: mean squared difference
   * between what the checkpoint computes (inputs divided by the folded scales, AWQ's weights) and the original fp
   * linear, and the same for plain round-to-nearest of the original weight with the same bits and groups.
   */
  public record LinearReport(String module, double error, double rtnError, double seconds) {}

  /** What an export did. */
  public record Result(Path outputDir, List<LinearReport> linears, double seconds, long weightBytes,
      long calibrationTokens) {}

  /**
   * Quantizes {@code modelDir} into {@code outDir} (which must not exist or be empty) with the calibration token
   * blocks (each one sequence). Progress goes to {@code log}, one line per layer.
   */
  public static Result export(Path modelDir, Path outDir, List<int[]> calibration, AwqConfig config,
      long maxShardSize, PrintWriter log) throws IOException {
    long start = System.nanoTime();
    Path tmp = GptqExporter.startOutput(modelDir, outDir, calibration, "AWQ");
    ModelConfig cfg = ModelConfig.load(modelDir);
    List<LinearReport> reports = new ArrayList<>();
    long tokens = 0, weightBytes;
    boolean ok = false;
    try (Checkpoint ckpt = Checkpoint.open(modelDir); Rope rope = new Rope(cfg, Device.CPU)) {
      List<TensorSource> out = new ArrayList<>();
      List<GptqExporter.Block> blocks = new ArrayList<>();
      List<SafetensorsFile> parts = new ArrayList<>();
      Files.createDirectories(tmp);
      try {
        try (Tensor embed = ckpt.load("model.embed_tokens.weight", new long[] {cfg.vocabSize(), cfg.hiddenSize()},
            DType.F32, Device.CPU)) {
          for (int[] ids : calibration) {
            blocks.add(new GptqExporter.Block(ids, embed, cfg.hiddenSize()));
            tokens += ids.length;
          }
        }
        long layerBytes = 0;
        for (int i = 0; i < cfg.numHiddenLayers(); i++) {
          long t0 = System.nanoTime();
          int first = reports.size();
          try (DenseLayer layer = new DenseLayer(cfg, ckpt, i)) {
            List<AwqPacked> packed = quantizeLayer(layer, blocks, rope, config, reports);
            List<TensorSource> layerTensors = new ArrayList<>();
            for (AwqPacked p : packed) {
              layerTensors.addAll(p.tensors());
              layerBytes += p.bytes();
            }
            // the norms go in with the scales folded into them
            layerBytes += GptqExporter.parkLayer(tmp, i, layer, layerTensors, parts, out);
          }
          double err = 0, rtn = 0;
          for (LinearReport r : reports.subList(first, reports.size())) {
            err += r.error();
            rtn += r.rtnError();
          }
          log.printf(Locale.ROOT, "[AWQ] layer %d/%d quantized in %.1f s (output error %.4g, round-to-nearest %.4g, "
              + "summed over its 7 linears)%n", i + 1, cfg.numHiddenLayers(), (System.nanoTime() - t0) / 1e9, err, rtn);
          log.flush();
        }
        weightBytes = layerBytes + GptqExporter.addF16(out, ckpt, "model.norm.weight", cfg.hiddenSize())
            + GptqExporter.addF16(out, ckpt, "model.embed_tokens.weight", cfg.vocabSize(), cfg.hiddenSize());
        if (!cfg.tieWordEmbeddings() && ckpt.contains("lm_head.weight"))
          weightBytes += GptqExporter.addF16(out, ckpt, "lm_head.weight", cfg.vocabSize(), cfg.hiddenSize());
        CheckpointWriter.write(tmp, out, maxShardSize);
      } finally {
        for (GptqExporter.Block b : blocks) b.close();
        for (SafetensorsFile f : parts) {
          f.close();
          Files.deleteIfExists(f.path());
        }
      }
      writeConfigs(modelDir, tmp, config);
      GptqExporter.move(tmp, outDir);
      ok = true;
    } finally {
      if (!ok) GptqExporter.deleteTree(tmp);
    }
    return new Result(outDir, reports, (System.nanoTime() - start) / 1e9, weightBytes, tokens);
  }

  /**
   * AWQ on one layer: record the inputs, search the four scale groups on the unmodified layer, fold them, then clip
   * and quantize every linear. The blocks' hidden states advance through the fp layer (AutoAWQ feeds each layer the
   * previous one's unquantized outputs).
   */
  static List<AwqPacked> quantizeLayer(DenseLayer layer, List<GptqExporter.Block> blocks, Rope rope, AwqConfig config,
      List<LinearReport> reports) {
    Linear[] a = layer.layer.attention().projections(), m = layer.layer.mlp().projections();
    Linear q = a[0], k = a[1], v = a[2], o = a[3], gate = m[0], up = m[1], down = m[2];
    long gs = config.groupSize();
    for (Linear l : List.of(q, k, v, o, gate, up, down))
      if (l.inFeatures() % gs != 0 || l.outFeatures() % 8 != 0)
        throw new IllegalArgumentException(l.name() + ": a [" + l.outFeatures() + ", " + l.inFeatures() + "] weight "
            + "cannot be packed in AWQ's GEMM layout with group_size " + gs + " (in must be a multiple of the group "
            + "size, out a multiple of 8)");
    Map<Linear, List<Tensor>> inputs = new IdentityHashMap<>();
    try {
      for (Linear l : List.of(q, o, gate, down)) {
        List<Tensor> seen = new ArrayList<>();
        inputs.put(l, seen);
        l.setInputObserver(x -> {
          Tensor c = Tensor.allocate(DType.F32, Device.CPU, x.shape());
          c.copyFrom(x);
          seen.add(c);
        });
      }
      try {
        for (GptqExporter.Block b : blocks) b.advance(layer, rope);
      } finally {
        for (Linear l : inputs.keySet()) l.setInputObserver(null);
      }
      Map<Linear, float[]> original = new IdentityHashMap<>();
      for (Linear l : List.of(q, k, v, o, gate, up, down)) original.put(l, l.weight().value().toFloatArray());

      // [1] every scale from the unmodified layer, as AutoAWQ computes its scales_list before apply_scale
      Attention attn = layer.layer.attention();
      Mlp mlp = layer.layer.mlp();
      AwqScales.Module attnFn = (ar, x, b) -> attn.forward(ar, x, blocks.get(b).layout(), rope, 0, null, false);
      AwqScales.Module mlpFn = (ar, x, b) -> mlp.forward(ar, x, 0, null, false);
      float[] sQkv = AwqScales.search(List.of(q, k, v), inputs.get(q), attnFn, gs).scales();
      // v -> o only when v's output is o's input channel for channel (AutoAWQ: equal weight shapes, i.e. no GQA)
      boolean vo = v.outFeatures() == o.outFeatures() && v.inFeatures() == o.inFeatures();
      float[] sO = vo ? AwqScales.search(List.of(o), inputs.get(o), linearFn(o), gs).scales() : null;
      float[] sGateUp = AwqScales.search(List.of(gate, up), inputs.get(gate), mlpFn, gs).scales();
      float[] sDown = AwqScales.search(List.of(down), inputs.get(down), linearFn(down), gs).scales();

      // [2] fold them
      AwqScales.foldIntoNorm(layer.layer.inputNorm(), List.of(q, k, v), sQkv);
      if (sO != null) AwqScales.foldIntoLinear(v, List.of(o), sO);
      AwqScales.foldIntoNorm(layer.layer.postNorm(), List.of(gate, up), sGateUp);
      AwqScales.foldIntoLinear(up, List.of(down), sDown);

      // [3] clip (not q / k: their product goes through the softmax, AutoAWQ leaves them) and [4] quantize
      List<AwqPacked> packed = new ArrayList<>();
      Map<Linear, float[]> scaleOf = new IdentityHashMap<>();
      for (Linear l : List.of(q, k, v)) scaleOf.put(l, sQkv);
      scaleOf.put(o, sO);
      scaleOf.put(gate, sGateUp);
      scaleOf.put(up, sGateUp);
      scaleOf.put(down, sDown);
      Map<Linear, Linear> inputOf = new IdentityHashMap<>(Map.of(q, q, k, q, v, q, o, o, gate, gate, up, gate,
          down, down));
      Map<Linear, float[]> samples = new IdentityHashMap<>();
      int[] rows = new int[1];
      for (Linear l : List.of(q, o, gate, down)) samples.put(l, AwqClip.sample(inputs.get(l), l.inFeatures(), rows));
      int n = rows[0];  // every input has one row per calibration token, so the same sample size
      for (Linear l : List.of(q, k, v, o, gate, up, down)) {
        long t0 = System.nanoTime(), out = l.outFeatures(), in = l.inFeatures();
        float[] x = samples.get(inputOf.get(l)), s = scaleOf.get(l), xs = x.clone();
        if (s != null)
          for (int i = 0; i < xs.length; i++) xs[i] /= s[(int) (i % in)];
        float[] w = l.weight().value().toFloatArray();
        if (l != q && l != k) AwqClip.clip(w, out, in, gs, xs, n);
        AwqQuantizer.Result r = AwqQuantizer.quantize(w, out, in, gs);
        l.weight().value().copyFrom(r.values());
        float[] w0 = original.get(l), rowScale = l == v ? sO : l == up ? sDown : null;
        // v's and up's rows were divided by the next group's scales (o / down multiply them back): in the fp
        // model's units, their output error is the quantized rows times those scales.
        float[] back = r.values().clone();
        if (rowScale != null)
          for (int i = 0; i < back.length; i++) back[i] *= rowScale[(int) (i / in)];
        double err = outputError(xs, back, x, w0, n, in, out);
        double rtn = outputError(x, AwqQuantizer.pseudoQuantize(w0, out, in, gs), x, w0, n, in, out);
        float[] bias = l.bias() == null ? null : l.bias().value().toFloatArray();
        packed.add(AwqPacked.of(l.name(), in, out, r, in / gs, bias));
        reports.add(new LinearReport(l.name(), err, rtn, (System.nanoTime() - t0) / 1e9));
      }
      return packed;
    } finally {
      for (List<Tensor> ts : inputs.values()) for (Tensor t : ts) t.close();
    }
  }

  private static AwqScales.Module linearFn(Linear l) {
    return (ar, x, b) -> l.forward(ar, x, 0, null, false);
  }

  /** mean ((xa wa^T - xb wb^T)^2) over [n, out]. */
  static double outputError(float[] xa, float[] wa, float[] xb, float[] wb, int n, long in, long out) {
    try (Tensor ya = product(xa, wa, n, in, out); Tensor yb = product(xb, wb, n, in, out)) {
      float[] p = ya.toFloatArray(), r = yb.toFloatArray();
      double sq = 0;
      for (int i = 0; i < p.length; i++) {
        double d = (double) p[i] - r[i];
        sq += d * d;
      }
      return sq / p.length;
    }
  }

  private static Tensor product(float[] x, float[] w, int n, long in, long out) {
    try (Tensor xt = Tensor.fromFloats(x, DType.F32, Device.CPU, n, in);
        Tensor wt = Tensor.fromFloats(w, DType.F32, Device.CPU, out, in)) {
      Tensor y = Tensor.allocate(DType.F32, Device.CPU, n, out);
      Kernels.matmul(xt, false, wt, true, y, 1f, 0f);
      return y;
    }
  }

  /** config.json with AutoAWQ's quantization_config and an f16 dtype, and the tokenizer files. */
  private static void writeConfigs(Path modelDir, Path dir, AwqConfig config) throws IOException {
    ObjectNode cfg = (ObjectNode) JSON.readTree(modelDir.resolve("config.json").toFile());
    cfg.set("quantization_config", config.quantizationConfigJson());
    if (cfg.has("dtype") || !cfg.has("torch_dtype")) cfg.put("dtype", "float16");
    if (cfg.has("torch_dtype")) cfg.put("torch_dtype", "float16");
    Files.writeString(dir.resolve("config.json"), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(cfg) + "\n");
    for (String name : LoraMerge.COPIED_FILES) {
      if (name.equals("config.json")) continue;
      Path src = modelDir.resolve(name);
      if (Files.exists(src)) Files.copy(src, dir.resolve(name), StandardCopyOption.REPLACE_EXISTING);
    }
  }
}
