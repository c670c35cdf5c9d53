package jswift.cli;

import java.util.concurrent.Callable;
import jswift.train.TrainArguments;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Spec;

/**
 * {@code jswift pt}: (continued) pre-training, as ms-swift's pt: the same flags as sft, but rows are plain text
 * (no chat template) with every token labelled; {@code --train_type full} trains every weight.
 */
@Command(name = "pt", mixinStandardHelpOptions = true, sortOptions = false,
    description = "Pre-training on plain text (no chat template, loss on every token).")
public final class PtCommand implements Callable<Integer> {
  @Spec picocli.CommandLine.Model.CommandSpec spec;
  @Mixin TrainOptions options;

  @Override
  public Integer call() throws Exception {
    TrainArguments a = ConfigFile.apply(spec, options).arguments();
    a.pretrain = true;
    a.lossScale = "all";
    return SftCommand.run(spec, a);
  }
}
