package jswift.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import jswift.eval.Perplexity;
import jswift.model.AtomicFile;
import jswift.model.CausalLM;
import jswift.quant.Calibration;
import jswift.tensor.Device;
import jswift.tokenizer.Tokenizer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code jswift eval}: either the model's perplexity on a dataset ({@code --eval_dataset DATA}), the measure to
 * compare a model with its quantized copies (bnb / GPTQ / AWQ folders load like any other), or ms-swift's custom
 * evaluation sets ({@code --eval_dataset general_mcq general_qa} with {@code --eval_dataset_args}: accuracy,
 * ROUGE / BLEU; see {@link BenchmarkEval}). For perplexity the rows go through the model's chat template, are
 * concatenated and cut into {@code --max_length} blocks exactly as export's calibration data is, so the same flags
 * give the same blocks for every model of one family. LoRA adapters ({@code --adapters}) apply to both.
 */
@Command(name = "eval", mixinStandardHelpOptions = true,
    description = "Perplexity of a model (dense or quantized) on a dataset, or accuracy / ROUGE / BLEU on ms-swift's "
        + "custom evaluation sets (general_mcq, general_qa), GSM8K, MMLU, C-Eval and ARC (local files).")
public final class EvalCommand implements Callable<Integer> {
  @Spec picocli.CommandLine.Model.CommandSpec spec;

  @Mixin GenerationOptions gen = new GenerationOptions();

  @Option(names = "--eval_dataset", arity = "1..*", required = true,
      description = "files (jsonl, json, csv, txt), path#N, or a bundled name (jswift/quickstart-sft): perplexity; "
          + "or general_mcq / general_qa / gsm8k / mmlu / ceval / arc / hellaswag / truthful_qa / winogrande / race / bbh (with --eval_dataset_args)")
  List<String> evalDataset = new ArrayList<>();

  @Option(names = "--eval_limit", description = "use at most this many rows (default: all)")
  int evalLimit = Integer.MAX_VALUE;

  @Option(names = "--max_length", description = "tokens per block (default 512)")
  int maxLength = 512;

  @Option(names = "--per_device_eval_batch_size", description = "blocks per forward; general_qa: questions answered "
      + "together (default 4)")
  int batchSize = 4;

  @Option(names = "--eval_dataset_args", description = "JSON: per set, its local_path, subset_list and (general_mcq)"
      + " few_shot_num, e.g. '{\"general_mcq\": {\"local_path\": \"DIR\", \"subset_list\": [\"law\"]}}'")
  String evalDatasetArgs;

  @Option(names = "--eval_output_dir", description = "general_mcq / general_qa: the report and every answer go to "
      + "DIR/<time>/ (default eval_output)")
  Path evalOutputDir = Path.of("eval_output");

  @Option(names = "--result_path", description = "also write the result as JSON to this file")
  Path resultPath;

  @Override
  public Integer call() throws IOException {
    PrintWriter out = spec.commandLine().getOut();
    Path model = gen.model();
    if (!Files.isRegularFile(model.resolve("config.json")))
      throw new IllegalArgumentException("--model " + model + " has no config.json: pass a Hugging Face model folder");
    if (batchSize <= 0)
      throw new IllegalArgumentException("--per_device_eval_batch_size must be > 0, got " + batchSize);
    List<String> sets = evalDataset.stream().filter(BenchmarkEval.SETS::contains).toList();
    if (!sets.isEmpty()) {
      if (sets.size() != evalDataset.size())
        throw new IllegalArgumentException("--eval_dataset mixes evaluation sets " + sets + " with perplexity data: "
            + "run them separately");
      return benchmarks(sets, out);
    }
    Device dev = Device.select(gen.device);
    long seed = gen.seed;
    List<int[]> blocks = Calibration.blocks(model, evalDataset, evalLimit, maxLength, seed);
    long start = System.nanoTime();
    Perplexity.Result r;
    try (CausalLM lm = gen.load(dev)) {
      activateAdapters(lm);
      r = Perplexity.of(lm, blocks, batchSize, done -> {
        out.printf("\reval %d/%d blocks", done, blocks.size());
        out.flush();
      });
    }
    double seconds = (System.nanoTime() - start) / 1e9;
    out.println();
    out.printf("perplexity %.4f (mean NLL %.5f nats over %,d predicted tokens in %d blocks of <= %d; %.1f s)%n",
        r.perplexity(), r.meanNll(), r.tokens(), r.blocks(), maxLength, seconds);
    if (resultPath != null) {
      ObjectMapper json = new ObjectMapper();
      ObjectNode o = json.createObjectNode();
      o.put("model", model.toString());
      o.put("perplexity", r.perplexity());
      o.put("mean_nll", r.meanNll());
      o.put("tokens", r.tokens());
      o.put("blocks", r.blocks());
      o.put("max_length", maxLength);
      o.put("seconds", seconds);
      AtomicFile.writeString(resultPath, json.writerWithDefaultPrettyPrinter().writeValueAsString(o) + "\n");
    }
    return 0;
  }

  private int benchmarks(List<String> sets, PrintWriter out) throws IOException {
    java.util.Map<String, com.fasterxml.jackson.databind.JsonNode> args = BenchmarkEval.arguments(sets, evalDatasetArgs);
    Device dev = Device.select(gen.device);
    String stamp = java.time.LocalDateTime.now().format(java.time.format.DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss"));
    Path dir = evalOutputDir.resolve(stamp);
    long start = System.nanoTime();
    ObjectNode report;
    try (CausalLM lm = gen.load(dev); Tokenizer tok = Tokenizer.load(gen.model())) {
      activateAdapters(lm);
      BenchmarkEval eval = new BenchmarkEval(lm, tok, gen.encoder(lm, tok), gen.systemPrompt(), gen.generation(tok),
          evalLimit, batchSize, out);
      report = eval.run(args, dir);
    }
    out.printf("report and answers: %s (%.1f s)%n", dir, (System.nanoTime() - start) / 1e9);
    if (resultPath != null)
      AtomicFile.writeString(resultPath, new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsString(report) + "\n");
    return 0;
  }

  /** Loads --adapters; the first is active (as in infer). */
  private void activateAdapters(CausalLM lm) throws IOException {
    gen.loadAdapters(lm);
    List<GenerationOptions.Adapter> adapters = gen.adapterList();
    if (!adapters.isEmpty()) lm.setActiveAdapter(adapters.get(0).name());
  }
}
