package jswift.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import jswift.model.Batch;
import jswift.model.CausalLM;
import jswift.model.SafetensorsFile;
import jswift.nn.Linear;
import jswift.tensor.Arena;
import jswift.testing.TinyModels;
import jswift.train.TrainArguments;
import jswift.train.Trainer;

/** What the GPTQ and AWQ checkpoint tests check the same way, whatever the packed format. */
final class QuantizedCheckpointChecks {
  private QuantizedCheckpointChecks() {}

  /** The decoder's linear layers, by their name after {@code model.layers.N.}. */
  static final String[] MODULES = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
      "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"};

  /** Twelve chat rows of calibration data (calib.jsonl in dir). */
  static Path calibration(Path dir) throws IOException {
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < 12; i++)
      sb.append("{\"messages\": [{\"role\": \"user\", \"content\": \"Question ").append(i)
          .append(": what is ").append(i).append(" plus ").append(2 * i).append("?\"}, {\"role\": \"assistant\", ")
          .append("\"content\": \"It is ").append(3 * i).append(", because adding numbers works that way.\"}]}\n");
    Path f = dir.resolve("calib.jsonl");
    Files.writeString(f, sb.toString());
    return f;
  }

  /**
   * LoRA on every linear of the loaded quantized model lowers the loss on {@code batch} by more than 0.5 in 15
   * AdamW steps, and leaves the packed base as it was.
   */
  static void loraTrainsOnTheFrozenBase(CausalLM q, Batch batch, String format) {
    float[] before = dequantized(q.linears().get("model.layers.1.self_attn.o_proj"));
    double[] loss = TinyModels.loraLosses(q, batch, 1e-2f, 15);
    assertTrue(loss[1] < loss[0] - 0.5, "LoRA on the " + format + " base reduces the loss: " + loss[0] + " -> " + loss[1]);
    assertArrayEquals(before, dequantized(q.linears().get("model.layers.1.self_attn.o_proj")), "the base is frozen");
  }

  /**
   * {@code jswift sft} trains a LoRA adapter on the quantized folder for two steps and saves it, and refuses
   * {@code --train_type full} with a message containing {@code refusal}.
   */
  static void sftTrainsLoraAndRefusesFullTraining(Path model, Path tmp, String refusal) throws IOException {
    Path data = tmp.resolve("train.jsonl");
    Files.writeString(data, "{\"messages\": [{\"role\": \"user\", \"content\": \"2+2?\"}, "
        + "{\"role\": \"assistant\", \"content\": \"4\"}]}\n");
    TrainArguments a = new TrainArguments();
    a.model = model;
    a.dataset = List.of(data.toString());
    a.outputDir = tmp.resolve("run");
    a.maxSteps = 2;
    a.saveSteps = 2;
    a.device = "cpu";
    Trainer.Result r = TinyModels.train(a);
    assertTrue(Double.isFinite(r.firstLoss()) && Files.exists(r.lastCheckpoint().resolve("adapter_model.safetensors")));
    a.trainType = "full";
    var e = assertThrows(IllegalArgumentException.class, () -> new Trainer(a, new PrintWriter(new StringWriter())).close());
    assertTrue(e.getMessage().contains(refusal), e.getMessage());
  }

  /** A copy of a checkpoint folder to damage. */
  static Path copy(Path from, Path to) throws IOException {
    Files.createDirectories(to);
    try (var files = Files.list(from)) {
      for (Path f : files.toList()) Files.copy(f, to.resolve(f.getFileName()));
    }
    return to;
  }

  /** A packed linear's dequantized weight. */
  static float[] dequantized(Linear l) {
    try (Arena a = new Arena()) {
      return l.quantizedWeight().dequantize(a).toFloatArray();
    }
  }

  /** An int32 tensor of a safetensors file, as stored. */
  static int[] ints(SafetensorsFile f, String name) throws IOException {
    var b = f.bytes(name).order(java.nio.ByteOrder.LITTLE_ENDIAN).asIntBuffer();
    int[] v = new int[b.remaining()];
    b.get(v);
    return v;
  }
}
