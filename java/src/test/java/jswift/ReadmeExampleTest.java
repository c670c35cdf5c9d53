package jswift;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import jswift.infer.GenerationConfig;
import jswift.infer.Generator;
import jswift.model.Batch;
import jswift.model.CausalLM;
import jswift.nn.Parameter;
import jswift.tensor.Device;
import jswift.testing.Fixtures;
import jswift.train.AdamW;
import org.junit.jupiter.api.Test;

/** The Java API example of README.md, verbatim but for the asserts: if this breaks, fix the README too. */
class ReadmeExampleTest {
  @Test
  void readmeExampleRuns() throws Exception {
    Path modelDir = Fixtures.llamaGqa();  // any Hugging Face llama / qwen2 / qwen3 / mistral folder
    // --- README: begin ---
    try (CausalLM model = CausalLM.load(modelDir, Device.CPU)) {   // Device.cuda(0): bf16 on the GPU
      Batch batch = Batch.padded(
          new int[][] {{1, 53, 482, 280, 438, 489}, {1, 340, 255, 471, 0, 0}},   // input_ids
          new int[][] {{1, 1, 1, 1, 1, 1}, {1, 1, 1, 1, 0, 0}},                  // attention_mask
          new int[][] {{-100, 53, 482, 280, 438, 489}, {-100, 340, 255, 471, -100, -100}});  // labels
      float[] logits = model.logits(batch);            // fp32 [tokens, vocab]
      double loss = model.loss(batch);                 // mean causal-LM cross-entropy, as transformers

      model.loadAdapter("mine", modelDir.resolve("adapters/lora"));   // a PEFT LoRA folder
      model.setActiveAdapter("mine");
      var params = model.activeAdapterParameters().values();
      params.forEach(p -> p.setTrainable(true));
      try (AdamW opt = new AdamW(params, 0.9f, 0.999f, 1e-8f, 0.0f, 1.0f)) {
        double before = model.forwardBackward(batch, /* dropout seed */ 0);   // gradients into p.grad()
        opt.step(1e-3f);
        opt.zeroGrad();
        // --- README: end of training part ---
        assertTrue(model.loss(batch) < before);
      }
      int[] next = Generator.generate(model, new int[] {1, 53, 482}, GenerationConfig.greedy(8, List.of(2)));
      // --- README: end ---
      assertEquals(6 * 2 * model.config().vocabSize(), logits.length);
      assertTrue(loss > 0 && next.length > 0);
    }
  }
}
