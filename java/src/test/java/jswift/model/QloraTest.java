package jswift.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.util.List;
import jswift.nn.Linear;
import jswift.nn.Parameter;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.testing.Assert;
import jswift.testing.Fixtures;
import jswift.tuner.LoraConfig;
import jswift.tuner.LoraTuner;
import org.junit.jupiter.api.Test;

/**
 * QLoRA: decoder linears stored as NF4. The 4-bit model is close to the dense one (NF4 keeps ~3 significant bits
 * per value: logits stay within a few percent relative), takes a fraction of the memory, and trains.
 */
class QloraTest {
  private static final Batch BATCH = Batch.padded(new int[][] {{1, 53, 482, 280, 438, 489, 207, 443, 374, 441}},
      null, new int[][] {{1, 53, 482, 280, 438, 489, 207, 443, 374, 441}});

  @Test
  void nf4ModelIsCloseToDenseSmallerAndTrains() throws IOException {
    try (CausalLM dense = CausalLM.load(Fixtures.llamaGqa(), Device.CPU);
        CausalLM q = CausalLM.load(Fixtures.llamaGqa(), Device.CPU, DType.F32, CausalLM.Quantization.NF4_DOUBLE_QUANT)) {
      Linear up = q.linears().get("model.layers.0.mlp.up_proj");
      assertNull(up.weight());
      assertTrue(up.quantizedWeight() != null);
      assertTrue(!q.parameters().containsKey("model.layers.0.mlp.up_proj.weight"));
      // The 14 linears hold 92,160 values: 369 KB in fp32, ~48 KB as NF4 with double-quantized absmax
      // (4.13 bits per value); embeddings, norms and the head stay fp32.
      long linearValues = 0;
      for (Linear l : dense.linears().values()) linearValues += l.inFeatures() * l.outFeatures();
      assertTrue(dense.weightBytes() - q.weightBytes() > linearValues * 4 * 0.85,
          "dense " + dense.weightBytes() + " vs nf4 " + q.weightBytes());
      // The 4-bit model computes exactly the dense model whose weights are the NF4 round trip.
      float[] before = dense.logits(BATCH);
      try (jswift.tensor.Tensor code = jswift.nn.Nf4Weight.dynamicMap(Device.CPU)) {
        for (Linear l : dense.linears().values()) {
          try (jswift.nn.Nf4Weight w = jswift.nn.Nf4Weight.quantize(l.weight().value(), true, code);
              jswift.tensor.Arena a = new jswift.tensor.Arena()) {
            l.weight().value().copyFrom(w.dequantize(a));
          }
        }
      }
      float[] qLogits = q.logits(BATCH);
      Assert.relNorm("nf4 logits vs the dense model with round-tripped weights", qLogits, dense.logits(BATCH), 1e-6);
      // And close to the original model: NF4's ~10% relative error per weight, compounded over the 14 random
      // matrices of this tiny model, moves the logits by ~27% (relative norm); real checkpoints lose far less.
      Assert.relNorm("nf4 logits vs dense", qLogits, before, 0.4);
      double[] loss = jswift.testing.TinyModels.loraLosses(q, BATCH, 1e-3f, 15);
      assertTrue(loss[1] < loss[0] - 0.5, "QLoRA reduces the loss: " + loss[0] + " -> " + loss[1]);
      assertEquals(CausalLM.Quantization.NF4_DOUBLE_QUANT, q.quantization());
    }
  }

  @Test
  void doraOnNf4NormalisesTheDequantizedWeight() throws IOException {
    // QDoRA: the weight norm is taken of the dequantized W (PEFT dequantizes too), so the 4-bit model with the
    // fixture's DoRA adapter computes what the dense model with round-tripped weights computes, gradients included.
    try (CausalLM dense = CausalLM.load(Fixtures.llamaGqa(), Device.CPU);
        CausalLM q = CausalLM.load(Fixtures.llamaGqa(), Device.CPU, DType.F32, CausalLM.Quantization.NF4)) {
      try (jswift.tensor.Tensor code = jswift.nn.Nf4Weight.dynamicMap(Device.CPU)) {
        for (Linear l : dense.linears().values()) {
          try (jswift.nn.Nf4Weight w = jswift.nn.Nf4Weight.quantize(l.weight().value(), false, code);
              jswift.tensor.Arena a = new jswift.tensor.Arena()) {
            l.weight().value().copyFrom(w.dequantize(a));
          }
        }
      }
      java.util.Map<String, float[]> grads = new java.util.HashMap<>();
      float[] denseLogits = null;
      for (CausalLM m : List.of(dense, q)) {
        m.loadAdapter("dora", Fixtures.llamaGqa().resolve("adapters/dora"));
        m.setActiveAdapter("dora");
        float[] logits = m.logits(BATCH);
        if (denseLogits == null) denseLogits = logits;
        else Assert.relNorm("QDoRA logits", logits, denseLogits, 1e-6);
        m.activeAdapterParameters().values().forEach(p -> p.setTrainable(true));
        m.forwardBackward(BATCH, 0);
        for (Parameter p : m.activeAdapterParameters().values()) {
          float[] g = p.grad().toFloatArray(), other = grads.putIfAbsent(p.name(), g);
          if (other != null) Assert.relNorm("QDoRA grad " + p.name(), g, other, 1e-5);
        }
      }
      assertEquals(42, grads.size());
      // A new DoRA adapter on the 4-bit model takes ||dequantized W|| as its magnitude: it starts as that model.
      q.setActiveAdapter(null);
      float[] base = q.logits(BATCH);
      LoraTuner.apply(q, "fresh", LoraConfig.defaults().withTargetModules(List.of("all-linear")).withLoraDropout(0)
          .withDora(true), 3);
      Assert.relNorm("fresh QDoRA adapter at init", q.logits(BATCH), base, 1e-6);
    }
  }
}
