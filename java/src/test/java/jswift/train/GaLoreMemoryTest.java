package jswift.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import jswift.nn.Parameter;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Tensor;
import org.junit.jupiter.api.Test;

/**
 * Optimizer-state memory of a Qwen2.5-0.5B-shaped model (hidden 896, 24 layers, intermediate 4864, 14 heads of 64,
 * 2 kv heads, vocab 151936, tied embeddings; q/k/v biases) under AdamW and under GaLore rank 128. One decoder
 * layer's optimizer is really built both ways and its allocated state measured ({@link AdamW#stateBytes}); the
 * other 23 layers are the same, and the rest (embedding, norms, biases) keeps two fp32 moments in both.
 *
 * <p>Expected from the shapes: q and o [896, 896] keep 2 x 896 x 128 + 128 x 896 floats instead of 2 x 896^2
 * (4.67x less); gate, up [4864, 896] and down [896, 4864] 2 x 4864 x 128 + 128 x 896 instead of 2 x 4864 x 896
 * (6.41x); k and v [128, 896] are no smaller than the rank, so their moments stay [128, 896] and the 128 x 128
 * projector makes them 7% larger than AdamW's (galore-torch projects them all the same).
 */
class GaLoreMemoryTest {
  private static final long H = 896, I = 4864, KV = 128, VOCAB = 151936, LAYERS = 24;

  @Test
  void galoreCutsTheDecoderLinearStateOfAQwen25HalfBillionModel() {
    long[][] linear = {{H, H}, {KV, H}, {KV, H}, {H, H}, {I, H}, {I, H}, {H, I}};
    String[] names = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
    long adamwLayer, galoreLayer;
    List<Parameter> layer = new ArrayList<>();
    try {
      for (int i = 0; i < linear.length; i++) {
        Parameter p = new Parameter("model.layers.0." + names[i] + ".weight",
            Tensor.allocate(DType.F32, Device.CPU, linear[i]));
        p.setTrainable(true);
        layer.add(p);
      }
      try (AdamW plain = new AdamW(layer, 0.9f, 0.999f, 1e-8f, 0f, 0f)) {
        adamwLayer = plain.stateBytes();
      }
      try (AdamW galore = new AdamW(layer, 0.9f, 0.999f, 1e-8f, 0f, 0f, new GaLoreConfig(128, 200, 0.25f, null, false),
          layer)) {
        galoreLayer = galore.stateBytes();
      }
    } finally {
      layer.forEach(Parameter::close);
    }
    long linearFloats = 2 * H * H + 2 * KV * H + 3 * I * H;
    assertEquals(8 * linearFloats, adamwLayer);
    long expected = 2 * (2 * H * 128 + 128 * H) + 2 * (2 * KV * H + KV * KV) + 3 * (2 * I * 128 + 128 * H);
    assertEquals(4 * expected, galoreLayer);
    // the rest: embedding (tied: one weight), q/k/v biases, two norms per layer and the final norm
    long rest = 8 * (VOCAB * H + LAYERS * (H + 2 * KV + 2 * H) + H);
    long adamw = LAYERS * adamwLayer + rest, galore = LAYERS * galoreLayer + rest;
    double linearCut = (double) adamwLayer / galoreLayer, totalCut = (double) adamw / galore;
    System.out.printf("Qwen2.5-0.5B-shaped optimizer state: AdamW %d bytes (%.1f MiB), GaLore r=128 %d bytes "
        + "(%.1f MiB), %.2fx less; decoder linears alone %.1f -> %.1f MiB (%.2fx)%n", adamw, adamw / 1048576.0,
        galore, galore / 1048576.0, totalCut, LAYERS * adamwLayer / 1048576.0, LAYERS * galoreLayer / 1048576.0,
        linearCut);
    assertEquals(3_952_262_144L, adamw);
    assertEquals(1_594_539_008L, galore);
    // the low-rank factor on the projected weights: ~2 mn / (2 r max(m, n) + r min(m, n)) -> 5.67x here
    assertTrue(linearCut > 5.6 && linearCut < 5.7, "decoder linear state cut " + linearCut);
    assertTrue(totalCut > 2.4, "whole-model cut " + totalCut + " (the tied embedding keeps full moments)");
  }
}
