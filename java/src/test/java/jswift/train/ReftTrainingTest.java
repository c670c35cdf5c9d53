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
import jswift.nn.ReftIntervention;
import jswift.tensor.Device;
import jswift.testing.Assert;
import jswift.testing.Cli;
import jswift.testing.Fixtures;
import jswift.testing.GradientCheck;
import jswift.testing.TinyModels;
import jswift.tuner.ReftFolder;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * --train_type reft: pyreft's interventions on the decoder layers' outputs. The gradient through the model (with and
 * without recomputation), the sft run with its checkpoints in ms-swift's tuner format (default/ with swift_type
 * REFT), loading them back (infer on the command line too), an exact resume, and the errors.
 */
class ReftTrainingTest {
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
    a.trainType = "reft";
    a.reftRank = 4;
    a.learningRate = 3e-3;
    a.lrSchedulerType = "constant";
    a.device = "cpu";
    return a;
  }

  private static void gradientsReachEveryTensor(ReftFolder.Config config, int expectedTensors) throws IOException {
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      double base = m.loss(BATCH);
      List<Parameter> params = ReftFolder.apply(m, "default", config, 1);
      params.forEach(p -> p.setTrainable(true));
      assertEquals(expectedTensors, params.size(), params.toString());
      for (Parameter p : params)  // the rotation's parameter starts at 0: move it so its gradient is not special
        if (p.name().endsWith(ReftIntervention.ROTATION)) p.value().copyFrom(jswift.testing.Rand.normal(p.numel(), 3, 0.2f));
      assertTrue(Math.abs(m.loss(BATCH) - base) > 1e-4, "random W, b: not the identity at the start");
      m.forwardBackward(BATCH, 1);
      float[][] plain = new float[params.size()][];
      for (int i = 0; i < plain.length; i++) plain[i] = params.get(i).grad().toFloatArray();
      // the check moves the parameters by hand: the interventions must re-read their rotations
      GradientCheck.check(params, new Random(4), () -> {
        m.reftInterventions("default").values().forEach(ReftIntervention::invalidate);
        return m.loss(BATCH);
      }, config.kind().className());
      params.forEach(Parameter::zeroGrad);
      m.setGradientCheckpointing(true);  // the recomputed layer runs its intervention again
      m.forwardBackward(BATCH, 1);
      for (int i = 0; i < plain.length; i++)
        Assert.close(params.get(i).name(), params.get(i).grad().toFloatArray(), plain[i], 1e-6, 1e-6);
      m.setActiveAdapter(null);
      assertEquals(base, m.loss(BATCH), 0, "inactive: the base model");
    }
  }

  @Test
  void theModelsGradientReachesEveryInterventionTensor() throws IOException {
    // LoReFT on both layers: W, b and the rotation's parameter on each
    gradientsReachEveryTensor(ReftFolder.Config.parse(null, 4, "LoreftIntervention", null), 2 * 3);
    // NoReFT with a projection bias on layer 1 only
    gradientsReachEveryTensor(ReftFolder.Config.parse(List.of(1), 2, "NoreftIntervention", "{\"add_bias\": true}"), 4);
  }

  @Test
  void sftSavesMsSwiftReftCheckpointsThatLoadInferAndResume(@TempDir Path dir) throws IOException {
    StringWriter console = new StringWriter();
    Trainer.Result r;
    try (Trainer t = new Trainer(args(dir.resolve("a"), 8, 4), new PrintWriter(console, true))) {
      r = t.train();
    }
    assertTrue(console.toString().contains("trainable ReFT parameters"), console.toString());
    assertTrue(r.lastLoss() < r.firstLoss(), r.firstLoss() + " -> " + r.lastLoss());
    Path ckpt = r.lastCheckpoint();
    JsonNode cfg = JSON.readTree(ckpt.resolve("default/adapter_config.json").toFile());
    assertEquals("REFT", cfg.get("swift_type").asText());
    assertEquals(4, cfg.get("r").asInt());
    assertEquals("LoreftIntervention", cfg.get("intervention_type").asText());
    assertTrue(cfg.get("layers").isNull(), "all layers");
    assertFalse(Files.exists(ckpt.resolve("adapter_model.safetensors")), "not a PEFT folder");
    float[] rotation;
    try (SafetensorsFile f = SafetensorsFile.open(ckpt.resolve("default/adapter_model.safetensors"))) {
      assertEquals(2 * 6, f.names().size(), f.names().toString());
      assertArrayEquals(new long[] {4, 64}, f.entry("model.layers.1.reft.learned_source.weight").shape());
      assertArrayEquals(new long[] {64, 4}, f.entry("model.layers.0.reft.rotate_layer").shape());
      rotation = f.floats("model.layers.0.reft.rotate_layer");
    }
    // the saved R is orthonormal, and moved from where it started (the rotation trains)
    for (int a = 0; a < 4; a++)
      for (int b = 0; b < 4; b++) {
        double dot = 0;
        for (int i = 0; i < 64; i++) dot += rotation[i * 4 + a] * rotation[i * 4 + b];
        assertEquals(a == b ? 1 : 0, dot, 1e-5, "R^T R");
      }
    try (CausalLM m = CausalLM.load(model, Device.CPU)) {
      double base = m.loss(BATCH);
      m.loadAdapter("trained", ckpt);
      m.setActiveAdapter("trained");
      assertTrue(Math.abs(m.loss(BATCH) - base) > 1e-3, "the checkpoint's interventions are in the forward");
      assertArrayEquals(rotation, m.reftInterventions("trained").get(0).rotationMatrix(), 1e-6f);
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
    // merging is refused with the reason
    String merge = Cli.run("export", "--adapters", ckpt.toString(), "--merge_lora", "true");
    assertTrue(merge.contains("cannot be merged"), merge);
  }

  @Test
  void aRotationSavedAsRAloneLoadsAtR(@TempDir Path dir) throws IOException {
    // pyreft's own record of a rotation is R alone: the parametrization restarts there, with the same forward
    Path ckpt = dir.resolve("ckpt");
    double trained;
    try (CausalLM m = CausalLM.load(model, Device.CPU)) {
      ReftFolder.Config c = ReftFolder.Config.parse(List.of(0), 4, "DireftIntervention", "{\"act_fn\": \"relu\"}");
      ReftFolder.apply(m, "default", c, 5).forEach(p -> {
        if (p.name().endsWith(ReftIntervention.ROTATION)) p.value().copyFrom(jswift.testing.Rand.normal(p.numel(), 8, 0.3f));
      });
      trained = m.loss(BATCH);
      ReftFolder.save(m, "default", c, ckpt);
    }
    Path weights = ckpt.resolve("default/adapter_model.safetensors");
    List<jswift.model.TensorSource> kept = new java.util.ArrayList<>();
    try (SafetensorsFile f = SafetensorsFile.open(weights)) {
      for (String k : f.names())
        if (!k.contains("rotate_layer.")) kept.add(f32(k, f.floats(k), f.entry(k).shape()));
    }
    jswift.model.SafetensorsWriter.write(weights, kept, null);
    try (CausalLM m = CausalLM.load(model, Device.CPU)) {
      m.loadAdapter("x", ckpt);
      m.setActiveAdapter("x");
      assertEquals(trained, m.loss(BATCH), 1e-5);
    }
  }

  private static jswift.model.TensorSource f32(String name, float[] v, long[] shape) {
    java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(v.length * 4).order(java.nio.ByteOrder.LITTLE_ENDIAN);
    for (float x : v) b.putFloat(x);
    return jswift.model.TensorSource.of(name, jswift.model.SafetensorsDtype.parse("F32"), shape, b.array());
  }

  @Test
  void badSettingsAndFoldersAreRefusedClearly(@TempDir Path dir) throws IOException {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> ReftFolder.Config.parse(null, 4, "LoReFT", null));
    assertTrue(e.getMessage().contains("LoreftIntervention"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class,
        () -> ReftFolder.Config.parse(null, 4, "LoreftIntervention", "{\"low_rank\": 3}"));
    assertTrue(e.getMessage().contains("'low_rank'") && e.getMessage().contains("act_fn"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> ReftFolder.Config.parse(null, 4, "LoreftIntervention", "{x"));
    assertTrue(e.getMessage().contains("--reft_args is not JSON"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> ReftFolder.Config.parse(List.of(1, 1), 4,
        "LoreftIntervention", null));
    assertTrue(e.getMessage().contains("twice"), e.getMessage());
    String cli = Cli.run("sft", "--model", model.toString(), "--dataset", data.toString(), "--train_type", "reft",
        "--reft_layers", "7", "--device", "cpu", "--output_dir", dir.resolve("o").toString(), "--max_steps", "1");
    assertTrue(cli.contains("--reft_layers [7]: the model has 2 layers (0..1)"), cli);
    cli = Cli.run("sft", "--model", model.toString(), "--dataset", data.toString(), "--train_type", "reft",
        "--use_dora", "true", "--output_dir", dir.resolve("o").toString());
    assertTrue(cli.contains("LoRA's") && cli.contains("--reft_layers"), cli);

    Path ckpt = dir.resolve("ckpt");
    ReftFolder.Config c = ReftFolder.Config.parse(null, 2, "LoreftIntervention", null);
    try (CausalLM m = CausalLM.load(model, Device.CPU)) {
      ReftFolder.apply(m, "default", c, 3);
      ReftFolder.save(m, "default", c, ckpt);
    }
    Path cfg = ckpt.resolve("default/adapter_config.json");
    String good = Files.readString(cfg);
    try (CausalLM m = CausalLM.load(model, Device.CPU)) {
      Files.writeString(cfg, good.replace("\"r\" : 2", "\"r\" : 3"));
      IOException io = assertThrows(IOException.class, () -> m.loadAdapter("x", ckpt));
      assertTrue(io.getMessage().contains("learned_source.weight") && io.getMessage().contains("[2, 64]"),
          io.getMessage());
      Files.writeString(cfg, good.replace("LoreftIntervention", "NoreftIntervention"));
      io = assertThrows(IOException.class, () -> m.loadAdapter("x", ckpt));
      assertTrue(io.getMessage().contains("proj_layer.weight"), io.getMessage());
      assertThrows(IllegalArgumentException.class, () -> m.setActiveAdapter("x"), "nothing half-loaded");
    }
  }
}
