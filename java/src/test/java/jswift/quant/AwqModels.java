package jswift.quant;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import jswift.model.CheckpointWriter;
import jswift.model.TensorSource;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Tensor;
import jswift.testing.Rand;

/**
 * A tiny multi-head (no GQA, so AWQ's v -> o scale group applies) Llama with random weights and no tokenizer, for
 * the AWQ tests that feed token ids directly: hidden 64, 4 heads of 16, MLP 128, vocab 96. With {@code outliers}
 * the norms scale a few channels by 8, the activation outliers real LLMs have and AWQ exists for.
 */
final class AwqModels {
  static final int VOCAB = 96, HIDDEN = 64, INTER = 128;

  private AwqModels() {}

  static Path llama(Path dir, long seed, int layers, boolean outliers) throws IOException {
    Files.createDirectories(dir);
    Files.writeString(dir.resolve("config.json"), "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\","
        + " \"vocab_size\": " + VOCAB + ", \"hidden_size\": " + HIDDEN + ", \"intermediate_size\": " + INTER + ","
        + " \"num_hidden_layers\": " + layers + ", \"num_attention_heads\": 4, \"num_key_value_heads\": 4,"
        + " \"rms_norm_eps\": 1e-06, \"max_position_embeddings\": 128, \"tie_word_embeddings\": false,"
        + " \"torch_dtype\": \"float32\"}");
    List<Tensor> tensors = new ArrayList<>();
    List<TensorSource> sources = new ArrayList<>();
    long s = seed * 100;
    try {
      add(tensors, sources, "model.embed_tokens.weight", Rand.normal((long) VOCAB * HIDDEN, s++, 1f), VOCAB, HIDDEN);
      for (int i = 0; i < layers; i++) {
        String p = "model.layers." + i + ".";
        add(tensors, sources, p + "input_layernorm.weight", norm(outliers, s++), HIDDEN);
        add(tensors, sources, p + "post_attention_layernorm.weight", norm(outliers, s++), HIDDEN);
        for (String m : new String[] {"q_proj", "k_proj", "v_proj", "o_proj"})
          add(tensors, sources, p + "self_attn." + m + ".weight", Rand.normal((long) HIDDEN * HIDDEN, s++, 0.1f),
              HIDDEN, HIDDEN);
        add(tensors, sources, p + "mlp.gate_proj.weight", Rand.normal((long) INTER * HIDDEN, s++, 0.1f), INTER, HIDDEN);
        add(tensors, sources, p + "mlp.up_proj.weight", Rand.normal((long) INTER * HIDDEN, s++, 0.1f), INTER, HIDDEN);
        add(tensors, sources, p + "mlp.down_proj.weight", Rand.normal((long) HIDDEN * INTER, s++, 0.1f), HIDDEN, INTER);
      }
      add(tensors, sources, "model.norm.weight", norm(false, s++), HIDDEN);
      add(tensors, sources, "lm_head.weight", Rand.normal((long) VOCAB * HIDDEN, s++, 0.1f), VOCAB, HIDDEN);
      CheckpointWriter.write(dir, sources, 5_000_000_000L);
    } finally {
      tensors.forEach(Tensor::close);
    }
    return dir;
  }

  /** Calibration blocks of random token ids. */
  static List<int[]> blocks(int n, int length, long seed) {
    List<int[]> b = new ArrayList<>();
    for (int i = 0; i < n; i++) b.add(Rand.ints(length, seed + i, 0, VOCAB));
    return b;
  }

  /** Norm weights around 1; with outliers, every 9th channel is 8x. */
  private static float[] norm(boolean outliers, long seed) {
    float[] u = Rand.uniform(HIDDEN, seed, 0.8f, 1.2f);
    if (outliers) for (int c = 3; c < HIDDEN; c += 9) u[c] *= 8f;
    return u;
  }

  private static void add(List<Tensor> tensors, List<TensorSource> sources, String name, float[] v, long... shape) {
    Tensor t = Tensor.fromFloats(v, DType.F32, Device.CPU, shape);
    tensors.add(t);
    sources.add(TensorSource.of(name, t));
  }
}
