package jswift.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import jswift.model.CheckpointWriter;
import jswift.model.TensorSource;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Tensor;

/**
 * Writes a Qwen2.5-0.5B-shaped model with random weights (hidden 896, 24 layers, 14 heads, 2 KV heads,
 * intermediate 4864, vocab 151936, tied embeddings, q/k/v biases) as a Hugging Face folder, for benchmarks that
 * need the real shapes but no download: {@code java -cp ... jswift.bench.RandomModel DIR [layers]}.
 */
public final class RandomModel {
  private RandomModel() {}

  public static void main(String[] args) throws IOException {
    Path dir = Path.of(args[0]);
    int layers = args.length > 1 ? Integer.parseInt(args[1]) : 24;
    write(dir, layers);
    System.out.println("wrote " + dir);
  }

  public static void write(Path dir, int layers) throws IOException {
    int vocab = 151936, h = 896, heads = 14, kv = 2, hd = 64, inter = 4864;
    Files.createDirectories(dir);
    Files.writeString(dir.resolve("config.json"), "{\"architectures\": [\"Qwen2ForCausalLM\"], \"model_type\": \"qwen2\","
        + " \"vocab_size\": " + vocab + ", \"hidden_size\": " + h + ", \"intermediate_size\": " + inter
        + ", \"num_hidden_layers\": " + layers + ", \"num_attention_heads\": " + heads + ", \"num_key_value_heads\": " + kv
        + ", \"rms_norm_eps\": 1e-06, \"rope_theta\": 1000000.0, \"max_position_embeddings\": 32768,"
        + " \"tie_word_embeddings\": true, \"hidden_act\": \"silu\", \"sliding_window\": 32768,"
        + " \"use_sliding_window\": false, \"bos_token_id\": 151643, \"eos_token_id\": 151645, \"torch_dtype\": \"float32\"}");
    List<TensorSource> sources = new ArrayList<>();
    long[] seed = {1};
    sources.add(random("model.embed_tokens.weight", seed, vocab, h));
    for (int l = 0; l < layers; l++) {
      String p = "model.layers." + l + ".";
      sources.add(ones(p + "input_layernorm.weight", h));
      sources.add(ones(p + "post_attention_layernorm.weight", h));
      sources.add(random(p + "self_attn.q_proj.weight", seed, heads * hd, h));
      sources.add(random(p + "self_attn.q_proj.bias", seed, heads * hd));
      sources.add(random(p + "self_attn.k_proj.weight", seed, kv * hd, h));
      sources.add(random(p + "self_attn.k_proj.bias", seed, kv * hd));
      sources.add(random(p + "self_attn.v_proj.weight", seed, kv * hd, h));
      sources.add(random(p + "self_attn.v_proj.bias", seed, kv * hd));
      sources.add(random(p + "self_attn.o_proj.weight", seed, h, heads * hd));
      sources.add(random(p + "mlp.gate_proj.weight", seed, inter, h));
      sources.add(random(p + "mlp.up_proj.weight", seed, inter, h));
      sources.add(random(p + "mlp.down_proj.weight", seed, h, inter));
    }
    sources.add(ones("model.norm.weight", h));
    CheckpointWriter.write(dir, sources, 5_000_000_000L);
  }

  /** N(0, 0.02) values, generated when the writer reaches the tensor (never all in memory). */
  private static TensorSource random(String name, long[] seed, long... shape) {
    long s = seed[0]++;
    return TensorSource.computed(name, DType.F32, shape, () -> {
      long n = 1;
      for (long d : shape) n *= d;
      float[] v = new float[Math.toIntExact(n)];
      SplittableRandom r = new SplittableRandom(s);
      for (int i = 0; i < v.length; i++) v[i] = (float) ((r.nextDouble() + r.nextDouble() + r.nextDouble() - 1.5) * 0.04);
      return Tensor.fromFloats(v, DType.F32, Device.CPU, shape);
    });
  }

  private static TensorSource ones(String name, long n) {
    return TensorSource.computed(name, DType.F32, new long[] {n}, () -> {
      float[] v = new float[(int) n];
      java.util.Arrays.fill(v, 1f);
      return Tensor.fromFloats(v, DType.F32, Device.CPU, n);
    });
  }
}
