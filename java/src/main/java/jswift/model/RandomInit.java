package jswift.model;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Tensor;

/**
 * A freshly initialised model for pre-training from scratch: the weights a {@code config.json} describes,
 * initialised as transformers' {@code _init_weights} does for the llama / qwen2 / qwen3 / mistral families (linear
 * and embedding weights normal(0, {@code initializer_range}), biases zero, RMSNorm weights one, the embedding row of
 * {@code pad_token_id} zero when the config names one), written as {@code model.safetensors} in the config's
 * {@code torch_dtype}. Each tensor draws from generators seeded by (seed, position, chunk), so a seed reproduces the
 * folder byte for byte on any machine. The tensor names and shapes are those {@link CausalLM#load} reads.
 */
public final class RandomInit {
  private RandomInit() {}

  /** One tensor to create: its name, shape and how transformers fills it. */
  record Spec(String name, long[] shape, Fill fill) {}

  enum Fill { NORMAL, ZEROS, ONES }

  /** Writes {@code dir/model.safetensors} for {@code dir/config.json}; returns the number of parameters. */
  public static long write(Path dir, long seed) throws IOException {
    ModelConfig cfg = ModelConfig.load(dir);
    double std = initializerRange(dir);
    DType stored = DType.parse(cfg.torchDtype());
    if (!stored.isFloatingPoint())
      throw new IllegalArgumentException(dir + "/config.json: torch_dtype " + cfg.torchDtype() + " is not a float type");
    List<Spec> specs = specs(cfg);
    List<TensorSource> sources = new ArrayList<>();
    long params = 0;
    for (int i = 0; i < specs.size(); i++) {
      Spec s = specs.get(i);
      params += count(s.shape());
      long tensorSeed = tensorSeed(seed, i);
      sources.add(TensorSource.computed(s.name(), stored, s.shape(), () -> {
        try (Tensor t = Tensor.fromFloats(values(s, cfg, std, tensorSeed), DType.F32, Device.CPU, s.shape())) {
          return t.to(stored);
        }
      }));
    }
    CheckpointWriter.write(dir, sources, ShardPlan.parseSize(ShardPlan.DEFAULT_MAX_SHARD_SIZE));
    return params;
  }

  /**
   * The same weights {@link #write} would store for {@code cfg}, generated when {@link CausalLM} asks for each one
   * and never written anywhere: a model of any shape without a download or a disk (the GPU benchmarks build a
   * Llama-3-8B-shaped model this way). {@code std} is the config's {@code initializer_range}.
   */
  public static WeightSource source(ModelConfig cfg, double std, long seed) {
    java.util.Map<String, Integer> index = new java.util.HashMap<>();
    List<Spec> specs = specs(cfg);
    for (int i = 0; i < specs.size(); i++) index.put(specs.get(i).name(), i);
    return new WeightSource() {
      @Override
      public boolean contains(String name) {
        return index.containsKey(name);
      }

      @Override
      public Tensor load(String name, long[] shape, DType dtype, Device device) {
        Integer i = index.get(name);
        if (i == null) throw new IllegalArgumentException("a " + cfg.modelType() + " model has no tensor '" + name + "'");
        Spec s = specs.get(i);
        if (!java.util.Arrays.equals(s.shape(), shape))
          throw new IllegalArgumentException(name + ": shape " + java.util.Arrays.toString(shape) + " asked, "
              + java.util.Arrays.toString(s.shape()) + " generated");
        try (Tensor host = Tensor.fromFloats(values(s, cfg, std, tensorSeed(seed, i)), DType.F32, Device.CPU, shape);
            Tensor cast = dtype == DType.F32 ? null : host.to(dtype)) {
          return (cast == null ? host : cast).to(device);
        }
      }
    };
  }

  private static long tensorSeed(long seed, int position) {
    return seed * 1_000_003L + position;
  }

  private static long count(long[] shape) {
    long n = 1;
    for (long d : shape) n *= d;
    return n;
  }

  private static double initializerRange(Path dir) throws IOException {
    var n = new com.fasterxml.jackson.databind.ObjectMapper().readTree(dir.resolve("config.json").toFile());
    if (!n.has("hidden_size") && n.has("text_config")) n = n.get("text_config");
    double std = n.path("initializer_range").asDouble(0.02);
    if (!(std > 0)) throw new IllegalArgumentException(dir + "/config.json: initializer_range must be > 0, got " + std);
    return std;
  }

  /** Values are drawn in chunks, each from its own generator, so that a seed gives the same bits on any core count. */
  private static final int CHUNK = 1 << 16;

  private static float[] values(Spec s, ModelConfig cfg, double std, long seed) {
    int n = Math.toIntExact(count(s.shape()));
    float[] v = new float[n];
    switch (s.fill()) {
      case ONES -> java.util.Arrays.fill(v, 1f);
      case NORMAL -> java.util.stream.IntStream.range(0, (n + CHUNK - 1) / CHUNK).parallel().forEach(c -> {
        java.util.SplittableRandom r = new java.util.SplittableRandom(seed * 0x9E3779B97F4A7C15L + c);
        for (int i = c * CHUNK, end = Math.min(n, i + CHUNK); i < end; i++) v[i] = (float) (r.nextGaussian() * std);
      });
      default -> { }
    }
    int pad = cfg.padTokenId();
    if (s.name().equals("model.embed_tokens.weight") && pad >= 0 && pad < s.shape()[0]) {
      int h = (int) s.shape()[1];
      java.util.Arrays.fill(v, pad * h, (pad + 1) * h, 0f);
    }
    return v;
  }

  /** Every weight of the config's decoder, in CausalLM's order. */
  static List<Spec> specs(ModelConfig cfg) {
    List<Spec> out = new ArrayList<>();
    long h = cfg.hiddenSize(), inter = cfg.intermediateSize(), hd = cfg.headDim();
    long qOut = cfg.numAttentionHeads() * hd, kvOut = cfg.numKeyValueHeads() * hd;
    out.add(new Spec("model.embed_tokens.weight", new long[] {cfg.vocabSize(), h}, Fill.NORMAL));
    for (int i = 0; i < cfg.numHiddenLayers(); i++) {
      String p = "model.layers." + i + ".";
      out.add(new Spec(p + "input_layernorm.weight", new long[] {h}, Fill.ONES));
      out.add(new Spec(p + "post_attention_layernorm.weight", new long[] {h}, Fill.ONES));
      linear(out, p + "self_attn.q_proj", qOut, h, cfg.qkvBias());
      linear(out, p + "self_attn.k_proj", kvOut, h, cfg.qkvBias());
      linear(out, p + "self_attn.v_proj", kvOut, h, cfg.qkvBias());
      linear(out, p + "self_attn.o_proj", h, qOut, cfg.attentionBias());
      if (cfg.architecture().qkNorm()) {
        out.add(new Spec(p + "self_attn.q_norm.weight", new long[] {hd}, Fill.ONES));
        out.add(new Spec(p + "self_attn.k_norm.weight", new long[] {hd}, Fill.ONES));
      }
      linear(out, p + "mlp.gate_proj", inter, h, cfg.mlpBias());
      linear(out, p + "mlp.up_proj", inter, h, cfg.mlpBias());
      linear(out, p + "mlp.down_proj", h, inter, cfg.mlpBias());
    }
    out.add(new Spec("model.norm.weight", new long[] {h}, Fill.ONES));
    if (!cfg.tieWordEmbeddings()) out.add(new Spec("lm_head.weight", new long[] {cfg.vocabSize(), h}, Fill.NORMAL));
    return out;
  }

  private static void linear(List<Spec> out, String module, long rows, long cols, boolean bias) {
    out.add(new Spec(module + ".weight", new long[] {rows, cols}, Fill.NORMAL));
    if (bias) out.add(new Spec(module + ".bias", new long[] {rows}, Fill.ZEROS));
  }

  /** Whether a folder already holds weights (init refuses to overwrite them). */
  public static boolean hasWeights(Path dir) throws IOException {
    if (!Files.isDirectory(dir)) return false;
    try (var s = Files.list(dir)) {
      return s.anyMatch(p -> p.getFileName().toString().endsWith(".safetensors")
          || p.getFileName().toString().equals(CheckpointWriter.INDEX));
    }
  }
}
