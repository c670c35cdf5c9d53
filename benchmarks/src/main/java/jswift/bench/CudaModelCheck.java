package jswift.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import jswift.infer.GenerationConfig;
import jswift.infer.Generator;
import jswift.model.Batch;
import jswift.model.CausalLM;
import jswift.model.CausalLM.Quantization;
import jswift.model.SafetensorsFile;
import jswift.nn.Parameter;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Kernels;
import jswift.train.AdamW;
import jswift.train.GraphedMicroSteps;

/**
 * The whole model on CUDA against the CPU, for the GPU script (run there with a carried JRE): the llama-gqa
 * fixture's logits, loss, LoRA gradients, 20 AdamW steps and greedy generation, once with fp32 on the GPU
 * (must match the CPU to fp32 rounding) and once with bf16 compute (must match within bf16 tolerance and train
 * the same way); the same for QLoRA (an NF4 base, bf16 compute and activation recomputation on the GPU, against
 * the same NF4 base and bf16 compute on the CPU); and a GPTQ export quantized on CUDA against one quantized on the
 * CPU; and the QLoRA micro-step replayed from a graph (--cuda_graphs) against the same padded step run eagerly on
 * the GPU; and one QLoRA step of each other tuner (VeRA, AdaLoRA, IA3, BOFT, and LoRA with NEFTune's noise) on CUDA against
 * the CPU. Each part runs on even if one before it threw (its error is recorded). Prints one JSON object; exits 1 if a
 * check fails. {@code -Djswift.check.device=cpu} runs the "GPU" side on the CPU: a dry run of the harness.
 *
 * <pre>java -cp ... jswift.bench.CudaModelCheck FIXTURE_DIR [OUT.json]</pre>
 */
public final class CudaModelCheck {
  private CudaModelCheck() {}

  private static final Map<String, Object> results = new LinkedHashMap<>();
  private static boolean ok = true;

  public static void main(String[] args) throws IOException {
    Path fixture = Path.of(args[0]);
    results.put("build", Kernels.buildInfo());
    results.put("cuda_devices", Kernels.cudaDeviceCount());
    // -Djswift.check.device=cpu: the "GPU" side runs on the CPU too, a dry run of this harness anywhere
    boolean dry = "cpu".equals(System.getProperty("jswift.check.device"));
    if (Kernels.cudaDeviceCount() == 0 && !dry) {
      System.out.println("{\"error\": \"no CUDA device\"}");
      System.exit(2);
    }
    int[][] ids, mask, labels;
    try (SafetensorsFile ref = SafetensorsFile.open(fixture.resolve("reference.safetensors"))) {
      ids = rows(ref.longs("input_ids"));
      mask = rows(ref.longs("attention_mask"));
      labels = rows(ref.longs("labels"));
    }
    Batch batch = Batch.padded(ids, mask, labels);
    Device cuda = dry ? Device.CPU : Device.cuda(0);
    Run cpu = attempt("cpu", () -> run(fixture, Device.CPU, DType.F32, Quantization.NONE, false, batch));
    compare("cuda_f32", cpu, attempt("cuda_f32", () -> run(fixture, cuda, DType.F32, Quantization.NONE, false, batch)), true);
    compare("cuda_bf16", cpu, attempt("cuda_bf16", () -> run(fixture, cuda, DType.BF16, Quantization.NONE, false, batch)), false);
    // bf16 on both sides: NF4 codes quantized from bf16 weights differ from those of fp32 weights at level boundaries
    Run cpuNf4 = attempt("cpu_nf4", () -> run(fixture, Device.CPU, DType.BF16, Quantization.NF4, false, batch));
    compare("cuda_qlora_bf16", cpuNf4, attempt("cuda_qlora_bf16", () -> run(fixture, cuda, DType.BF16, Quantization.NF4, true, batch)), false);
    // LoRA dropout 0.1 (the fixture's adapter has none): the fused low-rank kernels' mask on the GPU must be the
    // CPU's, element for element, or the gradients part
    Path dropoutAdapter = withDropout(fixture.resolve("adapters/lora"), 0.1);
    Run cpuNf4Dropout = attempt("cpu_nf4_dropout",
        () -> run(fixture, Device.CPU, DType.BF16, Quantization.NF4, false, batch, dropoutAdapter));
    compare("cuda_qlora_bf16_dropout", cpuNf4Dropout, attempt("cuda_qlora_bf16_dropout",
        () -> run(fixture, cuda, DType.BF16, Quantization.NF4, true, batch, dropoutAdapter)), false);
    if (cpu != null) results.put("cpu.losses", cpu.losses);
    if (cpuNf4 != null) results.put("cpu_nf4.losses", cpuNf4.losses);
    attempt("gptq_export_cuda", () -> {
      gptqExportCheck(fixture, batch, cuda);
      return null;
    });
    attempt("cuda_graph_qlora", () -> {
      graphCheck(fixture, cuda);
      return null;
    });
    for (String tuner : List.of("vera", "adalora", "ia3", "boft", "fourierft", "bone", "lora_neftune",
        "lora_embedding", "longlora", "adapter", "reft"))
      attempt("cuda_tuner_" + tuner, () -> {
        tunerCheck(fixture, batch, cuda, tuner);
        return null;
      });
    attempt("cuda_token_head", () -> {
      tokenHeadCheck(fixture, batch, cuda);
      return null;
    });
    results.put("ok", ok);
    String json = toJson(results);
    System.out.println(json);
    if (args.length > 1) Files.writeString(Path.of(args[1]), json + "\n");
    System.exit(ok ? 0 : 1);
  }

  /** One part of the check, which may throw. */
  private interface Part<T> {
    T get() throws Exception;
  }

  /** Runs a part; if it throws, records the error under {@code tag.error}, fails the check and returns null. */
  private static <T> T attempt(String tag, Part<T> part) {
    long t0 = System.nanoTime();
    try {
      T value = part.get();
      results.put(tag + ".seconds", Math.round((System.nanoTime() - t0) / 1e7) / 100.0);
      return value;
    } catch (Throwable e) {
      System.err.println(tag + " failed:");
      e.printStackTrace();
      results.put(tag + ".error", e.toString());
      ok = false;
      return null;
    }
  }

  /** A GPU run against the CPU run of the same model: logits, loss, step-1 LoRA gradients, 20 steps, greedy. */
  private static void compare(String tag, Run cpu, Run gpu, boolean f32) {
    if (cpu == null || gpu == null) return;  // attempt() recorded why
    check(tag + ".logits_rel", rel(gpu.logits, cpu.logits), f32 ? 1e-4 : 3e-2);
    check(tag + ".loss_rel", Math.abs(gpu.loss - cpu.loss) / cpu.loss, f32 ? 1e-5 : 1e-2);
    double worst = 0;
    for (String k : cpu.grads.keySet()) worst = Math.max(worst, rel(gpu.grads.get(k), cpu.grads.get(k)));
    check(tag + ".lora_grad_worst_rel", worst, f32 ? 1e-3 : 6e-2);
    results.put(tag + ".losses", gpu.losses);
    double cpuDrop = cpu.losses.get(0) - cpu.losses.get(cpu.losses.size() - 1);
    double gpuDrop = gpu.losses.get(0) - gpu.losses.get(gpu.losses.size() - 1);
    check(tag + ".training_drop_rel_diff", Math.abs(gpuDrop - cpuDrop) / cpuDrop, f32 ? 1e-3 : 0.1);
    int same = 0;
    for (int i = 0; i < cpu.greedy.length && i < gpu.greedy.length; i++) if (cpu.greedy[i] == gpu.greedy[i]) same++;
    results.put(tag + ".greedy_tokens_equal", same + "/" + cpu.greedy.length);
    if (f32) check(tag + ".greedy_mismatches", cpu.greedy.length - same, 0);
  }

  /** What one device produced. */
  private static final class Run {
    float[] logits;
    double loss;
    Map<String, float[]> grads = new LinkedHashMap<>();
    List<Double> losses = new ArrayList<>();
    int[] greedy;
  }

  private static Run run(Path fixture, Device device, DType dtype, Quantization quant, boolean recompute, Batch batch)
      throws IOException {
    return run(fixture, device, dtype, quant, recompute, batch, fixture.resolve("adapters/lora"));
  }

  /** A copy of a PEFT adapter folder (in a temporary folder) with lora_dropout set to {@code p}. */
  private static Path withDropout(Path adapter, double p) throws IOException {
    Path copy = Files.createTempDirectory("jswift-dropout-adapter");
    try (var files = Files.list(adapter)) {
      for (Path f : (Iterable<Path>) files::iterator) Files.copy(f, copy.resolve(f.getFileName().toString()));
    }
    Path config = copy.resolve("adapter_config.json");
    String text = Files.readString(config);
    String changed = text.replaceFirst("\"lora_dropout\":\\s*[0-9.eE+-]+", "\"lora_dropout\": " + p);
    if (changed.equals(text)) throw new IOException("no lora_dropout in " + config);
    Files.writeString(config, changed);
    return copy;
  }

  private static Run run(Path fixture, Device device, DType dtype, Quantization quant, boolean recompute, Batch batch,
      Path adapter) throws IOException {
    Run r = new Run();
    try (CausalLM m = CausalLM.load(fixture, device, dtype, quant)) {
      m.setGradientCheckpointing(recompute);
      r.logits = m.logits(batch);
      r.loss = m.loss(batch);
      r.greedy = Generator.generate(m, new int[] {1, 53, 482, 280, 438}, GenerationConfig.greedy(8, List.of()));
      m.loadAdapter("lora", adapter);
      m.setActiveAdapter("lora");
      Map<String, Parameter> params = m.activeAdapterParameters();
      params.values().forEach(p -> p.setTrainable(true));
      try (AdamW opt = new AdamW(params.values(), 0.9f, 0.999f, 1e-8f, 0f, 1f)) {
        for (int step = 0; step < 20; step++) {
          r.losses.add(m.forwardBackward(batch, step));
          if (step == 0) for (Parameter p : params.values()) r.grads.put(p.name(), p.grad().toFloatArray());
          opt.step(1e-3f);
          opt.zeroGrad();
        }
      }
    }
    return r;
  }

  /**
   * GPTQ export with the layer, Hessians and quantizer on CUDA against the same export on the CPU (4-bit, group
   * 16, act-order, on calibration blocks of fixture ids): the GEMMs round differently, so a few codes may differ,
   * but the summed GPTQ error and the quantized model's logits must agree closely.
   */
  private static void gptqExportCheck(Path fixture, Batch batch, Device gpu) throws IOException {
    Path tmp = Files.createTempDirectory("jswift-gptq-cuda");
    List<int[]> blocks = new ArrayList<>();
    for (int b = 0; b < 6; b++) {
      int[] ids = new int[48];
      for (int t = 0; t < ids.length; t++) ids[t] = (int) ((b * 7919L + t * 104729L) % 512);
      blocks.add(ids);
    }
    jswift.quant.GptqConfig c = jswift.quant.GptqConfig.defaults(4).withGroupSize(16).withDescAct(true);
    java.io.PrintWriter quiet = new java.io.PrintWriter(java.io.Writer.nullWriter());
    double[] loss = new double[2];
    Device[] devices = {Device.CPU, gpu};
    for (int i = 0; i < 2; i++) {
      jswift.quant.GptqExporter.Result r = jswift.quant.GptqExporter.export(fixture, tmp.resolve("d" + i), blocks, c,
          1L << 40, quiet, devices[i]);
      for (jswift.quant.GptqExporter.LinearReport l : r.linears()) loss[i] += l.loss();
    }
    check("gptq_export_cuda.loss_rel", Math.abs(loss[1] - loss[0]) / loss[0], 1e-2);
    try (CausalLM a = CausalLM.load(tmp.resolve("d0"), Device.CPU); CausalLM b = CausalLM.load(tmp.resolve("d1"), Device.CPU)) {
      check("gptq_export_cuda.logits_rel", rel(b.logits(batch), a.logits(batch)), 1e-2);
    }
  }

  /**
   * --cuda_graphs on the GPU: 8 QLoRA micro-steps (NF4 base, bf16, recomputation, LoRA dropout 0.1, AdamW after
   * each, itself replayed from a graph) over packed batches of different lengths, replayed from graphs (one shape,
   * then a larger one), against the same padded steps and updates run eagerly by a second copy of the model. The replays run the eager calls' kernels, but the
   * gradient norm sums with atomics in a varying order, so the two drift by rounding only.
   */
  private static void graphCheck(Path fixture, Device device) throws IOException {
    DType dtype = device.isCpu() ? DType.F32 : DType.BF16;
    int tokens = 48, seqLen = 24;
    int[][] lengths = {{10, 14}, {20, 3, 9}, {24, 24}, {12, 12, 12}, {5, 5, 5, 5, 5, 6}, {7, 11}, {1, 2, 3}, {24, 20}};
    try (CausalLM g = CausalLM.load(fixture, device, dtype, Quantization.NF4);
        CausalLM e = CausalLM.load(fixture, device, dtype, Quantization.NF4)) {
      List<Parameter> pg = lora(g), pe = lora(e);
      java.io.PrintWriter quiet = new java.io.PrintWriter(java.io.Writer.nullWriter());
      double worstLoss = 0, worstGrad = 0;
      try (GraphedMicroSteps steps = new GraphedMicroSteps(g, tokens, seqLen, quiet);
          GraphedMicroSteps eager = GraphedMicroSteps.eager(e, tokens, seqLen);
          AdamW og = new AdamW(pg, 0.9f, 0.999f, 1e-8f, 0f, 1f);
          AdamW oe = new AdamW(pe, 0.9f, 0.999f, 1e-8f, 0f, 1f)) {
        for (int i = 0; i < lengths.length; i++) {
          Batch b = randomPacked(g.config().vocabSize(), i, lengths[i]);
          double lg = steps.forwardBackward(b, 5, i + 1, b.targetWeight());
          double le = eager.forwardBackward(b, 5, i + 1, b.targetWeight());
          worstLoss = Math.max(worstLoss, Math.abs(lg - le) / le);
          for (int k = 0; k < pg.size(); k++)
            worstGrad = Math.max(worstGrad, rel(pg.get(k).grad().toFloatArray(), pe.get(k).grad().toFloatArray()));
          og.enqueueStepAndZeroGrad(1e-2f);  // the update from a graph too, as the trainer's --cuda_graphs
          oe.enqueueStep(1e-2f);
          oe.zeroGrad();
        }
        results.put("cuda_graph_qlora.replays", steps.replays());
        results.put("cuda_graph_qlora.captures", steps.captures());
        check("cuda_graph_qlora.not_replayed", steps.replays() >= lengths.length - 2 * steps.captures() ? 0 : 1, 0);
      }
      check("cuda_graph_qlora.loss_rel", worstLoss, device.isCpu() ? 0 : 1e-3);
      check("cuda_graph_qlora.grad_worst_rel", worstGrad, device.isCpu() ? 0 : 2e-2);
    }
  }

  private static List<Parameter> lora(CausalLM m) {
    return jswift.tuner.LoraTuner.apply(m, "default", jswift.tuner.LoraConfig.defaults()
        .withTargetModules(List.of("all-linear")).withLoraDropout(0.1), 3);
  }

  private static Batch randomPacked(int vocab, long seed, int... lengths) {
    java.util.Random r = new java.util.Random(seed);
    List<int[]> ids = new ArrayList<>();
    for (int len : lengths) {
      int[] s = new int[len];
      for (int t = 0; t < len; t++) s[t] = r.nextInt(vocab);
      ids.add(s);
    }
    return Batch.packed(ids, ids);
  }

  /**
   * One QLoRA step (NF4 base, bf16 compute; recomputation on the GPU) of a freshly added adapter, moved off its
   * neutral start by the same host-drawn values on both devices: the loss and every trained gradient, CUDA against
   * the CPU, within the bf16 tolerances of {@link #compare}.
   */
  private static void tunerCheck(Path fixture, Batch batch, Device gpu, String tuner) throws IOException {
    jswift.tuner.LoraConfig cfg = switch (tuner) {
      case "vera" -> jswift.tuner.LoraConfig.veraDefaults().withR(16).withLoraDropout(0.1);
      case "adalora" -> jswift.tuner.LoraConfig.adaLoraDefaults().withLoraAlpha(32).withLoraDropout(0.1);
      case "ia3" -> jswift.tuner.LoraConfig.ia3Defaults().withTargetModules(jswift.tuner.Ia3Tuner.DEFAULT_TARGETS)
          .with("feedforward_modules", new com.fasterxml.jackson.databind.ObjectMapper().valueToTree(
              jswift.tuner.Ia3Tuner.DEFAULT_FEEDFORWARD));
      case "boft" -> jswift.tuner.LoraConfig.boftDefaults().withLoraDropout(0.25).with("boft_n_butterfly_factor",
          com.fasterxml.jackson.databind.node.IntNode.valueOf(2));
      case "fourierft" -> jswift.tuner.LoraConfig.fourierFtDefaults().with("n_frequency",  // N(0, 1) spectrum: off zero
          com.fasterxml.jackson.databind.node.IntNode.valueOf(200)).with("scaling",
          com.fasterxml.jackson.databind.node.DoubleNode.valueOf(50.0));
      case "bone" -> jswift.tuner.LoraConfig.missDefaults().withR(6).withLoraDropout(0.1).with("init_weights",
          com.fasterxml.jackson.databind.node.BooleanNode.FALSE);  // random blocks: off the neutral start
      default -> jswift.tuner.LoraConfig.defaults().withLoraAlpha(16);
    };
    if (!tuner.equals("ia3")) cfg = cfg.withTargetModules(tuner.equals("lora_embedding")
        ? List.of("all-linear", jswift.tuner.LoraTuner.ALL_EMBEDDING) : List.of("all-linear"));
    double[] loss = new double[2];
    List<Map<String, float[]>> grads = new ArrayList<>();
    Device[] devices = {Device.CPU, gpu};
    for (int i = 0; i < 2; i++) {
      try (CausalLM m = CausalLM.load(fixture, devices[i], DType.BF16, Quantization.NF4)) {
        m.setGradientCheckpointing(i == 1);
        if (tuner.equals("lora_neftune")) m.setNeftuneNoiseAlpha(5);
        if (tuner.equals("longlora")) m.setShiftedSparseAttention(4);  // S2-Attn: groups of 4 in the 12-token rows
        List<Parameter> params = tuner.equals("adapter")  // ms-swift's bottleneck adapters, seeded on the host
            ? jswift.tuner.SwiftAdapterFolder.apply(m, "default", new jswift.tuner.SwiftAdapterFolder.Config(16,
                "gelu"), 7)
            : tuner.equals("reft")  // LoReFT on every layer's output, with pyreft's output dropout and a GELU source
            ? jswift.tuner.ReftFolder.apply(m, "default", jswift.tuner.ReftFolder.Config.parse(null, 4,
                "LoreftIntervention", "{\"act_fn\": \"gelu\", \"dropout\": 0.1}"), 7)
            : jswift.tuner.LoraTuner.apply(m, "default", cfg, 7);
        params.forEach(p -> p.setTrainable(true));
        for (Parameter p : params) {  // off the neutral start: lambda_b, E, the IA3 vectors, lora_B
          String n = p.name();
          java.util.Random r = new java.util.Random(n.hashCode());
          float[] v = p.value().toFloatArray();
          boolean move = n.endsWith("vera_lambda_b") || n.endsWith("lora_E") || n.endsWith("ia3_l")
              || n.endsWith("lora_B.weight") || n.endsWith("boft_R") || n.endsWith("boft_s")
              || n.endsWith(".lora_embedding_A")  // PEFT starts the embedding's A at zero
              || n.endsWith(jswift.nn.ReftIntervention.ROTATION);  // ReFT's rotation parameter starts at zero
          if (!move) continue;
          for (int k = 0; k < v.length; k++) v[k] += (float) (0.3 * r.nextGaussian());
          p.value().copyFrom(v);
          if (p.master() != null && p.master() != p.value()) p.master().copyFrom(v);
        }
        Kernels.setDropoutStep(devices[i], 5);
        loss[i] = m.forwardBackward(batch, 11);
        Map<String, float[]> g = new LinkedHashMap<>();
        for (Parameter p : params) g.put(p.name(), p.grad().toFloatArray());
        grads.add(g);
      }
    }
    String tag = "cuda_tuner_" + tuner;
    check(tag + ".loss_rel", Math.abs(loss[1] - loss[0]) / loss[0], 1e-2);
    double worst = 0;
    int zero = 0;  // a tensor whose CPU gradient is all zero would compare equal to anything
    for (String k : grads.get(0).keySet()) {
      worst = Math.max(worst, rel(grads.get(1).get(k), grads.get(0).get(k)));
      boolean any = false;
      for (float v : grads.get(0).get(k)) any |= v != 0;
      if (!any) zero++;
    }
    check(tag + ".grad_worst_rel", worst, 6e-2);
    check(tag + ".tensors_without_gradient", zero, 0);
  }

  /**
   * PPO's value-model path: a one-label head on the hidden states of many token rows (CausalLM.hiddenStates and
   * forwardBackwardHidden, whose gradient is scattered into those rows on the device), over a QLoRA model with a
   * LoRA adapter: the values and every gradient (adapter and head), CUDA against the CPU.
   */
  private static void tokenHeadCheck(Path fixture, Batch batch, Device gpu) throws IOException {
    int[] rows = new int[batch.tokens() / 2];
    for (int i = 0; i < rows.length; i++) rows[i] = 2 * i + 1;
    double[] c = new double[rows.length];
    for (int i = 0; i < c.length; i++) c[i] = (i % 3 - 1) * 0.5 + 0.1;
    List<double[]> values = new ArrayList<>();
    List<Map<String, float[]>> grads = new ArrayList<>();
    Device[] devices = {Device.CPU, gpu};
    for (Device d : devices) {
      try (CausalLM m = CausalLM.load(fixture, d, DType.BF16, Quantization.NF4);
          jswift.model.ScoreHead head = jswift.model.ScoreHead.create(m.config().hiddenSize(), 1, 5, d, "score.weight")) {
        List<Parameter> params = new ArrayList<>(jswift.tuner.LoraTuner.apply(m, "default",
            jswift.tuner.LoraConfig.defaults().withTargetModules(List.of("all-linear")).withLoraDropout(0), 7));
        for (Parameter p : params) {
          if (!p.name().endsWith("lora_B.weight")) continue;
          float[] v = p.value().toFloatArray();
          java.util.Random r = new java.util.Random(p.name().hashCode());
          for (int k = 0; k < v.length; k++) v[k] += (float) (0.3 * r.nextGaussian());
          p.value().copyFrom(v);
          if (p.master() != null && p.master() != p.value()) p.master().copyFrom(v);
        }
        head.weight().setTrainable(true);
        params.add(head.weight());
        values.add(head.scores(m.hiddenStates(batch, rows)));
        m.forwardBackwardHidden(batch, 3, rows, h -> head.backward(h, c));
        Map<String, float[]> g = new LinkedHashMap<>();
        for (Parameter p : params) g.put(p.name(), p.grad().toFloatArray());
        grads.add(g);
      }
    }
    float[] v0 = new float[rows.length], v1 = new float[rows.length];
    for (int i = 0; i < rows.length; i++) {
      v0[i] = (float) values.get(0)[i];
      v1[i] = (float) values.get(1)[i];
    }
    check("cuda_token_head.values_rel", rel(v1, v0), 3e-2);
    double worst = 0;
    for (String k : grads.get(0).keySet()) worst = Math.max(worst, rel(grads.get(1).get(k), grads.get(0).get(k)));
    check("cuda_token_head.grad_worst_rel", worst, 6e-2);
  }

  private static void check(String name, double value, double limit) {
    boolean pass = value <= limit;
    ok &= pass;
    results.put(name, value);
    results.put(name + ".limit", limit);
    results.put(name + ".pass", pass);
  }

  private static double rel(float[] a, float[] b) {
    double num = 0, den = 0;
    for (int i = 0; i < a.length; i++) {
      double d = (double) a[i] - b[i];
      num += d * d;
      den += (double) b[i] * b[i];
    }
    return Math.sqrt(num) / (Math.sqrt(den) + 1e-30);
  }

  private static int[][] rows(long[] flat) {
    int[][] r = new int[2][12];
    for (int i = 0; i < 24; i++) r[i / 12][i % 12] = Math.toIntExact(flat[i]);
    return r;
  }

  private static String toJson(Map<String, Object> m) {
    StringBuilder sb = new StringBuilder("{");
    for (Map.Entry<String, Object> e : m.entrySet()) {
      if (sb.length() > 1) sb.append(", ");
      sb.append('"').append(e.getKey()).append("\": ");
      Object v = e.getValue();
      if (v instanceof Number || v instanceof Boolean || v instanceof List) sb.append(v);
      else sb.append('"').append(String.valueOf(v).replace("\\", "\\\\").replace("\"", "\\\"")).append('"');
    }
    return sb.append('}').toString();
  }
}
