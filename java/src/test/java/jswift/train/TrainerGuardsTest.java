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
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import jswift.model.CausalLM;
import jswift.model.Checkpoint;
import jswift.model.SafetensorsFile;
import jswift.nn.Parameter;
import jswift.template.Conversation;
import jswift.template.TemplateOptions;
import jswift.template.Templates;
import jswift.tensor.Device;
import jswift.testing.Fixtures;
import jswift.testing.TinyModels;
import jswift.tokenizer.Tokenizer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The trainer's guarantees beyond the happy path: packing changes the layout, not the loss; a non-finite loss
 * stops the run and keeps the last checkpoint; ms-swift's --freeze_parameters* / --trainable_parameters* for
 * full training leave frozen weights bit-identical.
 */
class TrainerGuardsTest {
  @TempDir static Path shared;
  static Path model, data;
  static final String[][] QA = {{"What is your name?", "I am jswift-bot."}, {"Who made you?", "The jswift team."},
      {"Say hello.", "Hello from jswift!"}};

  @BeforeAll
  static void setUp() throws IOException {
    model = TinyModels.qwen3(shared.resolve("tiny-qwen3"), 5);
    data = TinyModels.chatDataset(shared.resolve("train.jsonl"), QA);
  }

  private static String row(String q, String a) {
    return "{\"messages\": [{\"role\": \"user\", \"content\": \"" + q + "\"}, {\"role\": \"assistant\", \"content\": \""
        + a + "\"}]}";
  }

  private static TrainArguments args(Path out, long steps) {
    TrainArguments a = new TrainArguments();
    a.model = model;
    a.dataset = List.of(data.toString());
    a.outputDir = out;
    a.maxSteps = steps;
    a.saveSteps = (int) steps;
    a.loggingSteps = 1;
    a.learningRate = 1e-2;
    a.gradientAccumulationSteps = 1;
    a.perDeviceTrainBatchSize = 1;
    a.loraRank = 4;
    a.device = "cpu";
    return a;
  }

  private static Trainer.Result train(TrainArguments a) throws IOException {
    return TinyModels.train(a);
  }

  /** The logged training losses, step by step. */
  private static List<Double> losses(Path runDir) throws IOException {
    List<Double> l = new ArrayList<>();
    ObjectMapper json = new ObjectMapper();
    for (String line : Files.readAllLines(runDir.resolve("logging.jsonl"))) {
      JsonNode n = json.readTree(line);
      if (n.has("loss")) l.add(n.get("loss").asDouble());
    }
    return l;
  }

  @Test
  void packingGivesTheSameLossAsUnpacked(@TempDir Path out) throws IOException {
    // max_length = the three samples' total: one packed row then holds exactly one epoch, in the same order as an
    // unpacked batch of three, so both runs see the same samples at every step.
    int total = 0;
    try (Tokenizer tok = Tokenizer.load(model)) {
      var enc = Templates.create("qwen3", tok, TemplateOptions.DEFAULT);
      for (String[] p : QA) total += enc.encode(Conversation.fromJson(new ObjectMapper().readTree(row(p[0], p[1])))).length();
    }
    TrainArguments unpacked = args(out.resolve("unpacked"), 3);
    unpacked.perDeviceTrainBatchSize = 3;
    unpacked.maxLength = total;
    TrainArguments packed = args(out.resolve("packed"), 3);
    packed.packing = true;
    packed.maxLength = total;
    Trainer.Result u = train(unpacked), p = train(packed);
    List<Double> lu = losses(u.runDir()), lp = losses(p.runDir());
    assertEquals(3, lu.size());
    for (int i = 0; i < lu.size(); i++)
      assertEquals(lu.get(i), lp.get(i), 1e-5 * Math.abs(lu.get(i)), "step " + (i + 1) + ": " + lu + " vs " + lp);
    try (SafetensorsFile a = SafetensorsFile.open(u.lastCheckpoint().resolve("adapter_model.safetensors"));
        SafetensorsFile b = SafetensorsFile.open(p.lastCheckpoint().resolve("adapter_model.safetensors"))) {
      for (String n : a.names()) {
        float[] x = a.floats(n), y = b.floats(n);
        for (int i = 0; i < x.length; i++) assertEquals(x[i], y[i], 1e-5f + 1e-4f * Math.abs(x[i]), n + "[" + i + "]");
      }
    }
  }

  @Test
  void aNonFiniteLossStopsTheRunAndKeepsTheLastCheckpoint(@TempDir Path out) throws IOException {
    // A learning rate at the top of the float range: Adam's first step sets every LoRA B entry to about +-3e38,
    // so the second forward overflows to inf and then NaN.
    TrainArguments a = args(out, 5);
    a.saveSteps = 1;
    a.learningRate = 3e38;
    a.lrSchedulerType = "constant";
    StringWriter console = new StringWriter();
    Path runDir;
    IllegalStateException e;
    try (Trainer t = new Trainer(a, new PrintWriter(console, true))) {
      runDir = t.runDir();
      e = assertThrows(IllegalStateException.class, t::train);
    }
    assertTrue(e.getMessage().contains("at step 2") && e.getMessage().contains("--learning_rate")
        && e.getMessage().contains("last good checkpoint: " + runDir.resolve("checkpoint-1")), e.getMessage());
    assertTrue(Files.exists(runDir.resolve("checkpoint-1/adapter_model.safetensors")), "the last checkpoint is kept");
    assertFalse(Files.exists(runDir.resolve("checkpoint-2")), "nothing is saved after the bad step");
    List<Double> l = losses(runDir);
    assertEquals(1, l.size(), "only the good step is logged as a loss");
    assertTrue(Double.isFinite(l.get(0)));
    assertTrue(Files.readString(runDir.resolve("logging.jsonl")).contains("non-finite loss"));
    assertTrue(Files.exists(runDir.resolve("images/train_loss.png")), "the plots are drawn before stopping");
    // the kept checkpoint is still a valid checkpoint: it loads
    try (CausalLM m = CausalLM.load(model, Device.CPU)) {
      m.loadAdapter("kept", runDir.resolve("checkpoint-1"));
    }
  }

  @Test
  void freezeRatioFreezesWhatMsSwiftFreezes() throws IOException {
    // Reference: ms-swift's rule applied to transformers' own Qwen3ForCausalLM (fixtures/freeze/generate.py).
    JsonNode ref = new ObjectMapper().readTree(Fixtures.resource("freeze/ratio_qwen3_tiny.json").toFile());
    try (CausalLM m = CausalLM.load(model, Device.CPU)) {
      List<String> torchOrder = new ArrayList<>();
      List<Parameter> sorted = new ArrayList<>(new java.util.LinkedHashSet<>(m.parameters().values()));
      sorted.sort(java.util.Comparator.comparing(p -> FullTrainingSelection.torchOrder(p.name())));
      sorted.forEach(p -> torchOrder.add(p.name()));
      List<String> expectedOrder = new ArrayList<>();
      ref.get("parameters").forEach(n -> expectedOrder.add(n.asText()));
      assertEquals(expectedOrder, torchOrder, "the weights in torch's model.parameters() order");
      for (JsonNode c : ref.get("cases")) {
        TrainArguments a = new TrainArguments();
        a.trainType = "full";
        a.freezeParametersRatio = c.get("ratio").asDouble();
        Set<String> expectedFrozen = new TreeSet<>();
        c.get("frozen").forEach(n -> expectedFrozen.add(n.asText()));
        if (expectedFrozen.size() == expectedOrder.size()) continue;   // ratio 1: everything frozen, checked below
        Set<String> trained = names(FullTrainingSelection.select(m.parameters().values(), a, new PrintWriter(new StringWriter())));
        Set<String> frozen = new TreeSet<>(expectedOrder);
        frozen.removeAll(trained);
        assertEquals(expectedFrozen, frozen, "ratio " + a.freezeParametersRatio);
      }
      TrainArguments all = new TrainArguments();
      all.trainType = "full";
      all.freezeParametersRatio = 1.0;
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> FullTrainingSelection.select(m.parameters().values(), all, new PrintWriter(new StringWriter())));
      assertTrue(e.getMessage().contains("nothing is left to train"), e.getMessage());
      // prefixes, then regex, then re-activation, as ms-swift applies them
      TrainArguments a = new TrainArguments();
      a.trainType = "full";
      a.freezeParameters = List.of("model.embed_tokens", "model.layers.0.");
      a.freezeParametersRegex = "norm";
      a.trainableParameters = List.of("model.layers.0.mlp.down_proj");
      a.trainableParametersRegex = "^model\\.layers\\.1\\.input_layernorm";
      Set<String> trained = names(FullTrainingSelection.select(m.parameters().values(), a, new PrintWriter(new StringWriter())));
      assertEquals(new TreeSet<>(List.of("model.layers.0.mlp.down_proj.weight", "model.layers.1.input_layernorm.weight",
          "model.layers.1.self_attn.q_proj.weight", "model.layers.1.self_attn.k_proj.weight",
          "model.layers.1.self_attn.v_proj.weight", "model.layers.1.self_attn.o_proj.weight",
          "model.layers.1.mlp.gate_proj.weight", "model.layers.1.mlp.up_proj.weight",
          "model.layers.1.mlp.down_proj.weight")), trained);
    }
  }

  private static Set<String> names(List<Parameter> ps) {
    Set<String> s = new TreeSet<>();
    ps.forEach(p -> s.add(p.name()));
    return s;
  }

  @Test
  void frozenWeightsStayBitIdenticalInFullTraining(@TempDir Path out) throws IOException {
    TrainArguments a = args(out, 3);
    a.trainType = "full";
    a.learningRate = 1e-3;
    a.freezeParameters = List.of("model.embed_tokens", "model.layers.0.");
    a.trainableParameters = List.of("model.layers.0.mlp");
    StringWriter console = new StringWriter();
    Trainer.Result r;
    try (Trainer t = new Trainer(a, new PrintWriter(console, true))) {
      r = t.train();
    }
    try (Checkpoint base = Checkpoint.open(model); Checkpoint trained = Checkpoint.open(r.lastCheckpoint())) {
      int changed = 0;
      for (String n : base.names()) {
        float[] before = base.file(n).floats(n), after = trained.file(n).floats(n);
        boolean frozen = (n.startsWith("model.embed_tokens") || n.startsWith("model.layers.0."))
            && !n.startsWith("model.layers.0.mlp");
        if (frozen) assertArrayEquals(before, after, n + " is frozen: bit-identical");
        else if (!java.util.Arrays.equals(before, after)) changed++;
      }
      assertTrue(changed >= 8, "the trainable weights moved (" + changed + ")");
    }
    // layer 0's MLP (3), all of layer 1 (11) and the final norm
    assertTrue(console.toString().contains("(15 tensors)"), console.toString());
    // the flags belong to full training, and bad values are named
    TrainArguments lora = args(out, 1);
    lora.freezeParameters = List.of("model.embed_tokens");
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new Trainer(lora, new PrintWriter(new StringWriter())));
    assertTrue(e.getMessage().contains("--train_type full"), e.getMessage());
    TrainArguments ratio = args(out, 1);
    ratio.trainType = "full";
    ratio.freezeParametersRatio = 1.5;
    e = assertThrows(IllegalArgumentException.class, () -> new Trainer(ratio, new PrintWriter(new StringWriter())));
    assertTrue(e.getMessage().contains("--freeze_parameters_ratio"), e.getMessage());
    TrainArguments regex = args(out, 1);
    regex.trainType = "full";
    regex.freezeParametersRegex = "layers.(";
    e = assertThrows(IllegalArgumentException.class, () -> new Trainer(regex, new PrintWriter(new StringWriter())));
    assertTrue(e.getMessage().contains("--freeze_parameters_regex"), e.getMessage());
  }
}
