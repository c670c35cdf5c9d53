package jswift.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import jswift.model.Batch;
import jswift.model.CausalLM;
import jswift.model.SafetensorsFile;
import jswift.nn.Parameter;
import jswift.tensor.Device;
import jswift.testing.Assert;
import jswift.testing.Cli;
import jswift.testing.Fixtures;
import jswift.testing.GradientCheck;
import jswift.testing.TinyModels;
import jswift.tuner.SwiftAdapterFolder;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * --train_type adapter: ms-swift's bottleneck adapter after every layer's MLP. Its gradient through the model (with
 * and without recomputation), the sft run and its checkpoints in ms-swift's tuner format (default/ with
 * swift_type ADAPTER), loading them back (infer on the command line too), resume, and the errors: bad folders,
 * merging.
 */
class BottleneckAdapterTrainingTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Batch BATCH = Batch.padded(new int[][] {{5, 17, 101, 33, 250, 7, 9, 400}},
      null, new int[][] {{5, 17, 101, 33, 250, 7, 9, 400}});

  @TempDir static Path shared;
  static Path model, data;

  @BeforeAll
  static void setUp() throws IOException {
    model = Fixtures.tinyChatModel(shared.resolve("model"));
    data = TinyModels.chatDataset(shared.resolve("train.jsonl"), TinyModels.IDENTITY_QA);
  }

  private static TrainArguments args(Path out, long steps, int saveSteps) {
    TrainArguments a = TinyModels.trainArguments(model, data, out, steps, saveSteps);
    a.trainType = "adapter";
    a.adapterLength = 16;
    a.learningRate = 3e-3;
    a.lrSchedulerType = "constant";
    a.device = "cpu";
    return a;
  }

  @Test
  void theModelsGradientReachesEveryAdapterWeight() throws IOException {
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      double base = m.loss(BATCH);
      List<Parameter> params = SwiftAdapterFolder.apply(m, "default", new SwiftAdapterFolder.Config(8, "gelu"), 1);
      params.forEach(p -> p.setTrainable(true));
      assertEquals(2 * 4, params.size(), "linear1 / linear2 weight and bias on each of 2 layers");
      assertTrue(Math.abs(m.loss(BATCH) - base) > 1e-4, "Xavier-initialised: not the identity at the start");
      m.forwardBackward(BATCH, 1);
      float[][] plain = new float[params.size()][];
      for (int i = 0; i < plain.length; i++) plain[i] = params.get(i).grad().toFloatArray();
      GradientCheck.check(params, new Random(4), () -> m.loss(BATCH), "bottleneck adapters");
      params.forEach(Parameter::zeroGrad);
      m.setGradientCheckpointing(true);  // the recomputed MLP runs its adapter again
      m.forwardBackward(BATCH, 1);
      for (int i = 0; i < plain.length; i++)
        Assert.close(params.get(i).name(), params.get(i).grad().toFloatArray(), plain[i], 1e-6, 1e-6);
      m.setActiveAdapter(null);
      assertEquals(base, m.loss(BATCH), 0, "inactive: the base model");
    }
  }

  @Test
  void sftSavesMsSwiftAdapterCheckpointsThatLoadInferAndResume(@TempDir Path dir) throws IOException {
    StringWriter console = new StringWriter();
    Trainer.Result r;
    try (Trainer t = new Trainer(args(dir.resolve("a"), 8, 4), new PrintWriter(console, true))) {
      r = t.train();
    }
    assertTrue(console.toString().contains("trainable bottleneck adapter parameters"), console.toString());
    assertTrue(r.lastLoss() < r.firstLoss(), r.firstLoss() + " -> " + r.lastLoss());
    Path ckpt = r.lastCheckpoint();
    JsonNode cfg = JSON.readTree(ckpt.resolve("default/adapter_config.json").toFile());
    assertEquals("ADAPTER", cfg.get("swift_type").asText());
    assertEquals(16, cfg.get("adapter_length").asInt());
    assertEquals("gelu", cfg.get("act_layer").asText());
    assertEquals("[\"mlp\"]", cfg.get("target_modules").toString());
    assertTrue(Files.exists(ckpt.resolve("configuration.json")));
    assertFalse(Files.exists(ckpt.resolve("adapter_model.safetensors")), "not a PEFT folder");
    try (SafetensorsFile f = SafetensorsFile.open(ckpt.resolve("default/adapter_model.safetensors"))) {
      assertEquals(2 * 4, f.names().size());
      assertArrayEquals(new long[] {16, 64}, f.entry("model.layers.1.mlp.adapter_default.linear1.weight").shape());
      assertEquals("F32", f.entry("model.layers.0.mlp.adapter_default.linear2.bias").dtype());
    }
    try (CausalLM m = CausalLM.load(model, Device.CPU)) {
      double base = m.loss(BATCH);
      m.loadAdapter("trained", ckpt);
      m.setActiveAdapter("trained");
      assertTrue(Math.abs(m.loss(BATCH) - base) > 1e-3, "the checkpoint's adapters are in the forward");
    }
    // resumed from the middle, the run ends where the uninterrupted one did, bit for bit
    TrainArguments resumed = args(dir.resolve("b"), 8, 4);
    resumed.resumeFromCheckpoint = r.runDir().resolve("checkpoint-4");
    Trainer.Result again = TinyModels.train(resumed);
    assertEquals(r.lastLoss(), again.lastLoss(), 0);
    try (SafetensorsFile x = SafetensorsFile.open(ckpt.resolve("default/adapter_model.safetensors"));
        SafetensorsFile y = SafetensorsFile.open(again.lastCheckpoint().resolve("default/adapter_model.safetensors"))) {
      for (String k : x.names()) assertArrayEquals(x.floats(k), y.floats(k), k);
    }
    // infer on the command line
    Path result = dir.resolve("result.jsonl");
    String out = Cli.run("infer", "--adapters", ckpt.toString(), "--device", "cpu", "--max_new_tokens", "4",
        "--val_dataset", data.toString(), "--result_path", result.toString());
    assertTrue(out.startsWith("0\n"), out);
    assertEquals(4, Files.readAllLines(result).size(), out);
    assertTrue(JSON.readTree(Files.readAllLines(result).get(0)).has("response"), Files.readString(result));
    // merging is refused with the reason
    String merge = Cli.run("export", "--adapters", ckpt.toString(), "--merge_lora", "true");
    assertTrue(merge.contains("cannot be merged"), merge);
  }

  @Test
  void badCheckpointsAreRefusedNamingTheFileAndTensor(@TempDir Path dir) throws IOException {
    Path ckpt = dir.resolve("ckpt");
    try (CausalLM m = CausalLM.load(model, Device.CPU)) {
      SwiftAdapterFolder.apply(m, "default", new SwiftAdapterFolder.Config(8, "relu"), 3);
      SwiftAdapterFolder.save(m, "default", new SwiftAdapterFolder.Config(8, "relu"), ckpt);
    }
    try (CausalLM small = CausalLM.load(TinyModels.qwen3(dir.resolve("qwen3"), 1), Device.CPU)) {
      IOException e = assertThrows(IOException.class, () -> small.loadAdapter("x", ckpt));
      assertTrue(e.getMessage().contains("dim 64 is not this model's hidden size 32"), e.getMessage());
    }
    Path cfg = ckpt.resolve("default/adapter_config.json");
    String good = Files.readString(cfg);
    try (CausalLM m = CausalLM.load(model, Device.CPU)) {
      Files.writeString(cfg, good.replace("\"ADAPTER\"", "\"LORA\""));
      IOException e = assertThrows(IOException.class, () -> m.loadAdapter("x", ckpt));
      assertTrue(e.getMessage().contains("swift_type LORA"), e.getMessage());
      Files.writeString(cfg, good.replace("\"relu\"", "\"gelu2\""));
      e = assertThrows(IOException.class, () -> m.loadAdapter("x", ckpt));
      assertTrue(e.getMessage().contains("act_layer") && e.getMessage().contains("gelu2"), e.getMessage());
      Files.writeString(cfg, good);
      // a tensor missing from the weights
      Path weights = ckpt.resolve("default/adapter_model.safetensors");
      List<jswift.model.TensorSource> kept = new java.util.ArrayList<>();
      try (SafetensorsFile f = SafetensorsFile.open(weights)) {
        for (String k : f.names())
          if (!k.equals("model.layers.1.mlp.adapter_default.linear2.weight"))
            kept.add(jswift.model.TensorSource.of(k, jswift.model.SafetensorsDtype.parse("F32"), f.entry(k).shape(),
                java.nio.ByteBuffer.allocate(f.floats(k).length * 4).order(java.nio.ByteOrder.LITTLE_ENDIAN).array()));
      }
      jswift.model.SafetensorsWriter.write(weights, kept, null);
      e = assertThrows(IOException.class, () -> m.loadAdapter("x", ckpt));
      assertTrue(e.getMessage().contains("has no 'model.layers.1.mlp.adapter_default.linear2.weight'"), e.getMessage());
      assertThrows(IllegalArgumentException.class, () -> m.setActiveAdapter("x"), "nothing half-loaded");
    }
  }
}
