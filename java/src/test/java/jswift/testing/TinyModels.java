package jswift.testing;

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

/**
 * Small random Hugging Face model folders with a real tokenizer, generated in the tests (nothing large is
 * committed): a Qwen3-architecture model (q/k norm, tied embeddings) with the Qwen3 tokenizer the build fetched.
 */
public final class TinyModels {
  private TinyModels() {}

  /**
   * LoRA (all linear layers, no dropout) trained on one batch for {@code steps} AdamW steps at {@code lr}: the first
   * and the last step's losses, for the tests that check an adapter learns over a (quantized) base.
   */
  public static double[] loraLosses(jswift.model.CausalLM m, jswift.model.Batch batch, float lr, int steps) {
    List<jswift.nn.Parameter> params = jswift.tuner.LoraTuner.apply(m, "default", jswift.tuner.LoraConfig.defaults()
        .withTargetModules(List.of("all-linear")).withLoraDropout(0), 1);
    double first = 0, last = 0;
    try (jswift.train.AdamW opt = new jswift.train.AdamW(params, 0.9f, 0.999f, 1e-8f, 0f, 1f)) {
      for (int i = 0; i < steps; i++) {
        last = m.forwardBackward(batch, i);
        if (i == 0) first = last;
        opt.step(lr);
        opt.zeroGrad();
      }
    }
    return new double[] {first, last};
  }

  /** The jswift-bot identity conversations the trainer tests train on. */
  public static final String[][] IDENTITY_QA = {{"What is your name?", "I am jswift-bot."},
      {"Who made you?", "The jswift team made me."}, {"What do you do?", "I fine-tune language models on the JVM."},
      {"Say hello.", "Hello from jswift!"}};

  /**
   * Training arguments for {@code model} on {@code data} into {@code out}: maxSteps steps, a checkpoint every
   * saveSteps, a log line every step; everything else at its default.
   */
  public static jswift.train.TrainArguments trainArguments(Path model, Path data, Path out, long maxSteps,
      int saveSteps) {
    jswift.train.TrainArguments a = new jswift.train.TrainArguments();
    a.model = model;
    a.dataset = java.util.List.of(data.toString());
    a.outputDir = out;
    a.maxSteps = maxSteps;
    a.saveSteps = saveSteps;
    a.loggingSteps = 1;
    return a;
  }

  /** Runs the trainer to the end with its console output discarded. */
  public static jswift.train.Trainer.Result train(jswift.train.TrainArguments a) throws IOException {
    try (jswift.train.Trainer t = new jswift.train.Trainer(a, new java.io.PrintWriter(new java.io.StringWriter()))) {
      return t.train();
    }
  }

  /** Question / answer pairs (plain text, no quotes) as an ms-swift {@code messages} jsonl file; returns it. */
  public static Path chatDataset(Path file, String[][] qa) throws IOException {
    StringBuilder sb = new StringBuilder();
    for (String[] p : qa)
      sb.append("{\"messages\": [{\"role\": \"user\", \"content\": \"").append(p[0])
          .append("\"}, {\"role\": \"assistant\", \"content\": \"").append(p[1]).append("\"}]}\n");
    return Files.writeString(file, sb.toString());
  }

  /** A 2-layer, hidden-32 Qwen3 model with random weights and the Qwen3 tokenizer, in {@code dir}. */
  public static Path qwen3(Path dir, long seed) throws IOException {
    return qwen3(dir, seed, 2);
  }

  /** As {@link #qwen3(Path, long)} with {@code layers} decoder layers. */
  public static Path qwen3(Path dir, long seed, int layers) throws IOException {
    return qwen3(dir, seed, layers, false);
  }

  /** As {@link #qwen3(Path, long, int)}; with {@code attentionBias} the q / k / v / o projections carry biases. */
  public static Path qwen3(Path dir, long seed, int layers, boolean attentionBias) throws IOException {
    Files.createDirectories(dir);
    int vocab = 151936, hidden = 32, heads = 2, kv = 1, hd = 16, inter = 64;
    Files.writeString(dir.resolve("config.json"), "{\"architectures\": [\"Qwen3ForCausalLM\"], \"model_type\": \"qwen3\","
        + " \"vocab_size\": " + vocab + ", \"hidden_size\": " + hidden + ", \"intermediate_size\": " + inter + ","
        + " \"num_hidden_layers\": " + layers + ", \"num_attention_heads\": " + heads + ", \"num_key_value_heads\": " + kv
        + ", \"head_dim\": " + hd + ", \"rms_norm_eps\": 1e-06, \"rope_theta\": 1000000.0, \"max_position_embeddings\": 512,"
        + " \"tie_word_embeddings\": true, \"attention_bias\": " + attentionBias + ", \"hidden_act\": \"silu\","
        + " \"bos_token_id\": 151643,"
        + " \"eos_token_id\": 151645, \"torch_dtype\": \"float32\"}");
    Files.writeString(dir.resolve("generation_config.json"), "{\"eos_token_id\": [151645, 151643], \"pad_token_id\": 151643}");
    Path tok = Fixtures.fetchedTokenizer("qwen3");
    Files.copy(tok.resolve("tokenizer.json"), dir.resolve("tokenizer.json"));
    Files.copy(tok.resolve("tokenizer_config.json"), dir.resolve("tokenizer_config.json"));
    List<Tensor> tensors = new ArrayList<>();
    List<TensorSource> sources = new ArrayList<>();
    long s = seed;
    try {
      // std 1 (not the usual 0.02): with a 32-wide hidden state the tied head's logits could otherwise never move
      // far from uniform, and no amount of LoRA training could lower the loss of this tiny model.
      add(tensors, sources, "model.embed_tokens.weight", Rand.normal((long) vocab * hidden, s++, 1f), vocab, hidden);
      for (int l = 0; l < layers; l++) {
        String p = "model.layers." + l + ".";
        add(tensors, sources, p + "input_layernorm.weight", ones(hidden), hidden);
        add(tensors, sources, p + "post_attention_layernorm.weight", ones(hidden), hidden);
        add(tensors, sources, p + "self_attn.q_norm.weight", ones(hd), hd);
        add(tensors, sources, p + "self_attn.k_norm.weight", ones(hd), hd);
        add(tensors, sources, p + "self_attn.q_proj.weight", Rand.normal((long) heads * hd * hidden, s++, 0.1f), heads * hd, hidden);
        add(tensors, sources, p + "self_attn.k_proj.weight", Rand.normal((long) kv * hd * hidden, s++, 0.1f), kv * hd, hidden);
        add(tensors, sources, p + "self_attn.v_proj.weight", Rand.normal((long) kv * hd * hidden, s++, 0.1f), kv * hd, hidden);
        add(tensors, sources, p + "self_attn.o_proj.weight", Rand.normal((long) hidden * heads * hd, s++, 0.1f), hidden, heads * hd);
        if (attentionBias) {
          add(tensors, sources, p + "self_attn.q_proj.bias", Rand.normal((long) heads * hd, s++, 0.5f), heads * hd);
          add(tensors, sources, p + "self_attn.k_proj.bias", Rand.normal((long) kv * hd, s++, 0.5f), kv * hd);
          add(tensors, sources, p + "self_attn.v_proj.bias", Rand.normal((long) kv * hd, s++, 0.5f), kv * hd);
          add(tensors, sources, p + "self_attn.o_proj.bias", Rand.normal(hidden, s++, 0.5f), hidden);
        }
        add(tensors, sources, p + "mlp.gate_proj.weight", Rand.normal((long) inter * hidden, s++, 0.1f), inter, hidden);
        add(tensors, sources, p + "mlp.up_proj.weight", Rand.normal((long) inter * hidden, s++, 0.1f), inter, hidden);
        add(tensors, sources, p + "mlp.down_proj.weight", Rand.normal((long) hidden * inter, s++, 0.1f), hidden, inter);
      }
      add(tensors, sources, "model.norm.weight", ones(hidden), hidden);
      CheckpointWriter.write(dir, sources, 5_000_000_000L);
    } finally {
      tensors.forEach(Tensor::close);
    }
    return dir;
  }

  private static float[] ones(int n) {
    float[] v = new float[n];
    java.util.Arrays.fill(v, 1f);
    return v;
  }

  private static void add(List<Tensor> tensors, List<TensorSource> sources, String name, float[] v, long... shape) {
    Tensor t = Tensor.fromFloats(v, DType.F32, Device.CPU, shape);
    tensors.add(t);
    sources.add(TensorSource.of(name, t));
  }
}
