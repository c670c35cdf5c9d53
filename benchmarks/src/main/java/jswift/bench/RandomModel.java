package jswift.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import jswift.model.RandomInit;

/**
 * Writes a Qwen2.5-0.5B-shaped model with random weights (hidden 896, 24 layers, 14 heads, 2 KV heads,
 * intermediate 4864, vocab 151936, tied embeddings, q/k/v biases) as a Hugging Face folder, for benchmarks that
 * need the real shapes but no download: {@code java -cp ... jswift.bench.RandomModel DIR [layers]}. The weights are
 * transformers' initialisation ({@link RandomInit}), fp32.
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
    int vocab = 151936, h = 896, heads = 14, kv = 2, inter = 4864;
    Files.createDirectories(dir);
    Files.writeString(dir.resolve("config.json"), "{\"architectures\": [\"Qwen2ForCausalLM\"], \"model_type\": \"qwen2\","
        + " \"vocab_size\": " + vocab + ", \"hidden_size\": " + h + ", \"intermediate_size\": " + inter
        + ", \"num_hidden_layers\": " + layers + ", \"num_attention_heads\": " + heads + ", \"num_key_value_heads\": " + kv
        + ", \"rms_norm_eps\": 1e-06, \"rope_theta\": 1000000.0, \"max_position_embeddings\": 32768,"
        + " \"tie_word_embeddings\": true, \"hidden_act\": \"silu\", \"sliding_window\": 32768,"
        + " \"use_sliding_window\": false, \"bos_token_id\": 151643, \"eos_token_id\": 151645,"
        + " \"initializer_range\": 0.02, \"torch_dtype\": \"float32\"}");
    RandomInit.write(dir, 1);
  }
}
