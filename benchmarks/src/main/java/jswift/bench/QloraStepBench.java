package jswift.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import jswift.infer.GenerationConfig;
import jswift.infer.Generator;
import jswift.model.CausalLM;
import jswift.model.CausalLM.Quantization;
import jswift.model.ModelConfig;
import jswift.model.RandomInit;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Kernels;

/**
 * The QLoRA step of the GPU issue, the jswift side of {@code benchmarks/gpu/qlora_peer.py}: a model built from a
 * config.json with random weights (no download: {@link RandomInit#source}), its linear layers NF4, LoRA r=16 alpha=32
 * dropout 0.05 on all of them, gradient checkpointing, AdamW; median step time over {@code --steps} after 2 warm-up
 * steps, peak device memory (weights included), then greedy decode tokens/s at each {@code --decode-batches} size.
 * On the CPU (with a tiny config) it is the script's dry run. Prints one JSON object (and writes it with --json).
 *
 * <pre>java -cp ... jswift.bench.QloraStepBench --config models/llama3-8b.json [--device cuda|cpu] [--seq 2048]
 *     [--rank 16] [--steps 5] [--quant nf4|none] [--decode-batches 1,16] [--decode-tokens 64] [--prompt 128]
 *     [--json OUT] [--profile 1] [--graph-steps N]</pre>
 * With {@code --profile 1}, two more training steps and one more generation per batch size run under the per-op
 * profiler ({@link Kernels#profileStart}) after the timed ones, and print where their time went. With
 * {@code --graph-steps N}, N more steps replayed from a captured graph (the trainer's {@code --cuda_graphs}) are timed
 * too: {@code graph_step_s}, and {@code graph_speedup} against the eager step.
 */
public final class QloraStepBench {
  private QloraStepBench() {}

  public static void main(String[] argv) throws Exception {
    Map<String, String> a = options(argv);
    Path config = Path.of(required(a, "config"));
    Device device = a.getOrDefault("device", "cuda").equals("cpu") ? Device.CPU : Device.cuda(0);
    int seq = Integer.parseInt(a.getOrDefault("seq", "2048"));
    int rank = Integer.parseInt(a.getOrDefault("rank", "16"));
    int steps = Integer.parseInt(a.getOrDefault("steps", "5"));
    int decodeTokens = Integer.parseInt(a.getOrDefault("decode-tokens", "64"));
    int promptLen = Integer.parseInt(a.getOrDefault("prompt", "128"));
    boolean profile = a.getOrDefault("profile", "0").equals("1");
    int graphSteps = Integer.parseInt(a.getOrDefault("graph-steps", "0"));
    Quantization quant = switch (a.getOrDefault("quant", "nf4")) {
      case "nf4" -> Quantization.NF4;
      case "none" -> Quantization.NONE;
      default -> throw new IllegalArgumentException("--quant must be nf4 or none");
    };
    if (!device.isCpu() && Kernels.cudaDeviceCount() == 0) throw new IllegalStateException("no CUDA device");
    ObjectMapper json = new ObjectMapper();
    ModelConfig cfg = ModelConfig.parse(json.readTree(config.toFile()), config.toString());
    double std = json.readTree(config.toFile()).path("initializer_range").asDouble(0.02);
    DType dtype = device.isCpu() ? DType.F32 : DType.BF16;

    ObjectNode out = json.createObjectNode();
    out.put("impl", Kernels.buildInfo());
    out.put("base", quant == Quantization.NF4 ? "nf4" : dtype.torchName());
    out.put("device", device.toString());
    out.put("seq", seq);
    out.put("rank", rank);
    Path jsonOut = a.containsKey("json") ? Path.of(a.get("json")) : null;
    long t0 = System.nanoTime();
    System.err.println("building " + config.getFileName() + " with random weights on " + device + " (" + quant + ")");
    try (CausalLM m = CausalLM.create(cfg, RandomInit.source(cfg, std, 0), device, dtype, quant)) {
      out.put("build_s", round((System.nanoTime() - t0) / 1e9, 2));
      System.err.println("built in " + out.get("build_s") + " s");
      m.setGradientCheckpointing(true);
      if (!device.isCpu()) Kernels.resetPeakMemory(device);
      LoraStepTimer.Timing t = LoraStepTimer.run(m, rank, 2 * rank, seq, steps, profile ? 2 : 0, graphSteps);
      double median = t.medianSeconds(), loss = t.loss();
      out.put("step_s", round(median, 4));
      out.put("tokens_per_s", round(seq / median, 2));
      out.put("loss", round(loss, 4));
      if (t.profile() != null) out.put("profile_step", t.profile());
      if (graphSteps > 0) {
        out.put("graph_step_s", round(t.graphMedianSeconds(), 4));
        out.put("graph_tokens_per_s", round(seq / t.graphMedianSeconds(), 2));
        out.put("graph_speedup", round(median / t.graphMedianSeconds(), 3));
        if (!device.isCpu()) out.put("graph_peak_memory_gib", round(t.graphPeakBytes() / Math.pow(2, 30), 3));
      }
      if (device.isCpu()) out.putNull("peak_memory_gib");
      else out.put("peak_memory_gib", round(t.eagerPeakBytes() / Math.pow(2, 30), 3));

      // written now too, so a run stopped during decode keeps the step's numbers
      if (jsonOut != null) Files.writeString(jsonOut, json.writeValueAsString(out) + "\n");

      // decode replays each token from a graph on a GPU (Generator's default; JSWIFT_DECODE_GRAPHS=0 turns it off)
      out.put("decode_graphs", Generator.decodeGraphs(device));
      ArrayNode decode = out.putArray("decode");
      for (String b : a.getOrDefault("decode-batches", "1,16").split(",")) {
        int bs = Integer.parseInt(b.trim());
        List<int[]> prompts = new ArrayList<>();
        for (int r = 0; r < bs; r++) {
          int[] p = new int[promptLen];
          for (int i = 0; i < promptLen; i++) p[i] = (7 + r * 131 + i * 7919) % cfg.vocabSize();
          prompts.add(p);
        }
        double best = 0, firstToken = 0;
        for (int run = 0; run < 2; run++) {
          // Prefill + 1 token, then prefill + N tokens: the difference is N - 1 decode steps.
          long d0 = System.nanoTime();
          Generator.generate(m, prompts, GenerationConfig.greedy(1, List.of()), null, null);
          long d1 = System.nanoTime();
          Generator.generate(m, prompts, GenerationConfig.greedy(decodeTokens, List.of()), null, null);
          long d2 = System.nanoTime();
          double decodeSeconds = ((d2 - d1) - (d1 - d0)) / 1e9;
          if (run > 0) {
            best = (double) bs * (decodeTokens - 1) / decodeSeconds;
            firstToken = (d1 - d0) / 1e9;
          }
        }
        ObjectNode row = decode.addObject();
        row.put("batch", bs);
        row.put("tokens_per_s", round(best, 2));
        row.put("first_token_s", round(firstToken, 4));  // the prompts' prefill and one token
        System.err.printf("decode batch %d: %.1f tokens/s%n", bs, best);
        if (profile) {  // after the timed runs: the profiler's waits slow every op down
          // eagerly: a graph replay is one call, which would hide the ops it runs
          System.setProperty(Generator.DECODE_GRAPHS, "false");
          Kernels.profileStart();
          Generator.generate(m, prompts, GenerationConfig.greedy(decodeTokens, List.of()), null, null);
          String label = "generate (eager), batch " + bs + ": prefill " + promptLen + " + " + decodeTokens + " tokens";
          row.put("profile", Kernels.profileTable(label));
          Kernels.profileStop(label);
          System.clearProperty(Generator.DECODE_GRAPHS);
        }
        if (jsonOut != null) Files.writeString(jsonOut, json.writeValueAsString(out) + "\n");
      }
    }
    String text = json.writeValueAsString(out);
    System.out.println(text);
    if (jsonOut != null) Files.writeString(jsonOut, text + "\n");
  }

  private static double round(double v, int digits) {
    double f = Math.pow(10, digits);
    return Math.round(v * f) / f;
  }

  private static String required(Map<String, String> a, String key) {
    String v = a.get(key);
    if (v == null) throw new IllegalArgumentException("--" + key + " is required");
    return v;
  }

  private static Map<String, String> options(String[] argv) {
    Map<String, String> a = new LinkedHashMap<>();
    for (int i = 0; i < argv.length; i++) {
      if (!argv[i].startsWith("--") || i + 1 == argv.length)
        throw new IllegalArgumentException("expected --name value pairs, got " + String.join(" ", argv));
      a.put(argv[i].substring(2), argv[++i]);
    }
    return a;
  }
}
