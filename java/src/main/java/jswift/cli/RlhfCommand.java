package jswift.cli;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import jswift.train.TrainArguments;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code jswift rlhf}: preference training with ms-swift's flags: sft's, plus {@code --rlhf_type dpo},
 * {@code --beta} (default 0.1) and {@code --loss_type sigmoid}. Rows are preference pairs, {@code messages} (the
 * chosen answer last) with {@code rejected_response} (or {@code rejected_messages}). With LoRA (the only tuner
 * here) the reference model is the base with the adapter switched off, as ms-swift and TRL do for adapters, so
 * {@code --ref_model} is not needed. The log adds TRL's rewards/chosen, rewards/rejected, rewards/accuracies and
 * rewards/margins.
 */
@Command(name = "rlhf", mixinStandardHelpOptions = true, sortOptions = false,
    description = "Preference training (DPO) of a Hugging Face model on preference pairs.")
public final class RlhfCommand implements Callable<Integer> {
  @Spec picocli.CommandLine.Model.CommandSpec spec;
  @Mixin TrainOptions options;

  @Option(names = "--rlhf_type", required = true, description = "dpo (ms-swift's other types are not supported yet)")
  String rlhfType;

  @Option(names = "--beta", description = "DPO: how strongly the model is held to the reference (default 0.1)")
  Double beta;

  @Option(names = "--loss_type", description = "DPO loss: sigmoid (default)")
  String lossType = "sigmoid";

  @Option(names = "--rpo_alpha", description = "not supported (ms-swift's default None: no SFT term)")
  Double rpoAlpha;

  @Option(names = "--ref_model", description = "not needed with LoRA: the reference is the base without the adapter")
  Path refModel;

  @Override
  public Integer call() throws Exception {
    TrainArguments a = ConfigFile.apply(spec, options).arguments();
    if (rpoAlpha != null)
      throw new IllegalArgumentException("--rpo_alpha (an SFT term added to DPO) is not supported yet: leave it unset");
    if (refModel != null && a.model != null && !refModel.toAbsolutePath().normalize().equals(a.model.toAbsolutePath().normalize()))
      throw new IllegalArgumentException("--ref_model " + refModel + ": a separate reference model is not supported; "
          + "with --train_type lora the reference is --model without the adapter");
    a.rlhfType = rlhfType;
    if (beta != null) a.beta = beta;
    a.lossType = lossType;
    return SftCommand.run(spec, a);
  }
}
