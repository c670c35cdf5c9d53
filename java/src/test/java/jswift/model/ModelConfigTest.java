package jswift.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.util.List;
import jswift.testing.Fixtures;
import org.junit.jupiter.api.Test;

class ModelConfigTest {
  private static ModelConfig parse(String json) throws IOException {
    return ModelConfig.parse(new ObjectMapper().readTree(json), "test");
  }

  @Test
  void readsTheFixtureLlama() throws IOException {
    ModelConfig c = ModelConfig.load(Fixtures.llamaGqa());
    assertEquals("llama", c.modelType());
    assertEquals(64, c.hiddenSize());
    assertEquals(4, c.numAttentionHeads());
    assertEquals(2, c.numKeyValueHeads());
    assertEquals(16, c.headDim());
    assertEquals(2, c.kvGroupSize());
    assertEquals(1e-6f, c.rmsNormEps());
    assertEquals(10000f, c.ropeTheta());
    assertTrue(c.ropeScaling().isDefault());
    assertFalse(c.qkvBias());
    assertEquals(List.of(2), c.eosTokenIds());
    assertEquals("float32", c.torchDtype());
  }

  @Test
  void readsQwen3AndLlama31Styles() throws IOException {
    ModelConfig q = parse("{\"model_type\":\"qwen3\",\"vocab_size\":151936,\"hidden_size\":1024,"
        + "\"intermediate_size\":3072,\"num_hidden_layers\":28,\"num_attention_heads\":16,\"num_key_value_heads\":8,"
        + "\"head_dim\":128,\"rope_theta\":1000000,\"sliding_window\":null,\"use_sliding_window\":false,"
        + "\"tie_word_embeddings\":true,\"eos_token_id\":151645,\"torch_dtype\":\"bfloat16\"}");
    assertTrue(q.architecture().qkNorm());
    assertEquals(128, q.headDim());  // not hidden/heads = 64
    assertEquals(0, q.slidingWindow());
    assertTrue(q.tieWordEmbeddings());
    ModelConfig l = parse("{\"model_type\":\"llama\",\"vocab_size\":128256,\"hidden_size\":4096,"
        + "\"intermediate_size\":14336,\"num_hidden_layers\":32,\"num_attention_heads\":32,\"num_key_value_heads\":8,"
        + "\"rope_theta\":500000.0,\"rope_scaling\":{\"factor\":8.0,\"low_freq_factor\":1.0,\"high_freq_factor\":4.0,"
        + "\"original_max_position_embeddings\":8192,\"rope_type\":\"llama3\"},\"eos_token_id\":[128001,128008,128009]}");
    assertEquals("llama3", l.ropeScaling().type());
    assertEquals(8f, l.ropeScaling().factor());
    assertEquals(8192, l.ropeScaling().originalMaxPositionEmbeddings());
    assertEquals(128, l.headDim());
    assertEquals(List.of(128001, 128008, 128009), l.eosTokenIds());
    // transformers-5 style: rope settings under rope_parameters
    ModelConfig v5 = parse("{\"model_type\":\"qwen2\",\"vocab_size\":10,\"hidden_size\":8,\"intermediate_size\":16,"
        + "\"num_hidden_layers\":1,\"num_attention_heads\":2,\"rope_parameters\":{\"rope_theta\":1e6,\"rope_type\":\"default\"},"
        + "\"sliding_window\":4096,\"use_sliding_window\":true}");
    assertEquals(1e6f, v5.ropeTheta());
    assertTrue(v5.qkvBias());
    assertEquals(4096, v5.slidingWindow());
    assertEquals(0, v5.slidingWindow(0), "max_window_layers defaults to 28: transformers slides no layer of 1");
    assertEquals(2, v5.numKeyValueHeads());
  }

  private static String layers(String family, String extra) {
    return "{\"model_type\":\"" + family + "\",\"vocab_size\":10,\"hidden_size\":8,\"intermediate_size\":16,"
        + "\"num_hidden_layers\":4,\"num_attention_heads\":2" + extra + "}";
  }

  private static List<Integer> windows(ModelConfig c) {
    return java.util.stream.IntStream.range(0, c.numHiddenLayers()).mapToObj(c::slidingWindow).toList();
  }

  @Test
  void slidingWindowLayersFollowTransformers() throws IOException {
    // Mistral: every layer whenever sliding_window is set; no switch, layer_types ignored (as MistralModel does).
    assertEquals(List.of(5, 5, 5, 5), windows(parse(layers("mistral", ",\"sliding_window\":5"))));
    assertEquals(List.of(5, 5, 5, 5), windows(parse(layers("mistral", ",\"sliding_window\":5,\"layer_types\":"
        + "[\"full_attention\",\"full_attention\",\"full_attention\",\"full_attention\"]"))));
    assertEquals(List.of(0, 0, 0, 0), windows(parse(layers("mistral", ",\"sliding_window\":null"))));
    // Llama ignores the key.
    assertEquals(List.of(0, 0, 0, 0), windows(parse(layers("llama", ",\"sliding_window\":5"))));
    // Qwen: off unless use_sliding_window (absent = false), then the layers from max_window_layers on ...
    for (String q : List.of("qwen2", "qwen3")) {
      assertEquals(List.of(0, 0, 0, 0), windows(parse(layers(q, ",\"sliding_window\":5"))));
      assertEquals(List.of(0, 0, 0, 0), windows(parse(layers(q, ",\"sliding_window\":5,\"use_sliding_window\":false,"
          + "\"max_window_layers\":0"))));
      assertEquals(List.of(0, 0, 0, 0), windows(parse(layers(q, ",\"sliding_window\":5,\"use_sliding_window\":true"))));
      assertEquals(List.of(0, 0, 5, 5), windows(parse(layers(q, ",\"sliding_window\":5,\"use_sliding_window\":true,"
          + "\"max_window_layers\":2"))));
      // ... or exactly those layer_types marks (what transformers writes), whatever max_window_layers says.
      assertEquals(List.of(5, 0, 5, 0), windows(parse(layers(q, ",\"sliding_window\":5,\"use_sliding_window\":true,"
          + "\"max_window_layers\":28,\"layer_types\":[\"sliding_attention\",\"full_attention\",\"sliding_attention\","
          + "\"full_attention\"]"))));
    }
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> parse(layers("qwen2",
        ",\"sliding_window\":5,\"use_sliding_window\":true,\"layer_types\":[\"full_attention\"]")));
    assertTrue(e.getMessage().contains("one type per layer (4)"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> parse(layers("qwen3", ",\"sliding_window\":5,"
        + "\"use_sliding_window\":true,\"layer_types\":[\"chunked_attention\",\"full_attention\",\"full_attention\","
        + "\"full_attention\"]")));
    assertTrue(e.getMessage().contains("'chunked_attention' is not supported"), e.getMessage());
  }

  @Test
  void refusesWhatItCannotBuild() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> parse("{\"model_type\":\"gpt2\",\"hidden_size\":8}"));
    assertTrue(e.getMessage().contains("unknown model_type 'gpt2'") && e.getMessage().contains("qwen3"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> parse("{\"model_type\":\"llama\",\"vocab_size\":10,"
        + "\"hidden_size\":8,\"intermediate_size\":16,\"num_hidden_layers\":1,\"num_attention_heads\":2,\"hidden_act\":\"gelu\"}"));
    assertTrue(e.getMessage().contains("gelu"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> parse("{\"model_type\":\"llama\",\"hidden_size\":8}"));
    assertTrue(e.getMessage().contains("num_attention_heads"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> parse("{\"model_type\":\"llama\",\"vocab_size\":10,"
        + "\"hidden_size\":8,\"intermediate_size\":16,\"num_hidden_layers\":1,\"num_attention_heads\":3,\"num_key_value_heads\":2}"));
    assertTrue(e.getMessage().contains("not a multiple"), e.getMessage());
  }
}
