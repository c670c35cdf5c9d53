package jswift.infer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import jswift.model.CausalLM;
import jswift.model.SafetensorsFile;
import jswift.tensor.Device;
import jswift.testing.Fixtures;
import org.junit.jupiter.api.Test;

/** Generation with the KV cache against the fixture's greedy sequences (transformers generate, cache on). */
class GeneratorTest {
  private static long[] ref(String name) throws IOException {
    try (SafetensorsFile f = SafetensorsFile.open(Fixtures.llamaGqa().resolve("reference.safetensors"))) {
      return f.longs(name);
    }
  }

  private static int[] concat(int[] a, int[] b) {
    int[] c = Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, c, a.length, b.length);
    return c;
  }

  @Test
  void greedyMatchesTransformersForBaseLoraRsLoraAndDora() throws IOException {
    int[] prompt = Arrays.stream(ref("gen.prompt_ids")).mapToInt(Math::toIntExact).toArray();
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      m.loadAdapter("lora", Fixtures.llamaGqa().resolve("adapters/lora"));
      m.loadAdapter("rslora", Fixtures.llamaGqa().resolve("adapters/rslora"));
      m.loadAdapter("dora", Fixtures.llamaGqa().resolve("adapters/dora"));
      GenerationConfig greedy = GenerationConfig.greedy(8, List.of());  // no EOS appears in the references
      assertArrayEquals(ref("gen.sequences"), toLongs(concat(prompt, Generator.generate(m, prompt, greedy))));
      m.setActiveAdapter("lora");
      assertArrayEquals(ref("lora.gen.sequences"), toLongs(concat(prompt, Generator.generate(m, prompt, greedy))));
      m.setActiveAdapter("rslora");
      assertArrayEquals(ref("rslora.gen.sequences"), toLongs(concat(prompt, Generator.generate(m, prompt, greedy))));
      m.setActiveAdapter("dora");
      assertArrayEquals(ref("dora.gen.sequences"), toLongs(concat(prompt, Generator.generate(m, prompt, greedy))));
    }
  }

  @Test
  void cachedLogitsEqualFullRecomputation() throws IOException {
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      try (SafetensorsFile f = SafetensorsFile.open(Fixtures.llamaGqa().resolve("reference.safetensors"))) {
        float[] want = f.floats("gen.logits");  // [8, vocab]: the logits that chose each new token
        int[] prompt = Arrays.stream(f.longs("gen.prompt_ids")).mapToInt(Math::toIntExact).toArray();
        int vocab = m.config().vocabSize();
        List<float[]> rows = new ArrayList<>();
        try (var cache = m.newCache(1, 16)) {
          int[] pos = new int[prompt.length];
          for (int i = 0; i < pos.length; i++) pos[i] = i;
          float[] logits = m.forwardCached(cache, prompt, prompt.length, pos, null)[0];
          long[] seq = f.longs("gen.sequences");
          for (int step = 0; step < 8; step++) {
            rows.add(logits);
            int tok = Math.toIntExact(seq[prompt.length + step]);
            logits = m.forwardCached(cache, new int[] {tok}, 1, new int[] {prompt.length + step}, null)[0];
          }
        }
        for (int s = 0; s < 8; s++)
          jswift.testing.Assert.close("step " + s, rows.get(s), Arrays.copyOfRange(want, s * vocab, (s + 1) * vocab),
              1e-4, 0);
      }
    }
  }

  /**
   * A prompt's prefill into an empty cache runs attention with the flash forward kernel on the new keys; a prefill
   * in chunks (1 token, then the rest) runs the cache kernel. For a left-padded batch both must give the same
   * logits, and the caches they leave the same next-token logits.
   */
  @Test
  void aPromptsPrefillMatchesTheCacheKernelsChunkedPrefill() throws IOException {
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      int len = 6;
      int[] ids = {0, 0, 1, 53, 482, 280, /* second prompt, unpadded */ 1, 340, 255, 7, 9, 11};
      int[] real = {0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
      int[] pos = {0, 0, 0, 1, 2, 3, 0, 1, 2, 3, 4, 5};
      try (var whole = m.newCache(2, 8); var chunked = m.newCache(2, 8)) {
        float[][] want = m.forwardCached(whole, ids, len, pos, real);
        int[][] first = new int[3][2], rest = new int[3][2 * (len - 1)];
        for (int b = 0; b < 2; b++) {
          int[][] src = {ids, real, pos};
          for (int k = 0; k < 3; k++) {
            first[k][b] = src[k][b * len];
            System.arraycopy(src[k], b * len + 1, rest[k], b * (len - 1), len - 1);
          }
        }
        m.forwardCached(chunked, first[0], 1, first[2], first[1]);
        float[][] got = m.forwardCached(chunked, rest[0], len - 1, rest[2], rest[1]);
        for (int b = 0; b < 2; b++) jswift.testing.Assert.close("prefill logits " + b, got[b], want[b], 1e-5, 1e-5);
        int[] next = {100, 101}, nextPos = {4, 6};
        float[][] w2 = m.forwardCached(whole, next, 1, nextPos, null), g2 = m.forwardCached(chunked, next, 1, nextPos, null);
        for (int b = 0; b < 2; b++) jswift.testing.Assert.close("next logits " + b, g2[b], w2[b], 1e-5, 1e-5);
      }
    }
  }

  @Test
  void batchedLeftPaddedGenerationEqualsOneByOne() throws IOException {
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      int[] a = {1, 53, 482, 280, 438}, b = {1, 340, 255}, c = {1, 7, 9, 11, 13, 15, 17};
      GenerationConfig greedy = GenerationConfig.greedy(6, List.of());
      List<int[]> batched = Generator.generate(m, List.of(a, b, c), greedy, null, null);
      assertArrayEquals(Generator.generate(m, a, greedy), batched.get(0));
      assertArrayEquals(Generator.generate(m, b, greedy), batched.get(1));
      assertArrayEquals(Generator.generate(m, c, greedy), batched.get(2));
    }
  }

  @Test
  void stopsAtStopTokensAndStreams() throws IOException {
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      int[] prompt = {1, 53, 482, 280, 438};
      int[] free = Generator.generate(m, prompt, GenerationConfig.greedy(8, List.of()));
      // stop at the third generated token's id: output ends there, stop token included
      int stop = free[2];
      int[] stopped = Generator.generate(m, prompt, GenerationConfig.greedy(8, List.of(stop)));
      int first = 0;
      while (free[first] != stop) first++;
      assertArrayEquals(Arrays.copyOf(free, first + 1), stopped);
      List<Integer> streamed = new ArrayList<>();
      Generator.generate(m, List.of(prompt), GenerationConfig.greedy(5, List.of()), null, (seq, tok) -> streamed.add(tok));
      assertEquals(5, streamed.size());
      assertEquals(free[0], streamed.get(0));
      // stop string: the "text" here is the ids joined by spaces
      int[] byString = Generator.generate(m, List.of(prompt),
          GenerationConfig.greedy(8, List.of()).withStopStrings(List.of(" " + free[1])),
          ids -> " " + String.join(" ", Arrays.stream(ids).mapToObj(String::valueOf).toArray(String[]::new)), null).get(0);
      assertEquals(2, byString.length);
      assertThrows(IllegalArgumentException.class,
          () -> Generator.generate(m, new int[] {1, 99999}, GenerationConfig.greedy(2, List.of())));
    }
  }

  @Test
  void samplingIsSeeded() throws IOException {
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      int[] prompt = {1, 53, 482};
      GenerationConfig s1 = GenerationConfig.sampling(10, 1.0f, 50, 0.9f, 1.1f, 1234, List.of());
      assertArrayEquals(Generator.generate(m, prompt, s1), Generator.generate(m, prompt, s1));
    }
  }

  /**
   * Decode replayed from a graph (the GPU's default; on the CPU a recording of the calls, forced on here) chooses
   * every token that eager decode chooses, bit for bit in the logits: greedy and sampled, one sequence and a
   * left-padded batch, over an NF4 base with an unmerged LoRA adapter (the fused GEMV and jsw_lora_delta) and over
   * the plain model with the fixture's transformers references.
   */
  @Test
  void decodeReplayedFromAGraphChoosesTheEagerTokens() throws IOException {
    int[] prompt = Arrays.stream(ref("gen.prompt_ids")).mapToInt(Math::toIntExact).toArray();
    int[] a = {1, 53, 482, 280, 438}, b = {1, 340, 255}, c = {1, 7, 9, 11, 13, 15, 17};
    GenerationConfig greedy = GenerationConfig.greedy(8, List.of());
    GenerationConfig sampled = GenerationConfig.sampling(10, 1.0f, 50, 0.9f, 1.1f, 99, List.of());
    try (CausalLM plain = CausalLM.load(Fixtures.llamaGqa(), Device.CPU);
        CausalLM q = CausalLM.load(Fixtures.llamaGqa(), Device.CPU, jswift.tensor.DType.F32,
            CausalLM.Quantization.NF4_DOUBLE_QUANT)) {
      q.loadAdapter("lora", Fixtures.llamaGqa().resolve("adapters/lora"));
      q.setActiveAdapter("lora");
      List<List<int[]>> eager = new ArrayList<>(), graphed = new ArrayList<>();
      for (String mode : new String[] {"false", "true"}) {
        System.setProperty(Generator.DECODE_GRAPHS, mode);
        try {
          List<List<int[]>> into = mode.equals("true") ? graphed : eager;
          into.add(Generator.generate(plain, List.of(prompt), greedy, null, null));
          into.add(Generator.generate(q, List.of(a, b, c), greedy, null, null));
          into.add(Generator.generate(q, List.of(a), sampled, null, null));
        } finally {
          System.clearProperty(Generator.DECODE_GRAPHS);
        }
      }
      assertArrayEquals(ref("gen.sequences"), toLongs(concat(prompt, graphed.get(0).get(0))), "transformers' tokens");
      for (int i = 0; i < eager.size(); i++) {
        assertEquals(eager.get(i).size(), graphed.get(i).size());
        for (int s = 0; s < eager.get(i).size(); s++)
          assertArrayEquals(eager.get(i).get(s), graphed.get(i).get(s), "run " + i + ", sequence " + s);
      }
      // the graph really replays: logits of a replayed token equal the eager call's
      try (var c1 = q.newCache(1, 16); var c2 = q.newCache(1, 16); CausalLM.DecodeGraph g = q.decodeGraph(c2)) {
        int[] pos = {0, 1, 2, 3, 4};
        q.forwardCached(c1, a, 5, pos, null);
        q.forwardCached(c2, a, 5, pos, null);
        for (int t = 0; t < 4; t++) {
          float[] want = q.forwardCached(c1, new int[] {100 + t}, 1, new int[] {5 + t}, null)[0];
          float[] got = g.next(new int[] {100 + t}, new int[] {5 + t})[0];
          assertArrayEquals(want, got, "token " + t);
          assertEquals(t >= 1, g.replaying(), "eager first, then captured and replayed");
        }
      }
    }
  }

  private static long[] toLongs(int[] v) {
    return Arrays.stream(v).asLongStream().toArray();
  }
}
