package jswift.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import jswift.model.Batch;
import jswift.model.CausalLM;
import jswift.model.SafetensorsFile;
import jswift.nn.Linear;
import jswift.nn.Parameter;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Tensor;
import jswift.testing.Rand;
import jswift.testing.TinyModels;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * CausalLM on a GPTQ checkpoint (written by {@link GptqExporter} with act-order, so g_idx is non-monotone): the
 * linears stay packed, and the model's logits are those of the original fp32 model whose linears hold the
 * dequantized values (computed here in plain Java from the file's words) and whose other tensors are rounded to
 * f16 as the checkpoint stores them. LoRA on the frozen GPTQ base trains (also through the Trainer, which refuses
 * full fine-tuning of it), and the base does not move.
 */
class GptqModelTest {
  private static final Batch BATCH = Batch.padded(new int[][] {{9, 53, 482, 280, 438, 489, 207, 443, 374, 441, 15}},
      null, new int[][] {{9, 53, 482, 280, 438, 489, 207, 443, 374, 441, 15}});

  @TempDir static Path shared;
  private static Path model, gptq;

  /** One tiny model and its act-order 4-bit export, shared by the tests (none modifies them). */
  @BeforeAll
  static void export() throws IOException {
    model = TinyModels.qwen3(shared.resolve("tiny"), 9);
    gptq = quantized(shared, model);
  }

  private static Path quantized(Path tmp, Path model) throws IOException {
    List<int[]> blocks = new ArrayList<>();
    for (int b = 0; b < 3; b++) {
      int[] ids = Rand.ints(40, 100 + b, 0, 2000);
      blocks.add(ids);
    }
    Path out = tmp.resolve("gptq");
    GptqExporter.export(model, out, blocks, GptqConfig.defaults(4).withGroupSize(16).withDescAct(true),
        5_000_000_000L, new PrintWriter(new StringWriter()));
    return out;
  }

  @Test
  void logitsAreTheDequantizedModelsAndLoraTrainsOnTheFrozenBase() throws IOException {
    Path out = gptq;
    try (CausalLM q = CausalLM.load(out, Device.CPU); CausalLM dense = CausalLM.load(model, Device.CPU);
        SafetensorsFile f = SafetensorsFile.open(out.resolve("model.safetensors"))) {
      assertEquals(4, q.gptq().bits());
      Linear up = q.linears().get("model.layers.0.mlp.up_proj");
      assertNull(up.weight());
      assertNotNull(up.gptqWeight());
      assertTrue(!q.parameters().containsKey("model.layers.0.mlp.up_proj.weight"));
      long linearValues = 0, inputs = 0;
      for (Linear l : dense.linears().values()) {
        linearValues += l.inFeatures() * l.outFeatures();
        inputs += l.inFeatures();
      }
      // ~4.5 bits a value, plus (act-order on the CPU) the group order of the inputs: two int32 an input, which is
      // a bit a value on this tiny model's 64-wide linears and ~0.07 bit on a 896-wide one.
      assertTrue(dense.weightBytes() - q.weightBytes() > linearValues * 4 * 0.8 - inputs * 8,
          "packed linears take ~4.5 bits");

      // The reference: the dense model with the checkpoint's values.
      boolean nonMonotone = false;
      for (Linear l : dense.linears().values()) {
        String p = l.name();
        int in = (int) l.inFeatures(), outF = (int) l.outFeatures();
        int[] codes = GptqLayout.unpackWeight(QuantizedCheckpointChecks.ints(f, p + ".qweight"), in, outF, 4);
        int[] zeros = GptqLayout.unpackZeros(QuantizedCheckpointChecks.ints(f, p + ".qzeros"), in / 16, outF, 4);
        float[] scales = f.floats(p + ".scales");
        int[] g = QuantizedCheckpointChecks.ints(f, p + ".g_idx");
        for (int k = 1; k < in; k++) nonMonotone |= g[k] < g[k - 1];
        float[] w = new float[outF * in];
        for (int c = 0; c < outF; c++)
          for (int k = 0; k < in; k++)
            w[c * in + k] = scales[g[k] * outF + c] * (codes[c * in + k] - zeros[g[k] * outF + c]);
        l.weight().value().copyFrom(w);
      }
      assertTrue(nonMonotone, "act-order gives a non-monotone g_idx");
      for (Parameter p : dense.parameters().values()) {
        if (p.name().endsWith("_proj.weight")) continue;
        try (Tensor h = p.value().to(DType.F16); Tensor back = h.to(DType.F32)) {
          p.value().copyFrom(back);
        }
      }
      float[] got = q.logits(BATCH), want = dense.logits(BATCH);
      // The same weight values: the same logits up to fp32 summation order (on the CPU an act-order weight is
      // multiplied with its inputs in group order, GptqWeight; a wrong value would be off by far more).
      jswift.testing.Assert.close("logits", got, want, 1e-5, 1e-5);

      QuantizedCheckpointChecks.loraTrainsOnTheFrozenBase(q, BATCH, "GPTQ");
    }
  }

  @Test
  void sftTrainsLoraOnTheCheckpointAndRefusesFullTraining(@TempDir Path tmp) throws IOException {
    QuantizedCheckpointChecks.sftTrainsLoraAndRefusesFullTraining(gptq, tmp, "--train_type full cannot train a GPTQ checkpoint");
  }

  /**
   * The same checkpoint in GPTQModel's v2 layout (each zero point stored as it is, v1's plus one) loads to the same
   * logits; a v2 zero point of 0, which v1 cannot hold, is refused naming the layer.
   */
  @Test
  void gptqV2CheckpointsLoadAsTheirV1Twin(@TempDir Path tmp) throws IOException {
    Path v2 = tmp.resolve("v2");
    java.nio.file.Files.createDirectories(v2);
    List<jswift.model.TensorSource> tensors = new ArrayList<>();
    String zeroed = null;
    try (SafetensorsFile f = SafetensorsFile.open(gptq.resolve("model.safetensors"))) {
      for (String name : f.names()) {
        if (!name.endsWith(".qzeros")) {
          tensors.add(jswift.model.TensorSource.stored(f, name));
          continue;
        }
        int[] v1 = QuantizedCheckpointChecks.ints(f, name);
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(4 * v1.length).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        for (int w : v1) {
          int word = 0;
          for (int k = 0; k < 8; k++) word |= (((w >>> (4 * k)) & 15) + 1) << (4 * k);  // v1 holds 0..14 here (sym)
          b.putInt(word);
        }
        tensors.add(jswift.model.TensorSource.of(name, jswift.model.SafetensorsDtype.I32, f.entry(name).shape(), b.array()));
      }
      jswift.model.SafetensorsWriter.write(v2.resolve("model.safetensors"), tensors, java.util.Map.of("format", "pt"));
    }
    for (String file : new String[] {"tokenizer.json", "tokenizer_config.json", "generation_config.json"})
      if (Files.exists(gptq.resolve(file))) Files.copy(gptq.resolve(file), v2.resolve(file));
    String cfg = Files.readString(gptq.resolve("config.json"));
    Files.writeString(v2.resolve("config.json"), cfg.replace("\"checkpoint_format\" : \"gptq\"",
        "\"checkpoint_format\" : \"gptq_v2\""));
    try (CausalLM one = CausalLM.load(gptq, Device.CPU); CausalLM two = CausalLM.load(v2, Device.CPU)) {
      assertTrue(two.gptq().v2() && !one.gptq().v2());
      jswift.testing.Assert.close("logits", two.logits(BATCH), one.logits(BATCH), 0, 0);
    }
    int[] withZero = {0x12345670};
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> jswift.model.GptqCheckpoint.v2ZerosToV1(withZero, 4, "model.layers.3.mlp.up_proj"));
    assertTrue(e.getMessage().contains("model.layers.3.mlp.up_proj.qzeros holds a zero point of 0"), e.getMessage());
    assertEquals(0x01234560, jswift.model.GptqCheckpoint.v2ZerosToV1(new int[] {0x12345671},
        4, "m")[0], "each 4-bit field less one");
  }

  @Test
  void damagedOrUnsupportedCheckpointsAreRefused(@TempDir Path tmp) throws IOException {
    Path out = QuantizedCheckpointChecks.copy(gptq, tmp.resolve("copy"));
    var e = assertThrows(IllegalArgumentException.class,
        () -> CausalLM.load(out, Device.CPU, DType.F32, CausalLM.Quantization.NF4));
    assertTrue(e.getMessage().contains("is a GPTQ checkpoint (4-bit)"), e.getMessage());
    Path cfg = out.resolve("config.json");
    String text = Files.readString(cfg);
    Files.writeString(cfg, text.replace("\"checkpoint_format\" : \"gptq\"", "\"checkpoint_format\" : \"marlin\""));
    var io = assertThrows(IOException.class, () -> CausalLM.load(out, Device.CPU));
    assertTrue(io.getMessage().contains("checkpoint_format 'marlin' is not supported"), io.getMessage());
    Files.writeString(cfg, text.replace("\"bits\" : 4", "\"bits\" : 8"));
    io = assertThrows(IOException.class, () -> CausalLM.load(out, Device.CPU));
    assertTrue(io.getMessage().contains("model.layers.0.self_attn.q_proj.qweight is Tensor[4, 32]")
        && io.getMessage().contains("8-bit GPTQ layer of [32, 32] needs int32[8, 32]"), io.getMessage());
  }
}
