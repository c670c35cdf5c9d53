package jswift.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import jswift.model.CausalLM;
import jswift.nn.Parameter;
import jswift.tensor.Device;
import jswift.testing.Assert;
import jswift.testing.Fixtures;
import jswift.testing.Rand;
import jswift.tuner.LoraConfig;
import jswift.tuner.LoraTuner;
import org.junit.jupiter.api.Test;

/**
 * LoRA+ (--lorap_lr_ratio): exactly the lora_B matrices and the 1-D parameters (DoRA magnitudes) get lr x R, as
 * ms-swift groups them, and one AdamW step moves every parameter as torch's AdamW would with that group's lr.
 */
class LoraPlusTest {
  @Test
  void groupBIsTheBMatricesAndTheOneDimensionalParameters() throws IOException {
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      List<Parameter> params = LoraTuner.apply(m, "default", LoraConfig.defaults().withR(4).withLoraAlpha(8)
          .withTargetModules(List.of("all-linear")).withDora(true), 1);
      List<Parameter> b = LoraPlus.groupB(params);
      assertEquals(2 * 7 * 2, b.size(), "B and the magnitude of 7 projections in 2 layers");
      for (Parameter p : params) {
        boolean isB = p.name().endsWith(".lora_B.weight") || p.name().endsWith(".lora_magnitude_vector");
        assertEquals(isB, b.contains(p), p.name());
      }
    }
  }

  /**
   * One step from zero moments: torch's AdamW gives p' = p (1 - lr_g wd) - lr_g g / (|g| + eps) (the bias
   * corrections cancel at step 1), lr_g = lr x R for group B, lr for the rest; wd on all of them (DoRA's magnitude
   * too: transformers spares only biases and norm weights). fp32
   * arithmetic on values ~0.1: 1e-6 absolute is a few ulps, while a ratio on the wrong parameter moves it by
   * (R - 1) lr = 1.5e-2.
   */
  @Test
  void oneStepAppliesTheRatioToExactlyTheBParameters() throws IOException {
    float lr = 1e-3f, wd = 0.1f, eps = 1e-8f, ratio = 16f;
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      List<Parameter> params = LoraTuner.apply(m, "default", LoraConfig.defaults().withR(4).withLoraAlpha(8)
          .withTargetModules(List.of("q_proj", "down_proj")).withDora(true).withInitLoraWeights(
              com.fasterxml.jackson.databind.node.BooleanNode.FALSE), 3);
      List<float[]> before = new ArrayList<>(), grads = new ArrayList<>();
      for (int i = 0; i < params.size(); i++) {
        Parameter p = params.get(i);
        float[] g = Rand.normal(p.numel(), 100 + i, 0.01f);
        p.grad().copyFrom(g);
        grads.add(g);
        before.add(p.master().toFloatArray());
      }
      List<Parameter> groupB = LoraPlus.groupB(params);
      try (AdamW opt = new AdamW(params, 0.9f, 0.95f, eps, wd, 0f)) {
        List<Parameter> exempt = new ArrayList<>();
        for (Parameter p : params) if (!AdamW.decaysLike(p)) exempt.add(p);
        opt.withoutDecay(exempt).withLrRatio(groupB, ratio);
        opt.step(lr);
      }
      int inB = 0;
      for (int i = 0; i < params.size(); i++) {
        Parameter p = params.get(i);
        boolean b = p.name().contains("lora_B") || p.value().rank() == 1;
        inB += b ? 1 : 0;
        double lrP = b ? (double) lr * ratio : lr, wdP = wd;
        float[] p0 = before.get(i), g = grads.get(i), want = new float[p0.length];
        for (int k = 0; k < p0.length; k++)
          want[k] = (float) (p0[k] * (1 - lrP * wdP) - lrP * g[k] / (Math.abs(g[k]) + eps));
        Assert.close(p.name(), p.master().toFloatArray(), want, 1e-6, 1e-6);
      }
      assertEquals(2 * 2 * 2, inB, "B and magnitude of 2 projections in 2 layers");
    }
  }

  @Test
  void theFlagIsCheckedWhereItCannotApply() {
    TrainArguments a = new TrainArguments();
    a.model = Path.of("m");
    a.dataset = List.of("d");
    a.lorapLrRatio = 0.0;
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, a::validate);
    assertTrue(e.getMessage().contains("--lorap_lr_ratio"), e.getMessage());
    a.lorapLrRatio = 16.0;
    a.trainType = "full";
    e = assertThrows(IllegalArgumentException.class, a::validate);
    assertTrue(e.getMessage().contains("--train_type lora"), e.getMessage());
  }
}
