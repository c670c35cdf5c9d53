package jswift.cli;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import jswift.train.TrainArguments;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code jswift rlhf}: preference training with ms-swift's flags: sft's, plus {@code --rlhf_type dpo | cpo | simpo |
 * orpo}, {@code --beta} (default: simpo 2.0, the others 0.1), {@code --simpo_gamma}, {@code --cpo_alpha} and
 * {@code --loss_type sigmoid} (see {@code jswift.train.PreferenceLoss}). Rows are preference pairs,
 * {@code messages} (the chosen answer last) with {@code rejected_response} (or {@code rejected_messages}). DPO's
 * reference is the base with the LoRA adapter switched off, as ms-swift and TRL do for adapters, so
 * {@code --ref_model} is not needed. The log adds TRL's rewards/chosen, rewards/rejected, rewards/accuracies and
 * rewards/margins.
 */
@Command(name = "rlhf", mixinStandardHelpOptions = true, sortOptions = false,
    description = "Preference training (DPO, CPO, SimPO, ORPO) of a Hugging Face model on preference pairs.")
public final class RlhfCommand implements Callable<Integer> {
  @Spec picocli.CommandLine.Model.CommandSpec spec;
  @Mixin TrainOptions options;

  @Option(names = "--rlhf_type", required = true, description = "dpo, cpo, simpo or orpo")
  String rlhfType;

  @Option(names = "--beta", description = "the loss's beta (default: simpo 2.0, the others 0.1)")
  Double beta;

  @Option(names = "--simpo_gamma", description = "SimPO's target reward margin (default 1.0)")
  double simpoGamma = 1.0;

  @Option(names = "--cpo_alpha", description = "CPO / SimPO: the weight of the chosen answers' NLL (default 1.0)")
  double cpoAlpha = 1.0;

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
    a.beta = beta;
    a.simpoGamma = simpoGamma;
    a.cpoAlpha = cpoAlpha;
    a.lossType = lossType;
    return SftCommand.run(spec, a);
  }
}
