package jswift.tuner;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.IntNode;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import jswift.model.Batch;
import jswift.model.CausalLM;
import jswift.model.SafetensorsFile;
import jswift.nn.Parameter;
import jswift.tensor.Device;
import jswift.testing.Assert;
import jswift.testing.Fixtures;
import jswift.testing.GradientCheck;
import jswift.testing.Rand;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * AdaLoRA on the llama-gqa fixture (14 linear layers): a new adapter is the base model; the gradients of A, B and E
 * and of the orthogonality regulariser match finite differences; the allocator follows PEFT's cubic budget and
 * prunes to target_r per module; the saved adapter holds only the survivors with PEFT's rank_pattern, and loads and
 * merges to the trained model's logits.
 */
class AdaLoraTest {
  private static final Batch BATCH = Batch.padded(new int[][] {{1, 53, 482, 280, 438, 489, 207}}, null,
      new int[][] {{1, 53, 482, 280, 438, 489, 207}});

  private static LoraConfig adaLora() {
    return LoraConfig.adaLoraDefaults().withLoraAlpha(32).withTargetModules(List.of(LoraTuner.ALL_LINEAR));
  }

  /** Moves every E off zero, so that A and B matter. */
  private static void perturb(List<Parameter> params) {
    for (Parameter p : params)
      if (p.name().endsWith("lora_E")) p.value().copyFrom(Rand.normal(p.value().numel(), p.name().hashCode(), 1f));
  }

  @Test
  void aNewAdapterIsTheBaseModelAndItsGradientsMatchFiniteDifferences() throws IOException {
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      float[] base = m.logits(BATCH);
      List<Parameter> params = LoraTuner.apply(m, "default", adaLora().withLoraDropout(0), 3);
      assertEquals(3 * 14, params.size(), "A, B and E for 7 projections in 2 layers");
      assertEquals("base_model.model.model.layers.0.self_attn.q_proj.lora_E", params.get(2).name());
      assertArrayEquals(new long[] {12, 64}, params.get(0).value().shape(), "init_r rows");
      assertArrayEquals(base, m.logits(BATCH), "E = 0: the adapter changes nothing at init");
      perturb(params);
      m.forwardBackward(BATCH, 1);
      List<Parameter> a = new ArrayList<>(), b = new ArrayList<>(), e = new ArrayList<>();
      for (Parameter p : params) (p.name().endsWith("_A") ? a : p.name().endsWith("_B") ? b : e).add(p);
      GradientCheck.check(a, new Random(1), () -> m.loss(BATCH), "lora_A");
      GradientCheck.check(b, new Random(2), () -> m.loss(BATCH), "lora_B");
      GradientCheck.check(e, new Random(3), () -> m.loss(BATCH), "lora_E");
    }
  }

  @Test
  void orthogonalRegularizationIsPeftsAndItsGradientMatchesFiniteDifferences() throws IOException {
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      LoraConfig cfg = adaLora();
      List<Parameter> params = LoraTuner.apply(m, "default", cfg, 3);
      for (Parameter p : params) p.value().copyFrom(Rand.normal(p.value().numel(), p.name().hashCode(), 0.3f));
      AdaLoraAllocator alloc = new AdaLoraAllocator(m, "default", cfg, 100);
      // PEFT: w / (2 x modules) x sum of ||A A^T - I||_F and ||B^T B - I||_F, here in double
      double want = 0;
      for (Parameter p : params) {
        if (p.name().endsWith("_E")) continue;
        long[] s = p.value().shape();
        boolean rows = p.name().endsWith("_A");
        int r = (int) (rows ? s[0] : s[1]), len = (int) (rows ? s[1] : s[0]);
        float[] v = p.value().toFloatArray();
        double sq = 0;
        for (int i = 0; i < r; i++)
          for (int j = 0; j < r; j++) {
            double g = 0;
            for (int k = 0; k < len; k++)
              g += (double) (rows ? v[i * len + k] : v[k * r + i]) * (rows ? v[j * len + k] : v[k * r + j]);
            sq += Math.pow(g - (i == j ? 1 : 0), 2);
          }
        want += Math.sqrt(sq);
      }
      want *= 0.5 / 28;
      for (Parameter p : params) p.grad().zero();
      assertEquals(want, alloc.addOrthogonalRegularization(), 1e-9 * want);
      List<Parameter> ab = params.stream().filter(p -> !p.name().endsWith("_E")).toList();
      GradientCheck.check(ab, new Random(4), () -> {
        for (Parameter p : params) p.grad().zero();
        return alloc.addOrthogonalRegularization();
      }, "orthogonality");
    }
  }

  @Test
  void theBudgetFallsCubicallyAndPruningEndsAtTargetRPerModule(@TempDir Path tmp) throws IOException {
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      LoraConfig cfg = adaLora().withLoraDropout(0).with("tinit", IntNode.valueOf(2)).with("tfinal", IntNode.valueOf(3));
      List<Parameter> params = LoraTuner.apply(m, "default", cfg, 5);
      perturb(params);
      long total = 12;
      AdaLoraAllocator alloc = new AdaLoraAllocator(m, "default", cfg, total);
      // PEFT's schedule: init 14 x 12 = 168 until tinit; then int((168 - 112) (1 - (t - 2) / 7)^3 + 112)
      assertEquals(new AdaLoraAllocator.Budget(168, false), alloc.schedule(2));
      assertEquals(new AdaLoraAllocator.Budget((long) (56 * Math.pow(1 - 1.0 / 7, 3) + 112), true), alloc.schedule(3));
      assertEquals(new AdaLoraAllocator.Budget(112, true), alloc.schedule(10));
      for (long step = 1; step <= total; step++) {
        for (Parameter p : params) p.grad().zero();
        m.forwardBackward(BATCH, step);
        alloc.afterStep(step);
        if (step == 2) assertEquals(168, alloc.keptRanks(), "no pruning before tinit");
        if (step == 5) assertTrue(alloc.keptRanks() < 168 && alloc.keptRanks() > 112, "pruning: " + alloc.keptRanks());
      }
      assertEquals(112, alloc.keptRanks(), "target_r x modules at the end");
      Map<String, boolean[]> pattern = alloc.rankPattern();
      assertEquals(14, pattern.size());
      for (Parameter p : params)
        if (p.name().endsWith("lora_E")) {
          String module = p.name().substring("base_model.model.".length(), p.name().length() - ".lora_E".length());
          float[] e = p.value().toFloatArray();
          for (int i = 0; i < e.length; i++) if (!pattern.get(module)[i]) assertEquals(0f, e[i], module + " E[" + i + "]");
        }
      // Saved: the survivors only, and PEFT's rank_pattern; loaded and merged: the trained model's logits.
      float[] trained = m.logits(BATCH);
      LoraConfig saved = LoraTuner.resolveTargets(m, cfg).withAdaLoraRankPattern(pattern);
      Path dir = tmp.resolve("adapter");
      PeftAdapterWriter.save(m, "default", saved, "base", dir, false);
      LoraConfig read = LoraConfig.read(dir);
      assertEquals("ADALORA", read.peftType());
      String some = pattern.keySet().iterator().next();
      int kept = read.rankFor(some);
      try (SafetensorsFile f = SafetensorsFile.open(dir.resolve("adapter_model.safetensors"))) {
        assertEquals(42, f.names().size());
        assertArrayEquals(new long[] {kept, 1}, f.entry("base_model.model." + some + ".lora_E").shape());
        assertArrayEquals(new long[] {kept, 64}, f.entry("base_model.model." + some + ".lora_A").shape());
      }
      try (CausalLM loaded = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
        loaded.loadAdapter("a", dir);
        loaded.setActiveAdapter("a");
        // E A folded into one factor at load: fp32 rounding only
        Assert.relNorm("loaded vs trained", loaded.logits(BATCH), trained, 1e-6);
      }
      Path merged = tmp.resolve("merged");
      LoraMerge.merge(Fixtures.llamaGqa(), dir, merged, LoraMerge.Options.on(Device.CPU));
      try (CausalLM mm = CausalLM.load(merged, Device.CPU)) {
        Assert.relNorm("merged vs trained", mm.logits(BATCH), trained, 1e-5);
      }
    }
  }

  @Test
  void schedulesWithoutABudgetingPhaseAreRefused() throws IOException {
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      LoraConfig cfg = adaLora().with("tinit", IntNode.valueOf(8)).with("tfinal", IntNode.valueOf(4));
      LoraTuner.apply(m, "default", cfg, 1);
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> new AdaLoraAllocator(m, "default", cfg, 10));
      assertTrue(e.getMessage().contains("tinit"), e.getMessage());
      assertFalse(e.getMessage().isEmpty());
    }
  }

  @Test
  void aModulePrunedToRankZeroIsSavedEmptyAndLeftOutOnLoad(@TempDir Path tmp) throws IOException {
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      LoraConfig cfg = adaLora().withLoraDropout(0);
      List<Parameter> params = LoraTuner.apply(m, "default", cfg, 5);
      perturb(params);
      Map<String, boolean[]> pattern = new java.util.LinkedHashMap<>();
      for (String module : m.linears().keySet()) {
        boolean[] keep = new boolean[12];
        if (!module.equals("model.layers.1.mlp.up_proj")) for (int i = 0; i < 12; i += 2) keep[i] = true;
        pattern.put(module, keep);
      }
      // what the allocator leaves: the pruned singular values at zero
      for (Parameter p : params)
        if (p.name().endsWith("lora_E")) {
          boolean[] keep = pattern.get(p.name().substring(17, p.name().length() - 7));
          float[] e = p.value().toFloatArray();
          for (int i = 0; i < e.length; i++) if (!keep[i]) e[i] = 0;
          p.value().copyFrom(e);
        }
      float[] trained = m.logits(BATCH);
      Path dir = tmp.resolve("adapter");
      PeftAdapterWriter.save(m, "default", LoraTuner.resolveTargets(m, cfg).withAdaLoraRankPattern(pattern), "base",
          dir, false);
      try (SafetensorsFile f = SafetensorsFile.open(dir.resolve("adapter_model.safetensors"))) {
        assertArrayEquals(new long[] {0, 64}, f.entry("base_model.model.model.layers.1.mlp.up_proj.lora_A").shape());
        assertArrayEquals(new long[] {6, 1}, f.entry("base_model.model.model.layers.1.mlp.down_proj.lora_E").shape());
      }
      try (CausalLM loaded = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
        loaded.loadAdapter("a", dir);
        loaded.setActiveAdapter("a");
        Assert.relNorm("loaded vs trained", loaded.logits(BATCH), trained, 1e-6);
        assertEquals(null, loaded.linears().get("model.layers.1.mlp.up_proj").adapters().get("a"), "rank 0: no adapter");
      }
      Path merged = tmp.resolve("merged");
      assertEquals(13, LoraMerge.merge(Fixtures.llamaGqa(), dir, merged, LoraMerge.Options.on(Device.CPU))
          .mergedWeights());
      try (CausalLM mm = CausalLM.load(merged, Device.CPU)) {
        Assert.relNorm("merged vs trained", mm.logits(BATCH), trained, 1e-5);
      }
    }
  }
}
