package jswift.cli;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import jswift.data.DatasetLoader;
import jswift.data.DatasetOptions;
import jswift.data.LoadedDatasets;
import jswift.infer.GenerationConfig;
import jswift.model.CausalLM;
import jswift.tensor.Device;
import jswift.tokenizer.Tokenizer;
import jswift.train.BestOfN;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code jswift sample}: ms-swift's {@code swift sample} with {@code --sampler_type sample}: many answers per prompt,
 * scored by an outcome reward ({@code --orm_model}: a GRPO reward name such as accuracy, a plugin's, or a reward
 * model folder), the best kept as training rows (see {@link BestOfN}). Sampling defaults to temperature 1.0.
 */
@Command(name = "sample", mixinStandardHelpOptions = true, sortOptions = false,
    description = "Sample many answers per prompt, score them with a reward, keep the best as training data.")
public final class SampleCommand implements Callable<Integer> {
  @Spec picocli.CommandLine.Model.CommandSpec spec;

  @Mixin GenerationOptions gen = new GenerationOptions();

  @Option(names = "--dataset", required = true, arity = "1..*", description = "the prompts (ms-swift formats)")
  List<String> dataset = new ArrayList<>();

  @Option(names = "--sampler_type", description = "sample (the only one; ms-swift's distill and mcts are not built)")
  String samplerType = "sample";

  @Option(names = "--sampler_engine", description = "pt / transformers (jswift's own engine; vllm and lmdeploy are not)")
  String samplerEngine = "pt";

  @Option(names = "--num_return_sequences", description = "answers sampled per prompt (default 64)")
  int numReturnSequences = 64;

  @Option(names = "--n_best_to_keep", description = "answers kept per prompt, best first (default 5)")
  int nBestToKeep = 5;

  @Option(names = "--orm_model", description = "the outcome reward: accuracy, format, ... (GRPO's rewards), a "
      + "plugin's name, or a reward model folder (jswift rlhf --rlhf_type rm); none: keep unscored")
  String ormModel;

  @Option(names = "--prm_model", description = "not supported: process reward models")
  String prmModel;

  @Option(names = "--external_plugins", arity = "1..*", description = "jars with RewardFunction services")
  List<Path> externalPlugins = new ArrayList<>();

  @Option(names = "--easy_query_threshold", description = "drop prompts whose share of right answers (reward > 0) is "
      + "above this (default: keep all)")
  Double easyQueryThreshold;

  @Option(names = "--data_range", arity = "2", description = "i n: only the i-th of n equal parts of the dataset")
  List<Integer> dataRange;

  @Option(names = "--output_dir", description = "default sample_output")
  Path outputDir = Path.of("sample_output");

  @Option(names = "--output_file", description = "default: <time>.jsonl")
  String outputFile;

  @Override
  public Integer call() throws Exception {
    if (!samplerType.equals("sample"))
      throw new IllegalArgumentException("--sampler_type " + samplerType + " is not supported (sample is)");
    if (!samplerEngine.equals("pt") && !samplerEngine.equals("transformers"))
      throw new IllegalArgumentException("--sampler_engine " + samplerEngine + " is not supported (pt: jswift's engine)");
    if (prmModel != null) throw new IllegalArgumentException("--prm_model (process reward models) is not supported");
    if (dataRange != null && dataRange.size() != 2) throw new IllegalArgumentException("--data_range takes i n");
    BestOfN.Options o = new BestOfN.Options(numReturnSequences, nBestToKeep, ormModel, externalPlugins,
        easyQueryThreshold, dataRange == null ? 0 : dataRange.get(0), dataRange == null ? 1 : dataRange.get(1));
    PrintWriter out = spec.commandLine().getOut();
    Path file = outputDir.resolve(outputFile != null ? outputFile
        : LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")) + ".jsonl");
    Device dev = Device.select(gen.device);
    try (CausalLM lm = gen.load(dev); Tokenizer tok = Tokenizer.load(gen.model());
        LoadedDatasets data = DatasetLoader.load(dataset, List.of(),
            DatasetOptions.defaults().withDatasetShuffle(false).withRequireAssistant(false))) {
      gen.loadAdapters(lm);
      List<GenerationOptions.Adapter> adapters = gen.adapterList();
      if (!adapters.isEmpty()) lm.setActiveAdapter(adapters.get(0).name());
      GenerationConfig g = gen.generation(tok);
      if (gen.temperature == null) g = new GenerationConfig(g.maxNewTokens(), true, 1f, g.topK(), g.topP(),
          g.repetitionPenalty(), g.seed(), g.stopTokenIds(), g.stopStrings());  // sampling, not greedy, by default
      out.printf("jswift sample: %d prompts x %d answers with %s on %s, %s -> %s%n", data.trainList().size(),
          numReturnSequences, gen.model(), dev, ormModel == null ? "no reward (answers kept unscored)"
              : "keeping the " + nBestToKeep + " best by " + ormModel, file);
      out.flush();
      BestOfN.Summary s = BestOfN.run(lm, tok, gen.encoder(lm, tok), g, data.trainList(), o, file, out);
      out.printf("done: %d prompts, %d answers kept%s%s in %s%n", s.prompts(), s.kept(),
          s.skippedEasy() > 0 ? ", " + s.skippedEasy() + " prompts too easy" : "",
          s.skippedTooLong() > 0 ? ", " + s.skippedTooLong() + " prompts over max_length" : "", file);
    }
    return 0;
  }
}
