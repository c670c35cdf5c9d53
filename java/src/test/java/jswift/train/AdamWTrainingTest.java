package jswift.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.util.Map;
import jswift.model.Batch;
import jswift.model.CausalLM;
import jswift.model.SafetensorsFile;
import jswift.nn.Parameter;
import jswift.tensor.Device;
import jswift.testing.Fixtures;
import org.junit.jupiter.api.Test;

/** One AdamW step on the fixture's LoRA adapter equals PEFT + torch.optim.AdamW, then training lowers the loss. */
class AdamWTrainingTest {
  @Test
  void oneStepMatchesTorchThenLossFalls() throws IOException {
    try (SafetensorsFile ref = SafetensorsFile.open(Fixtures.llamaGqa().resolve("reference.safetensors"));
        CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      int[][] ids = rows(ref.longs("input_ids")), mask = rows(ref.longs("attention_mask")), labels = rows(ref.longs("labels"));
      Batch b = Batch.padded(ids, mask, labels);
      m.loadAdapter("lora", Fixtures.llamaGqa().resolve("adapters/lora"));
      m.setActiveAdapter("lora");
      Map<String, Parameter> params = m.activeAdapterParameters();
      params.values().forEach(p -> p.setTrainable(true));
      try (AdamW opt = new AdamW(params.values(), 0.9f, 0.999f, 1e-8f, 0f, 0f)) {
        double loss0 = m.forwardBackward(b, 1);
        assertEquals(6.940145969390869, loss0, 1e-5);
        opt.step(1e-3f);
        opt.zeroGrad();
        for (Parameter p : params.values()) {
          float[] got = p.value().toFloatArray(), want = ref.floats("lora.after_step." + p.name());
          float[] grad = ref.floats("lora.grad." + p.name());
          for (int i = 0; i < got.length; i++)
            if (Math.abs(grad[i]) >= 1e-5) assertEquals(want[i], got[i], 1e-6, p.name() + "[" + i + "]");
        }
        assertEquals(6.76500129699707, m.loss(b), 1e-5, "loss after one step");
        double last = 0;
        for (int s = 0; s < 10; s++) {
          last = m.forwardBackward(b, 2 + s);
          opt.step(1e-3f);
          opt.zeroGrad();
        }
        assertTrue(last < 6.0, "ten more steps on one batch must fit it, loss " + last);
      }
    }
  }

  @Test
  void oneDoraStepMatchesTorch() throws IOException {
    // The fixture's dora adapter: the same step with the magnitude trained too (its gradient treats the weight
    // norm as a constant, as PEFT's detach does). Tolerances as above; the smallest |g| of this adapter is 1.1e-7,
    // so the |g| >= 1e-5 filter matters here.
    try (SafetensorsFile ref = SafetensorsFile.open(Fixtures.llamaGqa().resolve("reference.safetensors"));
        CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      Batch b = Batch.padded(rows(ref.longs("input_ids")), rows(ref.longs("attention_mask")), rows(ref.longs("labels")));
      m.loadAdapter("dora", Fixtures.llamaGqa().resolve("adapters/dora"));
      m.setActiveAdapter("dora");
      Map<String, Parameter> params = m.activeAdapterParameters();
      params.values().forEach(p -> p.setTrainable(true));
      try (AdamW opt = new AdamW(params.values(), 0.9f, 0.999f, 1e-8f, 0f, 0f)) {
        assertEquals(6.916664123535156, m.forwardBackward(b, 1), 1e-5);
        opt.step(1e-3f);
        opt.zeroGrad();
        int magnitudes = 0;
        for (Parameter p : params.values()) {
          float[] got = p.value().toFloatArray(), want = ref.floats("dora.after_step." + p.name());
          float[] grad = ref.floats("dora.grad." + p.name());
          for (int i = 0; i < got.length; i++)
            if (Math.abs(grad[i]) >= 1e-5) assertEquals(want[i], got[i], 1e-6, p.name() + "[" + i + "]");
          if (p.name().endsWith(".lora_magnitude_vector")) magnitudes++;
        }
        assertEquals(14, magnitudes, "every module's magnitude took the step");
        assertEquals(6.736685276031494, m.loss(b), 1e-5, "loss after one step");
      }
    }
  }

  @Test
  void clippingScalesTheUpdate() throws IOException {
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      m.loadAdapter("lora", Fixtures.llamaGqa().resolve("adapters/lora"));
      m.setActiveAdapter("lora");
      Map<String, Parameter> params = m.activeAdapterParameters();
      params.values().forEach(p -> p.setTrainable(true));
      Batch b = Batch.padded(new int[][] {{1, 5, 9, 13, 17, 21}}, null, new int[][] {{1, 5, 9, 13, 17, 21}});
      try (AdamW opt = new AdamW(params.values(), 0.9f, 0.999f, 1e-8f, 0f, 1e-3f)) {
        m.forwardBackward(b, 1);
        double direct = 0;
        for (Parameter p : params.values()) for (float g : p.grad().toFloatArray()) direct += (double) g * g;
        float norm = opt.step(1e-3f);
        assertEquals(Math.sqrt(direct), norm, 1e-4 * Math.sqrt(direct), "the global gradient norm");
      }
    }
  }

  private static int[][] rows(long[] flat) {
    int[][] r = new int[2][12];
    for (int i = 0; i < 24; i++) r[i / 12][i % 12] = Math.toIntExact(flat[i]);
    return r;
  }

  @Test
  void weightDecaySparesBiasesAndNormsOnlyAsTransformersDoes() {
    java.util.function.Function<String, Boolean> decays = name -> {
      try (jswift.tensor.Tensor t = jswift.tensor.Tensor.zeros(jswift.tensor.DType.F32, Device.CPU, 2)) {
        return AdamW.decaysLike(new Parameter(name, t));
      }
    };
    for (String spared : new String[] {"model.layers.0.input_layernorm.weight", "model.norm.weight",
        "model.layers.3.self_attn.q_norm.weight", "model.layers.0.post_attention_layernorm.weight",
        "model.layers.0.self_attn.q_proj.bias"})
      assertEquals(false, decays.apply(spared), spared);
    for (String decayed : new String[] {"model.layers.0.self_attn.q_proj.weight", "model.embed_tokens.weight",
        "base_model.model.model.layers.0.mlp.up_proj.lora_magnitude_vector",
        "base_model.model.model.layers.0.mlp.up_proj.vera_lambda_b", "base_model.model.model.layers.0.mlp.up_proj.lora_E",
        "score.weight"})
      assertEquals(true, decays.apply(decayed), decayed);
  }
}
