package jswift.cli;

import java.util.concurrent.Callable;
import jswift.train.TrainArguments;
import jswift.train.Trainer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Spec;

/**
 * {@code jswift sft}: supervised fine-tuning (LoRA, QLoRA or full) with ms-swift's flags and defaults (see
 * {@link TrainArguments}). Output: {@code output/<model>/vN-<time>/} with args.json, logging.jsonl, images/ (PNG
 * plots) and checkpoint-K/ folders (PEFT adapters, or whole Hugging Face models with --train_type full). With no
 * argument at all it runs the {@link QuickStart}.
 */
@Command(name = "sft", mixinStandardHelpOptions = true, sortOptions = false,
    description = {"Supervised fine-tuning of a Hugging Face model on ms-swift datasets.",
        "With no argument at all: the quick start (LoRA on the bundled tiny chat model, answers before and after)."})
public final class SftCommand implements Callable<Integer> {
  @Spec picocli.CommandLine.Model.CommandSpec spec;
  @Mixin TrainOptions options;

  @picocli.CommandLine.Option(names = "--loss_type", description = "--task_type embedding: infonce (default), "
      + "cosine_similarity, contrastive or online_contrastive; --task_type reranker: pointwise_reranker (default) or "
      + "listwise_reranker")
  String lossType;

  @Override
  public Integer call() throws Exception {
    picocli.CommandLine.ParseResult parsed = spec.commandLine().getParseResult();
    if (parsed.matchedOptions().isEmpty() && parsed.matchedPositionals().isEmpty())
      return QuickStart.run(spec.commandLine().getOut());
    TrainArguments args = ConfigFile.apply(spec, options).arguments();
    args.lossType = lossType;
    return run(spec, args);
  }

  static int run(picocli.CommandLine.Model.CommandSpec spec, TrainArguments args) throws Exception {
    java.io.PrintWriter out = spec.commandLine().getOut();
    try (Trainer t = new Trainer(args, out)) {
      out.println("run folder: " + t.runDir());  // where logging.jsonl grows (the web UI follows it from here)
      out.flush();
      Trainer.Result r = t.train();
      out.println("run folder: " + r.runDir());
    }
    return 0;
  }
}
