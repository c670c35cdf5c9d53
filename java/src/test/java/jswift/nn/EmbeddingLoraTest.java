package jswift.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import jswift.model.Batch;
import jswift.model.CausalLM;
import jswift.model.SafetensorsFile;
import jswift.tensor.Arena;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Tensor;
import jswift.testing.Rand;
import jswift.testing.TinyModels;
import jswift.testing.Torch;
import jswift.tuner.LoraConfig;
import jswift.tuner.LoraMerge;
import jswift.tuner.LoraTuner;
import jswift.tuner.PeftAdapterWriter;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * LoRA on the input embedding (PEFT's lora.Embedding): the forward E[ids] + s A^T[ids] B^T and its backward against
 * torch autograd (repeated ids accumulate); through a model, the gradient against finite differences; saved in
 * PEFT's layout (lora_embedding_A [r, vocab], lora_embedding_B [dim, r]), loaded back, and merged into a model
 * whose tied LM head keeps the base embedding, all with the adapter's logits.
 */
class EmbeddingLoraTest {
  @Test
  void forwardAndBackwardMatchTorch() {
    int vocab = 20, dim = 6, r = 3;
    float scale = 2f;
    float[] e = Rand.normal(vocab * dim, 1), at = Rand.normal(vocab * r, 2), b = Rand.normal(dim * r, 3);
    int[] ids = {3, 7, 3, 19, 0};
    float[] dy = Rand.normal(ids.length * dim, 4);
    Parameter pa = new Parameter("x.lora_embedding_A", Tensor.fromFloats(at, DType.F32, Device.CPU, vocab, r));
    Parameter pb = new Parameter("x.lora_embedding_B", Tensor.fromFloats(b, DType.F32, Device.CPU, dim, r));
    try (EmbeddingLora lora = new EmbeddingLora(pa, pb, scale); Arena a = new Arena()) {
      pa.setTrainable(true);
      pb.setTrainable(true);
      Tensor tids = a.allocate(DType.I32, Device.CPU, ids.length);
      tids.copyFrom(ids);
      Tensor x = a.allocate(DType.F32, Device.CPU, ids.length, dim);
      jswift.tensor.Kernels.embeddingForward(tids, Tensor.fromFloats(e, DType.F32, Device.CPU, vocab, dim), x);
      lora.forward(a, tids, x);
      Tensor dx = a.allocate(DType.F32, Device.CPU, ids.length, dim);
      dx.copyFrom(dy);
      lora.backward(a, tids, dx);

      long[] lids = java.util.Arrays.stream(ids).asLongStream().toArray();
      org.bytedeco.pytorch.Tensor te = Torch.tensor(e, vocab, dim), ta = Torch.param(at, vocab, r),
          tb = Torch.param(b, dim, r), ti = Torch.longs(lids, ids.length);
      org.bytedeco.pytorch.Tensor out = te.index_select(0, ti).add(torch.matmul(ta.index_select(0, ti), tb.t())
          .mul(Torch.scalar(scale)));
      Torch.dot(out, Torch.tensor(dy, ids.length, dim)).backward();
      jswift.testing.Assert.close("out", x.toFloatArray(), Torch.floats(out), 1e-5, 1e-5);
      jswift.testing.Assert.close("dA^T", pa.grad().toFloatArray(), Torch.floats(ta.grad()), 1e-5, 1e-5);
      jswift.testing.Assert.close("dB", pb.grad().toFloatArray(), Torch.floats(tb.grad()), 1e-5, 1e-5);
    }
  }

  private static final Batch BATCH = Batch.padded(new int[][] {{9, 53, 482, 280, 9, 489, 207, 53}}, null,
      new int[][] {{9, 53, 482, 280, 9, 489, 207, 53}});

  @Test
  void trainsSavesLoadsAndMergesAsPeft(@TempDir Path dir) throws Exception {
    Path base = TinyModels.qwen3(dir.resolve("tiny"), 5);
    LoraConfig cfg = LoraConfig.defaults().withTargetModules(List.of("q_proj", LoraTuner.ALL_EMBEDDING))
        .withLoraDropout(0);
    Path saved = dir.resolve("adapter");
    float[] adapterLogits;
    try (CausalLM m = CausalLM.load(base, Device.CPU)) {
      List<Parameter> params = new ArrayList<>(LoraTuner.apply(m, "default", cfg, 3));
      EmbeddingLora lora = m.embeddingLora("default");
      assertNotNull(lora, "all-embedding puts LoRA on embed_tokens");
      assertEquals(0, lora.aTransposed().value().toFloatArray()[0], "PEFT starts A at zero");
      // off zero, so every factor has a gradient
      lora.aTransposed().value().copyFrom(Rand.normal(lora.aTransposed().value().numel(), 7, 0.1f));
      for (Parameter p : params)
        if (p.name().contains("lora_B")) p.value().copyFrom(Rand.normal(p.value().numel(), 8, 0.05f));
      params.forEach(Parameter::zeroGrad);
      m.forwardBackward(BATCH, 1);
      float[] g = lora.aTransposed().grad().toFloatArray();
      int nonzeroRows = 0;
      for (int v = 0; v < g.length / lora.rank(); v++) if (g[v * lora.rank()] != 0) nonzeroRows++;
      assertEquals(6, nonzeroRows, "only the batch's distinct ids get a gradient in A");
      jswift.testing.GradientCheck.check(List.of(lora.aTransposed(), lora.b()), new Random(1), () -> m.loss(BATCH),
          "embedding LoRA");
      jswift.testing.GradientCheck.check(params, new Random(2), () -> m.loss(BATCH), "the whole adapter");
      LoraConfig resolved = LoraTuner.resolveTargets(m, cfg);
      assertEquals("[\"q_proj\",\"embed_tokens\"]", resolved.targetModules().toString());
      PeftAdapterWriter.save(m, "default", resolved, base.toString(), saved, false);
      adapterLogits = m.logits(BATCH);
      try (SafetensorsFile f = SafetensorsFile.open(saved.resolve("adapter_model.safetensors"))) {
        String prefix = "base_model.model.model.embed_tokens";
        assertArrayEquals(new long[] {8, 151936}, f.entry(prefix + ".lora_embedding_A").shape());
        assertArrayEquals(new long[] {32, 8}, f.entry(prefix + ".lora_embedding_B").shape());
      }
    }
    try (CausalLM m = CausalLM.load(base, Device.CPU)) {
      float[] plain = m.logits(BATCH);
      m.loadAdapter("x", saved);
      m.setActiveAdapter("x");
      jswift.testing.Assert.close("loaded", m.logits(BATCH), adapterLogits, 1e-5, 1e-5);
      m.setActiveAdapter(null);
      jswift.testing.Assert.close("off", m.logits(BATCH), plain, 0, 0);
    }
    try (CausalLM m = CausalLM.load(base, Device.CPU)) {  // the other tuners adapt linear layers only
      IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
          () -> LoraTuner.apply(m, "v", LoraConfig.veraDefaults().withTargetModules(List.of("all-linear",
              LoraTuner.ALL_EMBEDDING)), 1));
      assertTrue(e.getMessage().contains("only LoRA adapts the embedding"), e.getMessage());
    }
    Path merged = dir.resolve("merged");
    LoraMerge.merge(base, saved, merged, LoraMerge.Options.on(Device.CPU));
    var config = new ObjectMapper().readTree(merged.resolve("config.json").toFile());
    assertFalse(config.get("tie_word_embeddings").asBoolean(), "the LM head keeps the base embedding: untied");
    try (CausalLM m = CausalLM.load(merged, Device.CPU)) {
      jswift.testing.Assert.close("merged", m.logits(BATCH), adapterLogits, 1e-4, 1e-4);
    }
  }
}
