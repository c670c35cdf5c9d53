package jswift.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
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
import jswift.nn.AwqWeight;
import jswift.nn.Linear;
import jswift.nn.Parameter;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.testing.Assert;
import jswift.testing.Rand;
import jswift.testing.TinyModels;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * CausalLM on an AutoAWQ GEMM checkpoint (written by {@link AwqExporter}): the linears stay packed, and the
 * model's logits are those of an fp32 model whose linears hold the dequantized values (computed here in plain Java
 * from the file's words with {@link AwqLayout}) and whose other tensors are the file's f16 values (the norms carry
 * the folded scales). QLoRA on the frozen AWQ base trains (also through the Trainer, which refuses full
 * fine-tuning of it), the base does not move, and damaged or unsupported checkpoints are refused naming the tensor.
 */
class AwqModelTest {
  private static final Batch BATCH = Batch.padded(new int[][] {{9, 53, 482, 280, 438, 489, 207, 443, 374, 441, 15}},
      null, new int[][] {{9, 53, 482, 280, 438, 489, 207, 443, 374, 441, 15}});

  @TempDir static Path shared;
  private static Path model, awq;

  @BeforeAll
  static void export() throws IOException {
    model = TinyModels.qwen3(shared.resolve("tiny"), 9);
    List<int[]> blocks = new ArrayList<>();
    for (int b = 0; b < 3; b++) blocks.add(Rand.ints(40, 100 + b, 0, 2000));
    awq = shared.resolve("awq");
    AwqExporter.export(model, awq, blocks, AwqConfig.defaults().withGroupSize(16), 5_000_000_000L,
        new PrintWriter(new StringWriter()));
  }

  @Test
  void logitsAreTheDequantizedModelsAndLoraTrainsOnTheFrozenBase() throws IOException {
    try (CausalLM q = CausalLM.load(awq, Device.CPU); CausalLM dense = CausalLM.load(model, Device.CPU);
        SafetensorsFile f = SafetensorsFile.open(awq.resolve("model.safetensors"))) {
      assertEquals(16, q.awq().groupSize());
      Linear up = q.linears().get("model.layers.0.mlp.up_proj");
      assertNull(up.weight());
      assertTrue(up.quantizedWeight() instanceof AwqWeight);
      long linearValues = 0;
      for (Linear l : dense.linears().values()) linearValues += l.inFeatures() * l.outFeatures();
      assertTrue(dense.weightBytes() - q.weightBytes() > linearValues * 4 * 0.8, "packed linears take ~6 bits");

      // The reference: the dense model with the checkpoint's values, unpacked independently of the kernel.
      for (Linear l : dense.linears().values()) {
        String p = l.name();
        int in = (int) l.inFeatures(), outF = (int) l.outFeatures();
        int[] codes = AwqLayout.unpackWeight(QuantizedCheckpointChecks.ints(f, p + ".qweight"), in, outF);
        int[] zeros = AwqLayout.unpackZeros(QuantizedCheckpointChecks.ints(f, p + ".qzeros"), in / 16, outF);
        float[] scales = f.floats(p + ".scales");
        float[] w = new float[outF * in];
        for (int c = 0; c < outF; c++)
          for (int k = 0; k < in; k++)
            w[c * in + k] = scales[(k / 16) * outF + c] * (codes[c * in + k] - zeros[(k / 16) * outF + c]);
        l.weight().value().copyFrom(w);
      }
      for (Parameter p : dense.parameters().values()) {
        if (p.name().endsWith("_proj.weight")) continue;
        p.value().copyFrom(f.floats(p.name()));  // f16 in the file; the norms hold the folded AWQ scales
      }
      // Same values through the same kernels: the same logits, bit for bit, for more tokens than the CPU sends to
      // the GEMV (16: then both multiply by sgemm over an fp32 tile of the same weights); through the GEMV (BATCH,
      // 11 tokens in 4-row calls) the same products summed in another order.
      int[] seq = {9, 53, 482, 280, 438, 489, 207, 443, 374, 441, 15};
      Batch twice = Batch.padded(new int[][] {seq, seq}, null, new int[][] {seq, seq});
      assertArrayEquals(dense.logits(twice), q.logits(twice));
      Assert.close("logits through the GEMV", q.logits(BATCH), dense.logits(BATCH), 1e-5, 1e-5);

      QuantizedCheckpointChecks.loraTrainsOnTheFrozenBase(q, BATCH, "AWQ");
    }
  }

  @Test
  void sftTrainsLoraOnTheCheckpointAndRefusesFullTraining(@TempDir Path tmp) throws IOException {
    QuantizedCheckpointChecks.sftTrainsLoraAndRefusesFullTraining(awq, tmp, "--train_type full cannot train an AWQ checkpoint");
  }

  @Test
  void damagedOrUnsupportedCheckpointsAreRefused(@TempDir Path tmp) throws IOException {
    Path out = QuantizedCheckpointChecks.copy(awq, tmp.resolve("copy"));
    var e = assertThrows(IllegalArgumentException.class,
        () -> CausalLM.load(out, Device.CPU, DType.F32, CausalLM.Quantization.NF4));
    assertTrue(e.getMessage().contains("is an AWQ checkpoint (4-bit, group_size 16)"), e.getMessage());
    Path cfg = out.resolve("config.json");
    String text = Files.readString(cfg);
    Files.writeString(cfg, text.replace("\"version\" : \"gemm\"", "\"version\" : \"gemv\""));
    var io = assertThrows(IOException.class, () -> CausalLM.load(out, Device.CPU));
    assertTrue(io.getMessage().contains("AWQ version 'gemv' is not supported"), io.getMessage());
    Files.writeString(cfg, text.replace("\"bits\" : 4", "\"bits\" : 8"));
    io = assertThrows(IOException.class, () -> CausalLM.load(out, Device.CPU));
    assertTrue(io.getMessage().contains("AWQ bits 8 is not supported"), io.getMessage());
    Files.writeString(cfg, text.replace("\"group_size\" : 16", "\"group_size\" : 8"));
    io = assertThrows(IOException.class, () -> CausalLM.load(out, Device.CPU));
    assertTrue(io.getMessage().contains("model.layers.0.self_attn.q_proj.qzeros is Tensor[2, 4]")
        && io.getMessage().contains("group_size 8 needs int32[4, 4]"), io.getMessage());
  }
}
