package jswift.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import jswift.infer.GenerationConfig;
import jswift.infer.Generator;
import jswift.nn.Linear;
import jswift.nn.Parameter;
import jswift.tensor.Device;
import jswift.tensor.Kernels;
import jswift.testing.Assert;
import jswift.testing.Fixtures;
import jswift.train.AdamW;
import jswift.tuner.LoraConfig;
import jswift.tuner.LoraTuner;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * CausalLM on the CPU against transformers 5.18 + PEFT 0.21 for the families beyond llama-gqa: Qwen2 (q/k/v
 * biases, tied embeddings), Qwen3 (per-head q/k RMSNorm, head_dim 12 != hidden / heads), Mistral (sliding window
 * 5 over 12-token rows and 13-token generations), Llama with Llama-3.1 and with linear rope scaling. The
 * references and how they were made: fixtures/hf-tiny/README.md and generate_families.py beside it.
 *
 * <p>Tolerances (fp32 against fp32 torch, different summation orders): logits relative norm 1e-5 (as the llama-gqa
 * tests); losses 1e-5 absolute; logits of each generation step 1e-4 absolute (the fixture README's bound for
 * logits); gradients 1e-5 absolute or 1e-3 relative; greedy tokens exact (every step's top-1/top-2 gap is at
 * least 1.5e-3, recorded in reference.json); after one AdamW step 1e-6 absolute on entries whose gradient is at
 * least 1e-5 (the first step moves an entry by about lr * sign(g), so near-zero gradients can flip legitimately);
 * RoPE inverse frequencies 2e-7 relative (torch's vectorised powf is within an ulp of the correctly rounded pow).
 */
class FamiliesTest {
  private static final int SEQ = 12, NEW_TOKENS = 8;

  /** The reference tensors of one family, with the batch as rows. */
  private record Reference(Path dir, SafetensorsFile file, int[][] ids, int[][] mask, int[][] labels)
      implements AutoCloseable {
    static Reference open(String family) throws IOException {
      Path dir = Fixtures.hfTiny(family);
      SafetensorsFile f = SafetensorsFile.open(dir.resolve("reference.safetensors"));
      return new Reference(dir, f, rows(f.longs("input_ids")), rows(f.longs("attention_mask")),
          rows(f.longs("labels")));
    }

    float[] floats(String name) throws IOException {
      return file.floats(name);
    }

    double scalar(String name) throws IOException {
      float[] v = file.floats(name);
      assertEquals(1, v.length, name);
      return v[0];
    }

    Batch batch() {
      return Batch.padded(ids, mask, labels);
    }

    CausalLM model() throws IOException {
      return CausalLM.load(dir, Device.CPU);
    }

    @Override
    public void close() throws IOException {
      file.close();
    }
  }

  private static int[][] rows(long[] flat) {
    int[][] r = new int[flat.length / SEQ][SEQ];
    for (int i = 0; i < flat.length; i++) r[i / SEQ][i % SEQ] = Math.toIntExact(flat[i]);
    return r;
  }

  private static int[] ints(long[] v) {
    return Arrays.stream(v).mapToInt(Math::toIntExact).toArray();
  }

  private static long[] withPrompt(int[] prompt, int[] generated) {
    long[] out = new long[prompt.length + generated.length];
    for (int i = 0; i < prompt.length; i++) out[i] = prompt[i];
    for (int i = 0; i < generated.length; i++) out[prompt.length + i] = generated[i];
    return out;
  }

  @ParameterizedTest
  @ValueSource(strings = {"qwen2", "qwen3", "mistral", "llama-rope-llama3", "llama-rope-linear"})
  void configCarriesTheFamilyFeatureAndRopeMatches(String family) throws IOException {
    try (Reference ref = Reference.open(family)) {
      ModelConfig c = ModelConfig.load(ref.dir());
      assertTrue(c.tieWordEmbeddings(), "every family fixture ties the LM head to the embeddings");
      switch (family) {
        case "qwen2" -> {
          assertTrue(c.qkvBias());
          assertEquals(0, c.slidingWindow(), "use_sliding_window is false");
        }
        case "qwen3" -> {
          assertTrue(c.architecture().qkNorm());
          assertEquals(12, c.headDim());
          assertFalse(c.qkvBias());
        }
        case "mistral" -> assertEquals(5, c.slidingWindow());
        case "llama-rope-llama3" -> assertEquals(new RopeScaling("llama3", 8f, 1f, 4f, 128), c.ropeScaling());
        case "llama-rope-linear" -> assertEquals(new RopeScaling("linear", 4f, 1f, 1f, 0), c.ropeScaling());
        default -> throw new AssertionError(family);
      }
      RopeScaling s = c.ropeScaling();
      int type = s.type().equals("linear") ? Kernels.ROPE_LINEAR
          : s.type().equals("llama3") ? Kernels.ROPE_LLAMA3 : Kernels.ROPE_DEFAULT;
      float[] inv = Kernels.ropeInvFreq(c.headDim(), c.ropeTheta(), type, s.factor(), s.lowFreqFactor(),
          s.highFreqFactor(), s.originalMaxPositionEmbeddings());
      Assert.close(family + " inv_freq", inv, ref.floats("rope.inv_freq"), 0, 2e-7);
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"qwen2", "qwen3", "mistral", "llama-rope-llama3", "llama-rope-linear"})
  void logitsAndLossMatchTransformers(String family) throws IOException {
    try (Reference ref = Reference.open(family); CausalLM m = ref.model()) {
      assertFalse(m.parameters().containsKey("lm_head.weight"), "tied: the checkpoint has no lm_head.weight");
      Batch b = ref.batch();
      assertEquals(15, b.targetCount());
      // All positions, the 3 right-padding queries of row 1 included: they see the real keys before them.
      Assert.relNorm(family + " logits", m.logits(b), ref.floats("base.logits"), 1e-5);
      assertEquals(ref.scalar("base.loss"), m.loss(b), 1e-5, family + " loss");
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"qwen2", "qwen3", "mistral", "llama-rope-llama3", "llama-rope-linear"})
  void packedRowsGiveThePaddedBatchLoss(String family) throws IOException {
    try (Reference ref = Reference.open(family); CausalLM m = ref.model()) {
      int real = Arrays.stream(ref.mask()[1]).sum();
      List<int[]> ids = List.of(ref.ids()[0], Arrays.copyOf(ref.ids()[1], real));
      List<int[]> labels = List.of(ref.labels()[0], Arrays.copyOf(ref.labels()[1], real));
      assertEquals(ref.scalar("base.loss"), m.loss(Batch.packed(ids, labels)), 1e-5,
          family + ": packing must keep each sequence's attention (and window) to itself");
      int vocab = m.config().vocabSize();
      float[] logits = m.logits(Batch.packed(ids, null)), want = ref.floats("base.logits");
      // row 1's real tokens follow row 0's 12 in the packed batch, positions restarting at 0
      Assert.relNorm(family + " packed row 1 logits", Arrays.copyOfRange(logits, SEQ * vocab, (SEQ + real) * vocab),
          Arrays.copyOfRange(want, SEQ * vocab, (SEQ + real) * vocab), 1e-5);
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"qwen2", "qwen3", "mistral", "llama-rope-llama3", "llama-rope-linear"})
  void greedyGenerationWithTheKvCacheMatchesGenerate(String family) throws IOException {
    try (Reference ref = Reference.open(family); CausalLM m = ref.model()) {
      int[] prompt = ints(ref.file().longs("gen.prompt_ids"));
      long[] want = ref.file().longs("gen.sequences");
      assertEquals(prompt.length + NEW_TOKENS, want.length);
      GenerationConfig greedy = GenerationConfig.greedy(NEW_TOKENS, List.of());  // no EOS in the references
      assertArrayEquals(want, withPrompt(prompt, Generator.generate(m, prompt, greedy)), family + " greedy tokens");

      // The logits that chose each token, through the same cache path Generator uses (prefill, then one by one).
      int vocab = m.config().vocabSize();
      float[] wantLogits = ref.floats("gen.logits");
      List<float[]> got = new ArrayList<>();
      try (KvCache cache = m.newCache(1, prompt.length + NEW_TOKENS)) {
        int[] pos = new int[prompt.length];
        for (int i = 0; i < pos.length; i++) pos[i] = i;
        float[] logits = m.forwardCached(cache, prompt, prompt.length, pos, null)[0];
        for (int step = 0; step < NEW_TOKENS; step++) {
          got.add(logits);
          if (step + 1 < NEW_TOKENS) {
            int tok = Math.toIntExact(want[prompt.length + step]);
            logits = m.forwardCached(cache, new int[] {tok}, 1, new int[] {prompt.length + step}, null)[0];
          }
        }
      }
      for (int s = 0; s < NEW_TOKENS; s++)
        Assert.close(family + " generation step " + s, got.get(s),
            Arrays.copyOfRange(wantLogits, s * vocab, (s + 1) * vocab), 1e-4, 0);
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"qwen2", "qwen3", "mistral", "llama-rope-llama3", "llama-rope-linear"})
  void peftLoraLogitsLossGradientsAndAdamWStep(String family) throws IOException {
    try (Reference ref = Reference.open(family); CausalLM m = ref.model()) {
      Path adapterDir = ref.dir().resolve("adapters/lora");
      m.loadAdapter("lora", adapterDir);
      m.setActiveAdapter("lora");
      Batch b = ref.batch();
      Assert.relNorm(family + " lora logits", m.logits(b), ref.floats("lora.logits"), 1e-5);
      assertEquals(ref.scalar("lora.loss"), m.loss(b), 1e-5, family + " lora loss");

      int[] prompt = ints(ref.file().longs("gen.prompt_ids"));
      assertArrayEquals(ref.file().longs("lora.gen.sequences"),
          withPrompt(prompt, Generator.generate(m, prompt, GenerationConfig.greedy(NEW_TOKENS, List.of()))),
          family + " lora greedy tokens");

      Map<String, Parameter> params = m.activeAdapterParameters();
      assertEquals(2 * 7 * m.config().numHiddenLayers(), params.size(), "A and B of all 7 projections per layer");
      params.values().forEach(p -> p.setTrainable(true));
      try (AdamW opt = new AdamW(params.values(), 0.9f, 0.999f, 1e-8f, 0f, 0f)) {
        assertEquals(ref.scalar("lora.loss"), m.forwardBackward(b, 1), 1e-5, family + " lora training loss");
        for (Parameter p : params.values())
          Assert.close(family + " grad " + p.name(), p.grad().toFloatArray(), ref.floats("lora.grad." + p.name()),
              1e-5, 1e-3);
        opt.step(1e-3f);
        for (Parameter p : params.values()) {
          float[] got = p.value().toFloatArray(), want = ref.floats("lora.after_step." + p.name());
          float[] grad = ref.floats("lora.grad." + p.name());
          int checked = 0;
          for (int i = 0; i < got.length; i++) {
            if (Math.abs(grad[i]) < 1e-5) continue;  // see the class comment
            assertEquals(want[i], got[i], 1e-6, family + " after step " + p.name() + "[" + i + "]");
            checked++;
          }
          assertTrue(checked > got.length / 2, p.name() + ": most entries must be compared");
        }
      }
      assertEquals(ref.scalar("lora.loss_after_step"), m.loss(b), 1e-5, family + " loss after one AdamW step");
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"qwen2", "qwen3", "mistral", "llama-rope-llama3", "llama-rope-linear"})
  void peftTargetModulesSelectTheAdaptedLayers(String family) throws IOException {
    try (Reference ref = Reference.open(family); CausalLM m = ref.model()) {
      Path adapterDir = ref.dir().resolve("adapters/lora");
      LoraConfig cfg = LoraConfig.read(adapterDir);
      m.loadAdapter("lora", adapterDir);
      List<String> adapted = new ArrayList<>();
      for (Map.Entry<String, Linear> e : m.linears().entrySet())
        if (!e.getValue().adapters().isEmpty()) adapted.add(e.getKey());
      List<String> selected = LoraTuner.targets(m, cfg).stream().map(Linear::name).toList();
      assertEquals(adapted, selected, family + ": PEFT's target_modules select exactly the layers it adapted");
      assertEquals(7 * m.config().numHiddenLayers(), selected.size());
      assertNull(m.linears().get("lm_head"), "the tied LM head is not a linear layer of its own");
    }
  }

  /**
   * Qwen2 with use_sliding_window true, sliding_window 5, max_window_layers 1 (reference.json "swa"): transformers
   * slides only layer 1 (layer_types [full_attention, sliding_attention]). The same weights under that config, written
   * the transformers-5 way (with layer_types) and the older way (max_window_layers alone), give its loss and greedy
   * tokens; with max_window_layers 28 (the default) no layer slides and the loss is the base loss.
   */
  @Test
  void qwen2SlidesOnlyTheLayersTransformersSlides(@TempDir Path tmp) throws IOException {
    try (Reference ref = Reference.open("qwen2")) {
      ObjectMapper json = new ObjectMapper();
      ObjectNode swa = (ObjectNode) json.readTree(ref.dir().resolve("reference.json").toFile())
          .path("scalars").path("swa");
      ObjectNode base = (ObjectNode) json.readTree(ref.dir().resolve("config.json").toFile());
      base.setAll((ObjectNode) swa.get("config_overrides"));
      ObjectNode withTypes = base.deepCopy();
      withTypes.set("layer_types", swa.get("layer_types"));
      ObjectNode maxWindowLayersOnly = base.deepCopy();
      maxWindowLayersOnly.remove("layer_types");
      ObjectNode noSlidingLayer = maxWindowLayersOnly.deepCopy();
      noSlidingLayer.put("max_window_layers", 28);
      int[] prompt = ints(ref.file().longs("gen.prompt_ids"));
      Map<String, ObjectNode> variants = new java.util.LinkedHashMap<>();
      variants.put("layer_types", withTypes);
      variants.put("max_window_layers 1 without layer_types", maxWindowLayersOnly);
      variants.put("max_window_layers 28 without layer_types", noSlidingLayer);
      for (Map.Entry<String, ObjectNode> v : variants.entrySet()) {
        Path dir = Files.createTempDirectory(tmp, "qwen2");
        Files.copy(ref.dir().resolve("model.safetensors"), dir.resolve("model.safetensors"));
        json.writeValue(dir.resolve("config.json").toFile(), v.getValue());
        boolean slides = v.getValue() != noSlidingLayer;
        try (CausalLM m = CausalLM.load(dir, Device.CPU)) {
          assertEquals(List.of(0, slides ? 5 : 0), List.of(m.config().slidingWindow(0), m.config().slidingWindow(1)),
              v.getKey());
          assertEquals(ref.scalar(slides ? "swa.loss" : "base.loss"), m.loss(ref.batch()), 1e-5, v.getKey());
          if (slides)
            assertArrayEquals(ref.file().longs("swa.gen.sequences"),
                withPrompt(prompt, Generator.generate(m, prompt, GenerationConfig.greedy(NEW_TOKENS, List.of()))),
                v.getKey() + ": greedy tokens through the KV cache, 13 tokens > the window");
        }
      }
    }
  }
}
