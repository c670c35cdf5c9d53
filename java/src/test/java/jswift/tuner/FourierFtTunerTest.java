package jswift.tuner;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import jswift.model.Batch;
import jswift.model.CausalLM;
import jswift.model.SafetensorsFile;
import jswift.nn.FourierBases;
import jswift.nn.Parameter;
import jswift.tensor.Device;
import jswift.testing.AdapterFiles;
import jswift.testing.Assert;
import jswift.testing.Fixtures;
import jswift.testing.GradientCheck;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * FourierFT on the llama-gqa fixture (all linear layers; q / o [64, 64], k / v [32, 64], gate / up [176, 64], down
 * [64, 176]): PEFT's N(0, 1) initialisation changes the model and init_weights true does not; the coefficients'
 * gradients match finite differences through the whole model; saved in PEFT's layout (fourierft_spectrum [n] per
 * module, n from n_frequency_pattern where it matches) it loads and merges into weights that give the same logits;
 * an n a layer cannot hold and a spectrum of the wrong length are refused, naming the layer or tensor.
 */
class FourierFtTunerTest {
  private static final JsonNodeFactory JSON = JsonNodeFactory.instance;
  private static final Batch BATCH = Batch.padded(new int[][] {{1, 53, 482, 280, 438, 489, 207}}, null,
      new int[][] {{1, 53, 482, 280, 438, 489, 207}});

  private static LoraConfig fourier() {
    return LoraConfig.fourierFtDefaults().withTargetModules(List.of("q_proj", "k_proj", "v_proj", "o_proj",
        "gate_proj", "up_proj", "down_proj")).with("n_frequency", JSON.numberNode(40))
        .with("scaling", JSON.numberNode(100.0))
        .with("n_frequency_pattern", JSON.objectNode().put("down_proj", 24));
  }

  @Test
  void trainsSavesLoadsAndMergesAsPeft(@TempDir Path tmp) throws IOException {
    Path dir = tmp.resolve("adapter");
    float[] trained;
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      float[] base = m.logits(BATCH);
      List<Parameter> params = LoraTuner.apply(m, "default", fourier(), 0);
      assertEquals(7 * 2, params.size(), "one spectrum for each of 7 linears in 2 layers");
      for (Parameter p : params) assertEquals(p.name().contains("down_proj") ? 24 : 40, p.numel(), p.name());
      assertFalse(java.util.Arrays.equals(base, m.logits(BATCH)), "N(0, 1) coefficients, as PEFT starts them");
      m.forwardBackward(BATCH, 1);
      GradientCheck.check(params, new Random(5), () -> m.loss(BATCH), "fourierft");
      trained = m.logits(BATCH);
      PeftAdapterWriter.save(m, "default", fourier(), "base", dir, false);
    }
    LoraConfig saved = LoraConfig.read(dir);
    assertEquals("FOURIERFT", saved.peftType());
    assertEquals(777, saved.randomLocSeed());
    try (SafetensorsFile f = SafetensorsFile.open(dir.resolve("adapter_model.safetensors"))) {
      assertEquals(14, f.names().size());
      assertArrayEquals(new long[] {40}, f.entry("base_model.model.model.layers.0.self_attn.k_proj.fourierft_spectrum")
          .shape());
      assertArrayEquals(new long[] {24}, f.entry("base_model.model.model.layers.1.mlp.down_proj.fourierft_spectrum")
          .shape());
    }
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      m.loadAdapter("f", dir);
      m.setActiveAdapter("f");
      assertArrayEquals(trained, m.logits(BATCH), "loaded = trained");
      assertTrue(m.sharedAdapterTensors("f", FourierBases.class) != null, "the model owns the adapter's bases");
    }
    Path merged = tmp.resolve("merged");
    assertEquals(14, LoraMerge.merge(Fixtures.llamaGqa(), dir, merged, LoraMerge.Options.on(Device.CPU)).mergedWeights());
    try (CausalLM m = CausalLM.load(merged, Device.CPU)) {
      Assert.relNorm("merged vs base + FourierFT", m.logits(BATCH), trained, 1e-5);
    }
  }

  @Test
  void zeroInitialisationStartsAtTheBaseModel() throws IOException {
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      float[] base = m.logits(BATCH);
      LoraTuner.apply(m, "default", fourier().with("init_weights", JSON.booleanNode(true)), 0);
      assertArrayEquals(base, m.logits(BATCH));
    }
  }

  @Test
  void moreFrequenciesThanALayerHasAreRefusedBeforeAnyChange() throws IOException {
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      float[] base = m.logits(BATCH);
      LoraConfig bad = fourier().with("n_frequency", JSON.numberNode(2048));  // k_proj has 32 x 64 = 2048 entries
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> LoraTuner.apply(m, "default", bad, 0));
      assertTrue(e.getMessage().contains("k_proj [32, 64]") && e.getMessage().contains("[1, 2047]"), e.getMessage());
      assertTrue(m.linears().values().stream().allMatch(l -> l.adapters().isEmpty()), "no adapter was added");
      assertArrayEquals(base, m.logits(BATCH));
    }
  }

  @Test
  void aSpectrumOfTheWrongLengthIsRefusedWithItsTensor(@TempDir Path tmp) throws IOException {
    Path dir = tmp.resolve("adapter");
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      LoraTuner.apply(m, "default", fourier(), 0);
      PeftAdapterWriter.save(m, "default", fourier(), "base", dir, false);
    }
    String bad = "base_model.model.model.layers.0.self_attn.q_proj.fourierft_spectrum";
    AdapterFiles.reshape(dir, bad, 39);
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      IOException e = assertThrows(IOException.class, () -> m.loadAdapter("b", dir));
      assertTrue(e.getMessage().contains(bad) && e.getMessage().contains("n_frequency 40"), e.getMessage());
      assertTrue(m.linears().values().stream().allMatch(l -> l.adapters().isEmpty()), "no adapter was added");
    }
    IOException merge = assertThrows(IOException.class, () -> LoraMerge.merge(Fixtures.llamaGqa(), dir,
        tmp.resolve("merged"), LoraMerge.Options.on(Device.CPU)));
    assertTrue(merge.getMessage().contains("q_proj") && merge.getMessage().contains("fourierft_spectrum [39]"),
        merge.getMessage());
  }
}
