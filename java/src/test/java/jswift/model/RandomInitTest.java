package jswift.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import jswift.tensor.Device;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RandomInitTest {
  private static Path config(Path dir, String modelType, String dtype) throws IOException {
    Files.createDirectories(dir);
    Files.writeString(dir.resolve("config.json"), "{\"model_type\":\"" + modelType + "\",\"vocab_size\":64,"
        + "\"hidden_size\":32,\"intermediate_size\":48,\"num_hidden_layers\":2,\"num_attention_heads\":4,"
        + "\"num_key_value_heads\":2,\"initializer_range\":0.05,\"pad_token_id\":3,\"tie_word_embeddings\":false,"
        + "\"torch_dtype\":\"" + dtype + "\"}");
    return dir;
  }

  @Test
  void writesTransformersInitialisationThatCausalLmLoads(@TempDir Path tmp) throws IOException {
    Path dir = config(tmp.resolve("qwen3"), "qwen3", "float32");
    long params = RandomInit.write(dir, 7);
    try (SafetensorsFile f = SafetensorsFile.open(dir.resolve("model.safetensors"))) {
      long counted = 0;
      for (String n : f.names()) counted += f.entry(n).numel();
      assertEquals(counted, params);
      // q/k norms are Qwen3's; lm_head is separate (not tied); normal(0, 0.05) weights, ones for norms
      assertTrue(f.names().containsAll(Set.of("model.layers.1.self_attn.q_norm.weight", "lm_head.weight")));
      float[] q = f.floats("model.layers.0.self_attn.q_proj.weight");
      double sum = 0, sq = 0;
      for (float v : q) {
        sum += v;
        sq += v * v;
      }
      double mean = sum / q.length, std = Math.sqrt(sq / q.length - mean * mean);
      assertEquals(0.05, std, 0.005, "initializer_range");  // 1024 samples: std error ~2%
      assertEquals(0.0, mean, 0.01);
      for (float v : f.floats("model.norm.weight")) assertEquals(1f, v);
      float[] emb = f.floats("model.embed_tokens.weight");
      for (int i = 3 * 32; i < 4 * 32; i++) assertEquals(0f, emb[i], "the pad_token_id row is zero");
      assertTrue(emb[2 * 32] != 0f);
    }
    try (CausalLM m = CausalLM.load(dir, Device.CPU)) {
      int[] ids = {1, 2, 5, 9};
      float[] logits = m.logits(Batch.packed(java.util.List.of(ids), java.util.List.of(ids)));
      assertEquals(4 * 64, logits.length);
      for (float v : logits) assertTrue(Float.isFinite(v));
    }
  }

  @Test
  void aSeedReproducesTheFolderByteForByte(@TempDir Path tmp) throws IOException {
    Path a = config(tmp.resolve("a"), "qwen2", "bfloat16"), b = config(tmp.resolve("b"), "qwen2", "bfloat16");
    Path c = config(tmp.resolve("c"), "qwen2", "bfloat16");
    RandomInit.write(a, 1);
    RandomInit.write(b, 1);
    RandomInit.write(c, 2);
    byte[] x = Files.readAllBytes(a.resolve("model.safetensors"));
    assertArrayEquals(x, Files.readAllBytes(b.resolve("model.safetensors")));
    assertFalse(java.util.Arrays.equals(x, Files.readAllBytes(c.resolve("model.safetensors"))));
    try (SafetensorsFile f = SafetensorsFile.open(a.resolve("model.safetensors"))) {
      assertEquals("BF16", f.entry("model.layers.0.self_attn.q_proj.weight").dtype(), "stored in torch_dtype");
      for (float v : f.floats("model.layers.0.self_attn.q_proj.bias")) assertEquals(0f, v, "Qwen2's q bias, zeros");
    }
    assertTrue(RandomInit.hasWeights(a));
  }

  @Test
  void generatedWeightsAreTheWrittenOnesAndBuildTheSameModel(@TempDir Path tmp) throws IOException {
    Path dir = config(tmp.resolve("llama"), "llama", "float32");
    RandomInit.write(dir, 5);
    ModelConfig cfg = ModelConfig.load(dir);
    WeightSource generated = RandomInit.source(cfg, 0.05, 5);
    assertFalse(generated.contains("model.layers.0.self_attn.q_norm.weight"), "no q_norm in a llama");
    try (SafetensorsFile f = SafetensorsFile.open(dir.resolve("model.safetensors"))) {
      for (String n : f.names()) {
        assertTrue(generated.contains(n), n);
        try (jswift.tensor.Tensor t = generated.load(n, f.entry(n).shape(), jswift.tensor.DType.F32, Device.CPU)) {
          assertArrayEquals(f.floats(n), t.toFloatArray(), n);
        }
      }
    }
    int[] ids = {4, 8, 15, 16, 23, 42};
    Batch b = Batch.packed(java.util.List.of(ids), java.util.List.of(ids));
    try (CausalLM fromFiles = CausalLM.load(dir, Device.CPU);
        CausalLM fromSource = CausalLM.create(cfg, generated, Device.CPU, jswift.tensor.DType.F32,
            CausalLM.Quantization.NONE)) {
      assertArrayEquals(fromFiles.logits(b), fromSource.logits(b));
    }
    Exception e = assertThrows(IllegalArgumentException.class,
        () -> generated.load("model.norm.weight", new long[] {31}, jswift.tensor.DType.F32, Device.CPU));
    assertTrue(e.getMessage().contains("model.norm.weight"), e.getMessage());
  }

  @Test
  void refusesAnIntegerDtype(@TempDir Path tmp) throws IOException {
    Path dir = config(tmp.resolve("i"), "llama", "int8");
    Exception e = assertThrows(IllegalArgumentException.class, () -> RandomInit.write(dir, 1));
    assertTrue(e.getMessage().contains("int8"), e.getMessage());
  }
}
