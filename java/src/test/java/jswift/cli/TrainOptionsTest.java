package jswift.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jswift.train.TrainArguments;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** The LISA, LLaMA-Pro, VeRA, AdaLoRA, IA3 and NEFTune flags of {@code jswift sft} / {@code pt}: ms-swift's names and defaults. */
class TrainOptionsTest {
  private static TrainArguments parse(String... flags) {
    SftCommand sft = new SftCommand();
    new CommandLine(sft).parseArgs(flags);
    return sft.options.arguments();
  }

  @Test
  void lisaAndLlamaProFlags() {
    TrainArguments d = parse("--model", "m", "--dataset", "d.jsonl");
    assertEquals(0, d.lisaActivatedLayers, "LISA is off by default");
    assertEquals(20, d.lisaStepInterval);
    assertEquals(4, d.llamaproNumNewBlocks);
    assertNull(d.llamaproNumGroups);
    TrainArguments lisa = parse("--model", "m", "--dataset", "d.jsonl", "--train_type", "full",
        "--lisa_activated_layers", "2", "--lisa_step_interval", "5");
    assertEquals(2, lisa.lisaActivatedLayers);
    assertEquals(5, lisa.lisaStepInterval);
    TrainArguments pro = parse("--model", "m", "--dataset", "d.jsonl", "--tuner_type", "llamapro",
        "--llamapro_num_new_blocks", "8", "--llamapro_num_groups", "4");
    assertEquals("llamapro", pro.trainType);
    assertEquals(8, pro.llamaproNumNewBlocks);
    assertEquals(4, pro.llamaproNumGroups);
  }

  @Test
  void veraFlagsBecomeAPeftVeraConfig() {
    TrainArguments d = parse("--model", "m", "--dataset", "d.jsonl", "--train_type", "vera");
    d.validate();
    var cfg = d.loraConfig();
    assertEquals("VERA", cfg.peftType());
    assertEquals(256, cfg.r(), "ms-swift's vera_rank default");
    assertEquals(0.1, cfg.dInitial(), 1e-7);
    assertEquals(0, cfg.projectionPrngKey());
    assertEquals(0.0, cfg.loraDropout());
    assertEquals(1.0, cfg.scaleFor("model.layers.0.self_attn.q_proj"), "VeRA's vectors carry the scale");
    TrainArguments v = parse("--model", "m", "--dataset", "d.jsonl", "--train_type", "vera", "--vera_rank", "64",
        "--vera_dropout", "0.1", "--vera_d_initial", "0.5", "--vera_projection_prng_key", "3");
    var c = v.loraConfig();
    assertEquals(64, c.r());
    assertEquals(0.1, c.loraDropout(), 1e-7);
    assertEquals(0.5, c.dInitial(), 1e-7);
    assertEquals(3, c.projectionPrngKey());
    assertEquals(0.1, c.fields().path("vera_dropout").asDouble(), 1e-7, "saved as PEFT's vera_dropout");
    assertNull(d.neftuneNoiseAlpha, "NEFTune is off by default");
    assertEquals(5.0, parse("--model", "m", "--dataset", "d.jsonl", "--neftune_noise_alpha", "5").neftuneNoiseAlpha);
    TrainArguments dora = parse("--model", "m", "--dataset", "d.jsonl", "--train_type", "vera", "--use_dora", "true");
    IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
        dora::validate);
    org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains("--vera_rank"), e.getMessage());
  }

  @Test
  void adaLoraFlagsBecomeAPeftAdaLoraConfig() {
    TrainArguments d = parse("--model", "m", "--dataset", "d.jsonl", "--train_type", "adalora");
    d.validate();
    var cfg = d.loraConfig();
    assertEquals("ADALORA", cfg.peftType());
    assertEquals(12, cfg.initR(), "ms-swift's adalora_init_r");
    assertEquals(8, cfg.targetR());
    assertEquals(0.5, cfg.orthRegWeight(), 1e-12);
    assertEquals(32 / (12 + 1e-5), cfg.scaleFor("model.layers.0.mlp.up_proj"), 1e-6, "lora_alpha / (init_r + 1e-5)");
    var c = parse("--model", "m", "--dataset", "d.jsonl", "--train_type", "adalora", "--adalora_init_r", "6",
        "--adalora_target_r", "3", "--adalora_tinit", "5", "--adalora_tfinal", "7", "--adalora_deltaT", "2",
        "--adalora_beta1", "0.5", "--adalora_beta2", "0.6", "--adalora_orth_reg_weight", "0.1").loraConfig();
    assertEquals(6, c.initR());
    assertEquals(3, c.targetR());
    assertEquals(5, c.tinit());
    assertEquals(7, c.tfinal());
    assertEquals(2, c.deltaT());
    assertEquals(0.5, c.beta1(), 1e-12);
    assertEquals(0.6, c.beta2(), 1e-12);
    assertEquals(0.1, c.orthRegWeight(), 1e-12);
    TrainArguments bad = parse("--model", "m", "--dataset", "d.jsonl", "--train_type", "adalora", "--adalora_target_r",
        "16");
    IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
        bad::validate);
    org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains("--adalora_init_r"), e.getMessage());
  }

  @Test
  void severalDpoLossTypesMixWithTheirWeights() {
    org.junit.jupiter.api.Assertions.assertDoesNotThrow(() -> rlhf("--rlhf_type", "dpo", "--loss_type", "sigmoid",
        "bco_pair", "sft", "--loss_weights", "0.8", "0.2", "1.0").validate());
    for (String[] bad : new String[][] {
        {"--rlhf_type", "dpo", "--loss_type", "sigmoid", "hinge", "--loss_weights", "1"},
        {"--rlhf_type", "dpo", "--loss_type", "sigmoid", "sigmoid"},
        {"--rlhf_type", "dpo", "--loss_type", "sigmoid", "ipo"},
        {"--rlhf_type", "dpo", "--loss_type", "sigmoid", "nope"},
        {"--rlhf_type", "kto", "--loss_type", "kto", "apo_zero_unpaired"},
        {"--rlhf_type", "dpo", "--loss_type", "sigmoid", "hinge", "--loss_weights", "1", "-1"}}) {
      IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
          () -> rlhf(bad).validate(), String.join(" ", bad));
      org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains("loss"), e.getMessage());
    }
  }

  private static TrainArguments rlhf(String... flags) throws Exception {
    java.util.List<String> argv = new java.util.ArrayList<>(java.util.List.of("--model", "m", "--dataset", "d.jsonl"));
    argv.addAll(java.util.List.of(flags));
    RlhfCommand c = new RlhfCommand();
    new CommandLine(c).parseArgs(argv.toArray(new String[0]));
    return c.arguments();
  }

  @Test
  void agentTemplateAndDeepspeedFromMsSwiftScripts(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
      throws Exception {
    TrainArguments a = parse("--model", "m", "--dataset", "d.jsonl", "--agent_template", "react_en", "--deepspeed",
        "zero2");
    assertEquals("react_en", a.agentTemplate);
    assertEquals("zero2", a.deepspeed);
    java.nio.file.Path data = jswift.testing.TinyModels.chatDataset(dir.resolve("d.jsonl"), new String[][] {{"hi", "hello"}});
    String model = jswift.testing.Fixtures.tinyChatModel(dir.resolve("m")).toString();
    String r = jswift.testing.Cli.run("sft", "--model", model, "--dataset", data.toString(), "--max_steps", "1",
        "--deepspeed", "zero3_offload", "--agent_template", "react_en", "--output_dir", dir.resolve("o").toString(),
        "--device", "cpu");
    assertTrue(r.startsWith("0\n") && r.contains("note: --deepspeed zero3_offload has no effect"), r);
    r = jswift.testing.Cli.run("sft", "--model", model, "--dataset", data.toString(), "--max_steps", "1",
        "--agent_template", "toolbench_x", "--output_dir", dir.resolve("p").toString(), "--device", "cpu");
    assertTrue(r.startsWith("2\n") && r.contains("react_en"), r);
  }

  @Test
  void msSwiftDataAndBackendFlagsRunAsGiven() {
    TrainArguments a = parse("--model", "m", "--dataset", "d.jsonl", "--columns", "{\"q\": \"query\", \"a\": "
        + "\"response\"}", "--data_seed", "7", "--val_dataset_shuffle", "true", "--dataset_num_proc", "4",
        "--lazy_tokenize", "true", "--attn_impl", "flash_attn", "--tuner_backend", "peft");
    a.validate();
    assertEquals("{\"q\": \"query\", \"a\": \"response\"}", a.columns);
    assertEquals(7L, a.dataSeed);
    assertEquals(true, a.valDatasetShuffle);
    assertRefused(new String[0], new String[][] {{"--columns", "[1]"}, {"--streaming", "true"},
        {"--attn_impl", "xformers"}, {"--tuner_backend", "swift"}});
  }

  /** Each of {@code bads}, after --model, --dataset and {@code common}, fails validation naming its first flag. */
  private static void assertRefused(String[] common, String[][] bads) {
    for (String[] bad : bads) {
      java.util.List<String> argv = new java.util.ArrayList<>(java.util.List.of("--model", "m", "--dataset", "d.jsonl"));
      argv.addAll(java.util.List.of(common));
      argv.addAll(java.util.List.of(bad));
      TrainArguments t = parse(argv.toArray(new String[0]));
      IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
          t::validate, String.join(" ", bad));
      org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains(bad[0]), e.getMessage());
    }
  }

  @Test
  void boftFlagsBecomeAPeftBoftConfig() {
    TrainArguments d = parse("--model", "m", "--dataset", "d.jsonl", "--train_type", "boft", "--boft_block_size", "8",
        "--boft_n_butterfly_factor", "2", "--boft_dropout", "0.1");
    d.validate();
    var cfg = d.loraConfig();
    assertEquals("BOFT", cfg.peftType());
    assertEquals(8, cfg.boftBlockSize());
    assertEquals(0, cfg.boftBlockNum());
    assertEquals(2, cfg.boftNButterflyFactor());
    assertEquals(0.1, cfg.loraDropout(), 1e-7);
    assertRefused(new String[] {"--train_type", "boft"}, new String[][] {{"--boft_block_num", "4"},
        {"--boft_block_size", "0"}, {"--boft_n_butterfly_factor", "0"}, {"--boft_dropout", "1"}, {"--use_dora", "true"}});
  }

  @Test
  void fourierFlagsBecomeAPeftFourierFtConfig() {
    TrainArguments d = parse("--model", "m", "--dataset", "d.jsonl", "--train_type", "fourierft");
    d.validate();
    var cfg = d.loraConfig();
    assertEquals("FOURIERFT", cfg.peftType());
    assertEquals(2000, cfg.nFrequencyFor("model.layers.0.self_attn.q_proj", 4096, 4096), "ms-swift's default");
    assertEquals(300.0, cfg.fourierScaling(), 0.0);
    assertEquals(777, cfg.randomLocSeed());
    cfg = parse("--model", "m", "--dataset", "d.jsonl", "--tuner_type", "fourierft", "--fourier_n_frequency", "64",
        "--fourier_scaling", "20").loraConfig();
    assertEquals(64, cfg.nFrequencyFor("x.q_proj", 8, 16));
    assertEquals(20.0, cfg.fourierScaling(), 0.0);
    assertRefused(new String[] {"--train_type", "fourierft"}, new String[][] {{"--fourier_n_frequency", "0"},
        {"--use_rslora", "true"}});
  }

  @Test
  void boneFlagsBecomeAPeftMissConfig() {
    TrainArguments d = parse("--model", "m", "--dataset", "d.jsonl", "--train_type", "bone");
    d.validate();
    var cfg = d.loraConfig();
    assertEquals("MISS", cfg.peftType());
    assertEquals(4, cfg.r(), "ms-swift passes --reft_rank (4) as r");
    assertEquals(true, cfg.fields().get("init_weights").asBoolean());
    cfg = parse("--model", "m", "--dataset", "d.jsonl", "--train_type", "bone", "--reft_rank", "16", "--init_weights",
        "false").loraConfig();
    assertEquals(16, cfg.r());
    assertEquals(false, cfg.fields().get("init_weights").asBoolean());
    assertRefused(new String[] {"--train_type", "bone"}, new String[][] {{"--reft_rank", "0"}, {"--init_weights", "bat"},
        {"--use_dora", "true"}});
  }

  /** The HF / ms-swift flags common in ms-swift's example scripts: taken, or refused naming the flag. */
  @Test
  void msSwiftScriptFlagsAreTakenOrRefusedByName() {
    TrainArguments d = parse("--model", "m", "--dataset", "d.jsonl", "--quant_method", "bnb", "--quant_bits", "4",
        "--torch_dtype", "bfloat16", "--bnb_4bit_compute_dtype", "bfloat16", "--optim", "adamw_torch_fused",
        "--adam_epsilon", "1e-6", "--padding_free", "true", "--save_strategy", "epoch", "--evaluation_strategy", "no",
        "--lora_bias", "none", "--model_type", "qwen2_5", "--use_hf", "true", "--gradient_checkpointing_kwargs",
        "{\"use_reentrant\": false}", "--logging_first_step", "true", "--report_to", "tensorboard", "--task_type",
        "causal_lm");
    d.validate();
    assertEquals(1e-6, d.adamEpsilon, 0.0);
    assertEquals(7, d.every(true, 7), "save_strategy epoch: every epoch's steps");
    assertEquals(Long.MAX_VALUE, d.every(false, 7), "eval_strategy no");
    assertEquals(500, parse("--model", "m", "--dataset", "d.jsonl").every(true, 7), "steps: --save_steps");
    assertRefused(new String[] {"--quant_method", "bnb", "--quant_bits", "4", "--torch_dtype", "float32"},
        new String[][] {{"--bnb_4bit_compute_dtype", "bfloat16"}, {"--bnb_4bit_compute_dtype", "int8"}});
    assertRefused(new String[0], new String[][] {{"--task_type", "seq_cls"}, {"--report_to", "wandb"}, {"--optim", "adafactor"}, {"--lora_bias", "all"},
        {"--save_strategy", "best"}, {"--eval_strategy", "sometimes"}});
  }

  @Test
  void ia3FlagsBecomeAPeftIa3Config() {
    TrainArguments d = parse("--model", "m", "--dataset", "d.jsonl", "--train_type", "ia3");
    d.validate();
    var cfg = d.loraConfig();
    assertEquals("IA3", cfg.peftType());
    assertEquals(true, cfg.targets("model.layers.0.self_attn.k_proj"));
    assertEquals(false, cfg.targets("model.layers.0.self_attn.q_proj"));
    assertEquals(true, cfg.feedforward("model.layers.0.mlp.down_proj"));
    assertEquals(false, cfg.feedforward("model.layers.0.self_attn.v_proj"));
    TrainArguments bad = parse("--model", "m", "--dataset", "d.jsonl", "--train_type", "ia3", "--ia3_target_modules",
        "k_proj", "--ia3_feedforward_modules", "down_proj");
    IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
        bad::validate);
    org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains("must be among"), e.getMessage());
  }
}
