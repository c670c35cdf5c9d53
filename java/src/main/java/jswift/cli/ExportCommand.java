package jswift.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import jswift.model.ShardPlan;
import jswift.tensor.Device;
import jswift.tuner.LoraConfig;
import jswift.tuner.LoraMerge;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code jswift export --adapters CKPT --merge_lora true}: ms-swift's LoRA merge, writing a plain Hugging Face
 * model folder ({@code <CKPT>-merged} unless {@code --output_dir}) that transformers, vLLM or {@code jswift infer}
 * load without PEFT. The base model is {@code --model}, else the {@code model} of the checkpoint's args.json (as
 * ms-swift records it), else the adapter's base_model_name_or_path. Like ms-swift, an existing non-empty output
 * folder is refused unless {@code --exist_ok true}.
 *
 * <p>{@code jswift export --model DIR --quant_method gptq --quant_bits 4|8 --dataset calib.jsonl} quantizes a model
 * with GPTQ ({@link jswift.quant.GptqExporter}) into an AutoGPTQ "gptq" checkpoint ({@code <model>-gptq-int<bits>}
 * unless {@code --output_dir}), calibrating on {@code --quant_n_samples} rows cut into {@code --max_length} blocks.
 * {@code jswift export --model DIR --quant_method bnb --quant_bits 4} writes a bitsandbytes nf4 checkpoint
 * ({@link jswift.quant.BnbExporter}; {@code <model>-bnb-int4} unless {@code --output_dir}).
 * {@code jswift export --model DIR --quant_method awq --quant_bits 4 --dataset calib.jsonl} quantizes with AWQ
 * ({@link jswift.quant.AwqExporter}) into an AutoAWQ GEMM checkpoint ({@code <model>-awq-int4} unless
 * {@code --output_dir}).
 */
@Command(name = "export", mixinStandardHelpOptions = true,
    description = "Merge a LoRA adapter into its base model (--merge_lora true), or quantize a model "
        + "(--quant_method gptq|awq|bnb|fp8), and save a Hugging Face folder; or write an Ollama Modelfile (--to_ollama).")
public class ExportCommand implements Callable<Integer> {
  private static final ObjectMapper JSON = new ObjectMapper();

  @Spec picocli.CommandLine.Model.CommandSpec spec;

  @Option(names = "--adapters", arity = "1..*",
      description = "the PEFT LoRA adapter folder (a training checkpoint) to merge")
  List<String> adapters = new ArrayList<>();

  @Option(names = "--model", description = "base model folder; default: the checkpoint's args.json 'model', else the "
      + "adapter's base_model_name_or_path")
  Path model;

  @Option(names = "--merge_lora", arity = "0..1", fallbackValue = "true",
      description = "merge the adapter into the base weights (the one export mode implemented so far)")
  boolean mergeLora;

  @Option(names = "--output_dir", description = "default: <adapter folder>-merged")
  Path outputDir;

  @Option(names = "--exist_ok", arity = "0..1", fallbackValue = "true",
      description = "write into an output folder that exists and is not empty (default false)")
  boolean existOk;

  @Option(names = "--max_shard_size", description = "largest weight file, e.g. 5GB (decimal units; default 5GB)")
  String maxShardSize = ShardPlan.DEFAULT_MAX_SHARD_SIZE;

  @Option(names = "--safe_serialization", arity = "1", description = "true (safetensors; the only format written)")
  boolean safeSerialization = true;

  @Option(names = "--device", description = "cpu, cuda or cuda:N: for the merge GEMMs and GPTQ quantization "
      + "(default: cuda when usable)")
  String device;

  // ---- quantization (--quant_method) ----

  @Option(names = "--quant_method", description = "gptq: quantize --model with GPTQ on --dataset (AutoGPTQ \"gptq\" "
      + "v1 checkpoint); awq: AWQ on --dataset (AutoAWQ GEMM checkpoint, --quant_bits 4); bnb: bitsandbytes nf4 "
      + "(--quant_bits 4, no calibration); fp8: block-wise float8_e4m3fn (transformers' FineGrainedFP8, no "
      + "calibration)")
  String quantMethod;

  @Option(names = "--quant_bits", description = "bits per weight for --quant_method (gptq: 4 or 8; awq, bnb: 4)")
  Integer quantBits;

  @Option(names = "--bnb_4bit_quant_type", description = "bnb: nf4 (the only type written; default nf4)")
  String bnb4bitQuantType = "nf4";

  @Option(names = "--bnb_4bit_use_double_quant", arity = "1", description = "bnb: 8-bit quantize the absmax values "
      + "too (default true, as ms-swift)")
  boolean bnb4bitUseDoubleQuant = true;

  @Option(names = "--group_size", description = "inputs per quantization group, -1 = one per row (default 128)")
  int groupSize = 128;

  @Option(names = "--dataset", arity = "1..*", description = "calibration data for gptq / awq (files or bundled names)")
  List<String> dataset = new ArrayList<>();

  @Option(names = "--quant_n_samples", description = "calibration rows taken from --dataset (default 256)")
  int quantNSamples = 256;

  @Option(names = "--max_length", description = "calibration block length in tokens (default 2048)")
  int maxLength = 2048;

  @Option(names = "--quant_batch_size", description = "accepted for ms-swift compatibility; blocks run one at a time")
  int quantBatchSize = 1;

  @Option(names = "--seed", description = "calibration row shuffle (default 42)")
  long seed = 42;

  @Option(names = "--to_ollama", arity = "0..1", fallbackValue = "true",
      description = "write an Ollama Modelfile for --model into --output_dir (default <model>-ollama)")
  boolean toOllama;

  @Option(names = "--template", description = "--to_ollama: the ms-swift template (default: the model family's)")
  String template;

  @Option(names = "--temperature", description = "--to_ollama: PARAMETER temperature") Float temperature;

  @Option(names = "--top_k", description = "--to_ollama: PARAMETER top_k") Integer topK;

  @Option(names = "--top_p", description = "--to_ollama: PARAMETER top_p") Float topP;

  @Option(names = "--repetition_penalty", description = "--to_ollama: PARAMETER repeat_penalty") Float repetitionPenalty;

  @Override
  public Integer call() throws IOException {
    PrintWriter out = spec.commandLine().getOut();
    if (toOllama) return toOllama(out);
    if (quantMethod != null) return quantize(out);
    if (adapters.isEmpty())
      throw new IllegalArgumentException("jswift export needs --adapters CKPT --merge_lora true, or --model DIR "
          + "--quant_method gptq --quant_bits 4");
    if (!mergeLora)
      throw new IllegalArgumentException("jswift export implements --merge_lora true only so far (quantization, "
          + "to_ollama and quantization are separate exports)");
    if (!safeSerialization)
      throw new IllegalArgumentException(
          "--safe_serialization false (.bin files) is not supported: jswift writes safetensors");
    if (adapters.size() != 1)
      throw new IllegalArgumentException("--merge_lora merges one adapter; got " + adapters.size() + ": " + adapters);
    String spec0 = adapters.get(0);
    int eq = spec0.indexOf('=');
    Path adapter = Path.of(eq > 0 ? spec0.substring(eq + 1) : spec0);
    Path base = withNewSpecialTokens(model != null ? model : baseOf(adapter), adapter);
    Path output = outputDir != null ? outputDir : LoraMerge.defaultOutputDir(adapter);
    Device dev = Device.select(device);
    LoraMerge.Options options = LoraMerge.Options.on(dev).withMaxShardSize(ShardPlan.parseSize(maxShardSize))
        .withExistOk(existOk);
    LoraMerge.Result r = LoraMerge.merge(base, adapter, output, options);
    out.println("jswift export: merged " + adapter + " into " + base + " on " + dev + " (" + r.mergedWeights()
        + " weights changed): " + r.outputDir() + " (" + r.files().size() + " files)");
    out.flush();
    return 0;
  }

  /** ms-swift's --to_ollama: a Modelfile for a model folder (merge an adapter into it first, as for quantization). */
  private int toOllama(PrintWriter out) throws IOException {
    if (quantMethod != null || mergeLora || !adapters.isEmpty())
      throw new IllegalArgumentException("--to_ollama writes a Modelfile for a model folder: merge the adapter first "
          + "(jswift export --adapters CKPT --merge_lora true), then --to_ollama --model MERGED");
    if (model == null || !java.nio.file.Files.isRegularFile(model.resolve("config.json")))
      throw new IllegalArgumentException("--to_ollama needs --model DIR, a Hugging Face model folder (config.json)");
    String arch = JSON.readTree(model.resolve("config.json").toFile()).path("architectures").path(0).asText("");
    if (arch.endsWith("ForSequenceClassification"))
      throw new IllegalArgumentException("--to_ollama: " + model + " is a sequence classifier (" + arch + "), which "
          + "Ollama cannot serve; jswift deploy serves it (its chat completions answer with the prediction)");
    Path dir = model.toAbsolutePath().normalize();
    Path output = outputDir != null ? outputDir : dir.resolveSibling(dir.getFileName() + "-ollama");
    String name = template != null ? template
        : jswift.model.ModelConfig.load(model).architecture().template();
    if (name.equals(jswift.template.Templates.JINJA))
      throw new IllegalArgumentException("--to_ollama needs an ms-swift template (qwen2_5, llama3, ...), not jinja");
    String text;
    try (jswift.tokenizer.Tokenizer tok = jswift.tokenizer.Tokenizer.load(model)) {
      text = jswift.template.OllamaModelfile.render(dir.toString(), jswift.template.Templates.meta(name), tok,
          new jswift.template.OllamaModelfile.Sampling(temperature, topK, topP, repetitionPenalty));
    }
    java.nio.file.Files.createDirectories(output);
    Path file = output.resolve("Modelfile");
    jswift.model.AtomicFile.writeString(file, text);
    out.println("jswift export: wrote " + file + " (template " + name + "; FROM " + dir + "). Then:");
    out.println("  ollama create my-model -f " + file);
    out.println("  ollama run my-model");
    out.flush();
    return 0;
  }

  private int quantize(PrintWriter out) throws IOException {
    if (quantMethod.equals("bnb")) return quantizeBnb(out);
    if (quantMethod.equals("awq")) return quantizeAwq(out);
    if (quantMethod.equals("fp8")) return quantizeFp8(out);
    if (!quantMethod.equals("gptq"))
      throw new IllegalArgumentException("--quant_method " + quantMethod + " is not supported (gptq, awq, bnb and fp8 "
          + "are)");
    if (mergeLora || !adapters.isEmpty())
      throw new IllegalArgumentException("merge the adapter first (jswift export --adapters ... --merge_lora true), "
          + "then quantize the merged folder with --model: ms-swift runs them as separate exports too");
    if (model == null) throw new IllegalArgumentException("--quant_method gptq needs --model DIR (the model to quantize)");
    if (quantBits == null) throw new IllegalArgumentException("--quant_method gptq needs --quant_bits (4 or 8)");
    if (quantBits != 4 && quantBits != 8)
      throw new IllegalArgumentException("--quant_bits " + quantBits + " is not supported for gptq (4 or 8)");
    jswift.quant.GptqConfig config = jswift.quant.GptqConfig.defaults(quantBits).withGroupSize(groupSize);
    Path name = model.toAbsolutePath().normalize().getFileName();
    Path output = outputDir != null ? outputDir
        : model.toAbsolutePath().normalize().resolveSibling(name + "-gptq-int" + quantBits);
    List<int[]> blocks = jswift.quant.Calibration.blocks(model, dataset, quantNSamples, maxLength, seed);
    long tokens = blocks.stream().mapToLong(b -> b.length).sum();
    out.printf(java.util.Locale.ROOT, "jswift export: GPTQ %d-bit, group_size %d, on %d calibration blocks (%d tokens)%n",
        quantBits, groupSize, blocks.size(), tokens);
    out.flush();
    // The layer, its Hessians and the quantizer on the GPU when there is one (the GPU check compares the CUDA
    // export with the CPU's).
    Device dev = Device.select(device);
    jswift.quant.GptqExporter.Result r = jswift.quant.GptqExporter.export(model, output, blocks, config,
        ShardPlan.parseSize(maxShardSize), out, dev);
    out.println("module                                             error        seconds");
    for (jswift.quant.GptqExporter.LinearReport l : r.linears())
      out.printf(java.util.Locale.ROOT, "%-50s %12.5g %8.2f%n", l.module(), l.loss(), l.seconds());
    out.printf(java.util.Locale.ROOT, "jswift export: quantized %s in %.1f s: %s (%.1f MB of weights)%n", model,
        r.seconds(), r.outputDir(), r.weightBytes() / 1e6);
    out.flush();
    return 0;
  }

  /** AWQ (ms-swift's --quant_method awq --quant_bits 4): AutoAWQ's scale and clip search, GEMM layout. */
  private int quantizeAwq(PrintWriter out) throws IOException {
    if (mergeLora || !adapters.isEmpty())
      throw new IllegalArgumentException("merge the adapter first (jswift export --adapters ... --merge_lora true), "
          + "then quantize the merged folder with --model: ms-swift runs them as separate exports too");
    if (model == null) throw new IllegalArgumentException("--quant_method awq needs --model DIR (the model to quantize)");
    if (quantBits == null) throw new IllegalArgumentException("--quant_method awq needs --quant_bits 4");
    jswift.quant.AwqConfig config = new jswift.quant.AwqConfig(quantBits, groupSize);
    if (dataset.isEmpty())
      throw new IllegalArgumentException("AWQ needs calibration data: pass --dataset (a jsonl/json/csv file or a "
          + "bundled dataset name)");
    Path name = model.toAbsolutePath().normalize().getFileName();
    Path output = outputDir != null ? outputDir
        : model.toAbsolutePath().normalize().resolveSibling(name + "-awq-int" + quantBits);
    List<int[]> blocks = jswift.quant.Calibration.blocks(model, dataset, quantNSamples, maxLength, seed);
    long tokens = blocks.stream().mapToLong(b -> b.length).sum();
    out.printf(java.util.Locale.ROOT, "jswift export: AWQ %d-bit, group_size %d, zero_point, GEMM, on %d calibration "
        + "blocks (%d tokens)%n", quantBits, groupSize, blocks.size(), tokens);
    out.flush();
    jswift.quant.AwqExporter.Result r = jswift.quant.AwqExporter.export(model, output, blocks, config,
        ShardPlan.parseSize(maxShardSize), out);
    out.println("module                                             error    rtn error  seconds");
    for (jswift.quant.AwqExporter.LinearReport l : r.linears())
      out.printf(java.util.Locale.ROOT, "%-50s %9.3g %9.3g %8.2f%n", l.module(), l.error(), l.rtnError(), l.seconds());
    out.printf(java.util.Locale.ROOT, "jswift export: quantized %s in %.1f s: %s (%.1f MB of weights)%n", model,
        r.seconds(), r.outputDir(), r.weightBytes() / 1e6);
    out.flush();
    return 0;
  }

  /** bitsandbytes nf4 (ms-swift's --quant_method bnb --quant_bits 4): no calibration, one linear at a time. */
  private int quantizeBnb(PrintWriter out) throws IOException {
    if (mergeLora || !adapters.isEmpty())
      throw new IllegalArgumentException("merge the adapter first (jswift export --adapters ... --merge_lora true), "
          + "then quantize the merged folder with --model: ms-swift runs them as separate exports too");
    if (model == null) throw new IllegalArgumentException("--quant_method bnb needs --model DIR (the model to quantize)");
    if (quantBits == null) throw new IllegalArgumentException("--quant_method bnb needs --quant_bits 4");
    if (quantBits != 4)
      throw new IllegalArgumentException("--quant_bits " + quantBits + " is not supported for bnb: only 4 (nf4) is; "
          + "8-bit bitsandbytes (LLM.int8) checkpoints are not written");
    if (!bnb4bitQuantType.equals("nf4"))
      throw new IllegalArgumentException("--bnb_4bit_quant_type " + bnb4bitQuantType + " is not supported: only nf4 "
          + "is (fp4 checkpoints are not written)");
    Path name = model.toAbsolutePath().normalize().getFileName();
    Path output = outputDir != null ? outputDir
        : model.toAbsolutePath().normalize().resolveSibling(name + "-bnb-int4");
    var r = jswift.quant.BnbExporter.export(model, output, bnb4bitUseDoubleQuant,
        ShardPlan.parseSize(maxShardSize));
    out.printf(java.util.Locale.ROOT, "jswift export: bitsandbytes nf4%s, %d linears quantized in %.1f s: %s "
        + "(%.1f MB of weights)%n", bnb4bitUseDoubleQuant ? " with double quantization" : "", r.quantizedLinears(),
        r.seconds(), r.outputDir(), r.weightBytes() / 1e6);
    out.flush();
    return 0;
  }

  /** Block-wise FP8 (ms-swift's --quant_method fp8, transformers' FineGrainedFP8): no calibration, no --quant_bits. */
  private int quantizeFp8(PrintWriter out) throws IOException {
    if (mergeLora || !adapters.isEmpty())
      throw new IllegalArgumentException("merge the adapter first (jswift export --adapters ... --merge_lora true), "
          + "then quantize the merged folder with --model: ms-swift runs them as separate exports too");
    if (model == null) throw new IllegalArgumentException("--quant_method fp8 needs --model DIR (the model to quantize)");
    if (quantBits != null && quantBits != 8)
      throw new IllegalArgumentException("--quant_bits " + quantBits + " does not apply to fp8 (its weights are 8-bit "
          + "floats); drop the flag");
    Path name = model.toAbsolutePath().normalize().getFileName();
    Path output = outputDir != null ? outputDir : model.toAbsolutePath().normalize().resolveSibling(name + "-fp8");
    var r = jswift.quant.Fp8Exporter.export(model, output, ShardPlan.parseSize(maxShardSize));
    out.printf(java.util.Locale.ROOT, "jswift export: FP8 (e4m3, blocks of %d x %d), %d linears quantized in %.1f s: "
        + "%s (%.1f MB of weights)%n", jswift.quant.Fp8Exporter.BLOCK, jswift.quant.Fp8Exporter.BLOCK,
        r.quantizedLinears(), r.seconds(), r.outputDir(), r.weightBytes() / 1e6);
    out.flush();
    return 0;
  }

  /** ms-swift records the base in the checkpoint's args.json; PEFT records it in adapter_config.json. */
  static Path baseOf(Path adapter) throws IOException {
    Path args = adapter.resolve("args.json");
    if (Files.exists(args)) {
      JsonNode m = JSON.readTree(args.toFile()).get("model");
      if (m != null && m.isTextual() && isModelDir(Path.of(m.asText()))) return Path.of(m.asText());
    }
    String recorded = LoraConfig.read(adapter).baseModelNameOrPath();
    if (recorded != null) {
      // PEFT resolves the name against the working directory; a checkpoint moved with its base keeps working when
      // the name is relative to the adapter folder instead.
      for (Path p : List.of(Path.of(recorded), adapter.resolve(recorded)))
        if (isModelDir(p)) return p.normalize();
    }
    throw new IllegalArgumentException("cannot find the base model of " + adapter + " (base_model_name_or_path "
        + (recorded == null ? "is not set" : "'" + recorded + "' is not a local model folder") + "): pass --model DIR");
  }

  /**
   * The base an adapter applies to: {@code base}, or when the adapter's training run added tokens
   * (--new_special_tokens in its args.json, as ms-swift's load_args reads them) {@code base} extended the same way,
   * in a temporary folder deleted when the JVM exits.
   */
  static Path withNewSpecialTokens(Path base, Path adapter) throws IOException {
    Path args = adapter.resolve("args.json");
    if (!Files.exists(args)) return base;
    JsonNode tokens = JSON.readTree(args.toFile()).get("new_special_tokens");
    if (tokens == null || !tokens.isArray() || tokens.isEmpty()) return base;
    List<String> values = new java.util.ArrayList<>();
    tokens.forEach(t -> values.add(t.asText()));
    Path dir = Files.createTempDirectory("jswift-new-special-tokens-");
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      try (var walk = Files.walk(dir)) {
        walk.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
      } catch (IOException ignored) {
        // a temporary folder left behind is harmless
      }
    }));
    jswift.model.NewSpecialTokens.extend(base, jswift.model.NewSpecialTokens.parse(values), dir);
    return dir;
  }

  private static boolean isModelDir(Path p) {
    return Files.isRegularFile(p.resolve("config.json"));
  }
}
