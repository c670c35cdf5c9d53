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
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code jswift eval --model DIR --eval_dataset DATA}: the model's perplexity on a dataset, the measure to compare a
 * model with its quantized copies (bnb / GPTQ / AWQ folders load like any other). The rows go through the model's
 * chat template, are concatenated and cut into {@code --max_length} blocks exactly as export's calibration data is,
 * so the same flags give the same blocks for every model of one family. ms-swift's {@code swift eval} runs
 * benchmark suites through EvalScope instead; this command keeps its flag names for the dataset and the limit.
 */
@Command(name = "eval", mixinStandardHelpOptions = true,
    description = "Perplexity of a model (dense or quantized) on a dataset.")
public final class EvalCommand implements Callable<Integer> {
  @Spec picocli.CommandLine.Model.CommandSpec spec;

  @Option(names = "--model", required = true, description = "Hugging Face model folder (dense, bnb, GPTQ or AWQ)")
  Path model;

  @Option(names = "--eval_dataset", arity = "1..*", required = true,
      description = "files (jsonl, json, csv, txt), path#N, or a bundled name (jswift/quickstart-sft)")
  List<String> evalDataset = new ArrayList<>();

  @Option(names = "--eval_limit", description = "use at most this many rows (default: all)")
  int evalLimit = Integer.MAX_VALUE;

  @Option(names = "--max_length", description = "tokens per block (default 512)")
  int maxLength = 512;

  @Option(names = "--per_device_eval_batch_size", description = "blocks per forward (default 4)")
  int batchSize = 4;

  @Option(names = "--seed", description = "the row shuffle's seed (default 42)")
  long seed = 42;

  @Option(names = "--device", description = "cpu, cuda or cuda:N (default: cuda when a GPU is usable)")
  String device;

  @Option(names = "--result_path", description = "also write the result as JSON to this file")
  Path resultPath;

  @Override
  public Integer call() throws IOException {
    PrintWriter out = spec.commandLine().getOut();
    if (!Files.isRegularFile(model.resolve("config.json")))
      throw new IllegalArgumentException("--model " + model + " has no config.json: pass a Hugging Face model folder");
    if (batchSize <= 0)
      throw new IllegalArgumentException("--per_device_eval_batch_size must be > 0, got " + batchSize);
    List<int[]> blocks = Calibration.blocks(model, evalDataset, evalLimit, maxLength, seed);
    Device dev = Device.select(device);
    long start = System.nanoTime();
    Perplexity.Result r;
    try (CausalLM lm = CausalLM.load(model, dev)) {
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
}
