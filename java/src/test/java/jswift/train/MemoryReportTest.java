package jswift.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import jswift.testing.TinyModels;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** --report_memory on a tiny Qwen3: exact byte counts for the persistent parts, LoRA vs QLoRA vs full. */
class MemoryReportTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  private static List<JsonNode> memoryRecords(Path runDir) throws IOException {
    List<JsonNode> out = new ArrayList<>();
    for (String line : Files.readAllLines(runDir.resolve("logging.jsonl"))) {
      JsonNode n = JSON.readTree(line);
      if (n.has("memory_peak")) out.add(n);
    }
    return out;
  }

  private static TrainArguments args(Path model, Path data, Path out, String trainType) {
    TrainArguments a = new TrainArguments();
    a.model = model;
    a.dataset = List.of(data.toString());
    a.outputDir = out;
    a.maxSteps = 2;
    a.saveSteps = 100;
    a.trainType = trainType;
    a.perDeviceTrainBatchSize = 2;
    a.gradientAccumulationSteps = 1;
    a.loraRank = 4;
    a.loraAlpha = 8;
    a.device = "cpu";
    a.reportMemory = true;
    return a;
  }

  @Test
  void splitsThePeakIntoWeightsTrainableOptimizerAndActivations(@TempDir Path tmp) throws IOException {
    Path model = TinyModels.qwen3(tmp.resolve("m"), 3);
    Path data = tmp.resolve("d.jsonl");
    Files.writeString(data, ("{\"messages\": [{\"role\": \"user\", \"content\": \"Hi there, who are you?\"}, "
        + "{\"role\": \"assistant\", \"content\": \"A tiny model that is being measured.\"}]}\n").repeat(4));
    long[] weights = new long[3];
    String[] types = {"lora", "qlora", "full"};
    for (int i = 0; i < types.length; i++) {
      TrainArguments a = args(model, data, tmp.resolve(types[i]), types[i].equals("qlora") ? "lora" : types[i]);
      if (types[i].equals("qlora")) {
        a.quantMethod = "bnb";
        a.quantBits = 4;
      }
      StringWriter console = new StringWriter();
      long trainableNumel;
      Trainer.Result r;
      try (Trainer t = new Trainer(a, new PrintWriter(console))) {
        trainableNumel = t.trainableParameters().stream().mapToLong(jswift.nn.Parameter::numel).sum();
        r = t.train();
      }
      List<JsonNode> records = memoryRecords(r.runDir());
      assertEquals(2, records.size(), "after the first and the last step: " + console);
      assertTrue(console.toString().contains("activations + workspace"), console.toString());
      JsonNode m = records.get(1);
      weights[i] = m.get("memory_weights").asLong();
      // fp32 on the CPU: LoRA A/B are the adapter's own values + their grads; full training's masters are the
      // weights themselves, so only the grads; AdamW keeps two fp32 moments per trained value.
      long perValue = types[i].equals("full") ? 4 : 8;
      assertEquals(perValue * trainableNumel, m.get("memory_trainable").asLong(), types[i]);
      assertEquals(8 * trainableNumel, m.get("memory_optimizer").asLong(), types[i]);
      long persistent = m.get("memory_weights").asLong() + m.get("memory_trainable").asLong()
          + m.get("memory_optimizer").asLong();
      assertTrue(m.get("memory_peak").asLong() > persistent, types[i] + ": the step's activations come on top");
      assertEquals(m.get("memory_peak").asLong() - persistent, m.get("memory_activations_workspace").asLong());
    }
    assertTrue(weights[1] < weights[0], "the NF4 base is smaller: " + weights[1] + " vs " + weights[0]);
    assertEquals(weights[0], weights[2], "full training keeps the same base weights");
  }
}
