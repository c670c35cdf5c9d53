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
import jswift.tensor.Kernels;
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
 */
@Command(name = "export", mixinStandardHelpOptions = true,
    description = "Merge a LoRA adapter into its base model (--merge_lora true) and save a Hugging Face folder.")
public final class ExportCommand implements Callable<Integer> {
  private static final ObjectMapper JSON = new ObjectMapper();

  @Spec picocli.CommandLine.Model.CommandSpec spec;

  @Option(names = "--adapters", arity = "1..*", required = true,
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

  @Option(names = "--device", description = "cpu, cuda or cuda:N for the merge GEMMs (default: cuda when usable)")
  String device;

  @Override
  public Integer call() throws IOException {
    PrintWriter out = spec.commandLine().getOut();
    if (!mergeLora)
      throw new IllegalArgumentException("jswift export implements --merge_lora true only so far (quantization, "
          + "to_ollama and the other ms-swift export modes are not available yet)");
    if (!safeSerialization)
      throw new IllegalArgumentException(
          "--safe_serialization false (.bin files) is not supported: jswift writes safetensors");
    if (adapters.size() != 1)
      throw new IllegalArgumentException("--merge_lora merges one adapter; got " + adapters.size() + ": " + adapters);
    String spec0 = adapters.get(0);
    int eq = spec0.indexOf('=');
    Path adapter = Path.of(eq > 0 ? spec0.substring(eq + 1) : spec0);
    Path base = model != null ? model : baseOf(adapter);
    Path output = outputDir != null ? outputDir : LoraMerge.defaultOutputDir(adapter);
    Device dev = device != null ? Device.parse(device) : Kernels.cudaDeviceCount() > 0 ? Device.cuda(0) : Device.CPU;
    LoraMerge.Options options = LoraMerge.Options.on(dev).withMaxShardSize(ShardPlan.parseSize(maxShardSize))
        .withExistOk(existOk);
    LoraMerge.Result r = LoraMerge.merge(base, adapter, output, options);
    out.println("jswift export: merged " + adapter + " into " + base + " on " + dev + " (" + r.mergedWeights()
        + " weights changed): " + r.outputDir() + " (" + r.files().size() + " files)");
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

  private static boolean isModelDir(Path p) {
    return Files.isRegularFile(p.resolve("config.json"));
  }
}
