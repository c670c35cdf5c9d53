package jswift.bench;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import jswift.infer.GenerationConfig;
import jswift.infer.Generator;
import jswift.model.CausalLM;
import jswift.model.KvCache;
import jswift.tensor.Device;

/**
 * Prefill and greedy-decode throughput of a model on the CPU (the inference benchmark of the models issue):
 * a 512-token prompt through the KV cache, then 64 greedily decoded tokens; median of 3 runs after a warm-up.
 * {@code java -cp ... jswift.bench.InferenceBench MODEL_DIR [prompt] [new]}; prints one JSON line.
 */
public final class InferenceBench {
  private InferenceBench() {}

  public static void main(String[] args) throws Exception {
    Path dir = Path.of(args[0]);
    int promptLen = args.length > 1 ? Integer.parseInt(args[1]) : 512;
    int newTokens = args.length > 2 ? Integer.parseInt(args[2]) : 64;
    int[] prompt = new int[promptLen];
    for (int i = 0; i < promptLen; i++) prompt[i] = 1000 + (i * 7919) % 100000;
    try (CausalLM m = CausalLM.load(dir, Device.CPU)) {
      double[] prefill = new double[3], decode = new double[3];
      for (int run = -1; run < 3; run++) {
        int[] pos = new int[promptLen];
        for (int i = 0; i < promptLen; i++) pos[i] = i;
        long t0 = System.nanoTime();
        try (KvCache cache = m.newCache(1, promptLen + newTokens)) {
          m.forwardCached(cache, prompt, promptLen, pos, null);
        }
        long t1 = System.nanoTime();
        // greedy decode: the generator prefills again, so time only its per-token part
        int[] out = Generator.generate(m, prompt, GenerationConfig.greedy(newTokens, List.of()));
        long t2 = System.nanoTime();
        if (out.length != newTokens) throw new IllegalStateException("generated " + out.length);
        if (run >= 0) {
          prefill[run] = promptLen / ((t1 - t0) / 1e9);
          double decodeSeconds = (t2 - t1) / 1e9 - (t1 - t0) / 1e9;  // minus one prefill
          decode[run] = newTokens / decodeSeconds;
        }
      }
      Arrays.sort(prefill);
      Arrays.sort(decode);
      System.out.printf("{\"impl\": \"jswift\", \"prefill_tokens_per_s\": %.2f, \"decode_tokens_per_s\": %.2f}%n",
          prefill[1], decode[1]);
    }
  }
}
