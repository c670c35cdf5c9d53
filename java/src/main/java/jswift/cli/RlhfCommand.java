package jswift.cli;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import jswift.train.TrainArguments;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code jswift rlhf}: preference training with ms-swift's flags: sft's, plus {@code --rlhf_type dpo | cpo | simpo |
 * orpo | kto | rm | grpo | gkd}, {@code --beta} (default: simpo 2.0, grpo 0.04, the others 0.1), {@code --simpo_gamma}, {@code --cpo_alpha} and
 * {@code --loss_type sigmoid} (see {@code jswift.train.PreferenceLoss}). Rows are preference pairs,
 * {@code messages} (the chosen answer last) with {@code rejected_response} (or {@code rejected_messages}). DPO's
 * reference is the base with the LoRA adapter switched off, as ms-swift and TRL do for adapters; with
 * {@code --train_type full} (or {@code --ref_model} given) it is a second, frozen model, {@code --ref_model} or a
 * copy of {@code --model}. The log adds TRL's rewards/chosen, rewards/rejected, rewards/accuracies and
 * rewards/margins. KTO's rows are {@code messages} with a {@code label} (true: a desirable answer, false: an
 * undesirable one; see {@code jswift.train.KtoLoss}). GRPO's rows are prompts (a trailing assistant answer is ignored) whose other columns, such as
 * {@code solution}, go to the reward functions ({@code --reward_funcs}; see {@code jswift.train.GrpoStep}).
 */
@Command(name = "rlhf", mixinStandardHelpOptions = true, sortOptions = false,
    description = "Preference training of a Hugging Face model: DPO, CPO, SimPO, ORPO and reward models (rm) on "
        + "preference pairs, KTO on answers labelled good or bad, GRPO on prompts with reward functions, GKD "
        + "(distillation from a teacher).")
public final class RlhfCommand implements Callable<Integer> {
  @Spec picocli.CommandLine.Model.CommandSpec spec;
  @Mixin TrainOptions options;

  @Option(names = "--rlhf_type", required = true, description = "dpo, cpo, simpo, orpo, kto, rm, ppo, grpo or gkd")
  String rlhfType;

  @Option(names = "--beta", description = "the loss's beta (default: simpo 2.0, grpo 0.04, the others 0.1)")
  Double beta;

  @Option(names = "--simpo_gamma", description = "SimPO's target reward margin (default 1.0)")
  double simpoGamma = 1.0;

  @Option(names = "--cpo_alpha", description = "CPO / SimPO: the weight of the chosen answers' NLL (default 1.0)")
  double cpoAlpha = 1.0;

  @Option(names = "--loss_type", arity = "1..*", description = "DPO: sigmoid (default), robust, hinge, ipo, apo_zero, "
      + "apo_down, exo_pair, nca_pair, sppo_hard, discopop, aot_pair, aot, bco_pair, or several of them (and sft) mixed "
      + "by --loss_weights (MPO); KTO: kto, apo_zero_unpaired; GRPO: grpo (default), bnpo, dr_grpo")
  List<String> lossType = new ArrayList<>();

  @Option(names = "--loss_weights", arity = "1..*", description = "DPO: the weight of each --loss_type (default 1 each)")
  List<Double> lossWeights = new ArrayList<>();

  @Option(names = "--label_smoothing", description = "DPO (sigmoid, robust, aot, aot_pair; exo_pair's epsilon): share of "
      + "labels assumed flipped (default 0)")
  double labelSmoothing;

  @Option(names = "--discopop_tau", description = "DPO --loss_type discopop: temperature of its mixing (0.05)")
  double discopopTau = 0.05;

  @Option(names = "--rpo_alpha", description = "DPO: adds this times the chosen answers' NLL (RPO; default none, as ms-swift)")
  Double rpoAlpha;

  @Option(names = "--teacher_model", description = "GKD: the teacher model (same tokenizer as --model)")
  Path teacherModel;

  @Option(names = "--lmbda", description = "GKD: share of batches answered by the student itself (default 0.5)")
  double lmbda = 0.5;

  @Option(names = "--seq_kd", arity = "1", description = "GKD: the teacher answers the other batches (default false)")
  boolean seqKd;

  @Option(names = "--center_rewards_coefficient", description = "RM: weight of (r(chosen) + r(rejected))^2 (default none)")
  Double centerRewardsCoefficient;

  @Option(names = "--desirable_weight", description = "KTO: the weight of desirable answers' losses (default 1.0)")
  double desirableWeight = 1.0;

  @Option(names = "--undesirable_weight", description = "KTO: the weight of undesirable answers' losses (default 1.0)")
  double undesirableWeight = 1.0;

  // --- GRPO ---
  @Option(names = "--reward_funcs", arity = "1..*", description = "GRPO rewards: accuracy, format, react_format, cosine, "
      + "repetition, soft_overlong, or a jswift.train.RewardFunction on the class path")
  List<String> rewardFuncs = new ArrayList<>();

  @Option(names = "--external_plugins", arity = "1..*", description = "GRPO: jars whose jswift.train.RewardFunction "
      + "services --reward_funcs may name")
  List<Path> externalPlugins = new ArrayList<>();

  @Option(names = "--reward_model", description = "GRPO: a reward model (a checkpoint of jswift rlhf --rlhf_type rm) "
      + "whose score is one more reward; PPO: the reward model, which the value model starts from")
  Path rewardModel;

  @Option(names = "--reward_weights", arity = "1..*", description = "GRPO: a weight per reward function (default 1 each)")
  List<Double> rewardWeights;

  @Option(names = "--num_generations", description = "GRPO: completions sampled per prompt (default 8)")
  int numGenerations = 8;

  @Option(names = "--max_completion_length", description = "GRPO / GKD: longest sampled answer in tokens (default 512)")
  int maxCompletionLength = 512;

  @Option(names = "--temperature", description = "GRPO / GKD: sampling temperature (default 0.9)")
  float temperature = 0.9f;

  @Option(names = "--top_k", description = "GRPO: top-k sampling (default 50; 0 off)")
  int topK = 50;

  @Option(names = "--top_p", description = "GRPO: top-p sampling (default 0.9)")
  float topP = 0.9f;

  @Option(names = "--repetition_penalty", description = "GRPO: sampling repetition penalty (default 1.0)")
  float repetitionPenalty = 1f;

  @Option(names = "--scale_rewards", arity = "1", description = "GRPO: divide advantages by the group's reward std (default true)")
  boolean scaleRewards = true;

  @Option(names = "--num_iterations", description = "GRPO: optimizer steps on each generation's completions (default 1)")
  int numIterations = 1;

  @Option(names = "--epsilon", description = "GRPO: PPO clip range (default 0.2; inactive with one update per generation)")
  double epsilon = 0.2;

  @Option(names = "--epsilon_high", description = "GRPO: the clip range's upper side (default: --epsilon; DAPO uses 0.28)")
  Double epsilonHigh;

  @Option(names = "--log_completions", arity = "1", description = "GRPO: write each completion, its rewards and advantage "
      + "to completions.jsonl (default false)")
  boolean logCompletions;

  @Option(names = "--num_ppo_epochs", description = "PPO: passes over each update's responses (default 4)")
  int numPpoEpochs = 4;

  @Option(names = "--whiten_rewards", arity = "1", description = "PPO: whiten the per-token rewards (default false)")
  boolean whitenRewards;

  @Option(names = "--kl_coef", description = "PPO: weight of the per-token KL penalty to the reference (default 0.05)")
  double klCoef = 0.05;

  @Option(names = "--cliprange", description = "PPO: the policy ratio's clip range (default 0.2)")
  double cliprange = 0.2;

  @Option(names = "--vf_coef", description = "PPO: weight of the value loss (default 0.1)")
  double vfCoef = 0.1;

  @Option(names = "--cliprange_value", description = "PPO: the value's clip range (default 0.2)")
  double cliprangeValue = 0.2;

  @Option(names = "--gamma", description = "PPO: discount (default 1.0)")
  double gamma = 1.0;

  @Option(names = "--lam", description = "PPO: GAE's lambda (default 0.95)")
  double lam = 0.95;

  @Option(names = "--num_mini_batches", description = "PPO: optimizer steps per pass over an update's responses (default 1)")
  int numMiniBatches = 1;

  @Option(names = "--local_rollout_forward_batch_size", description = "PPO: accepted (jswift scores the responses "
      + "per_device_train_batch_size at a time)")
  int localRolloutForwardBatchSize = 64;

  @Option(names = "--num_sample_generations", description = "PPO: accepted (evaluation reports the mean score of the "
      + "validation prompts' responses)")
  int numSampleGenerations = 10;

  @Option(names = "--response_length", description = "PPO: longest sampled response (default: --max_completion_length)")
  Integer responseLength;

  @Option(names = "--missing_eos_penalty", description = "PPO: subtracted from the score of a response without a stop "
      + "token (default none)")
  Double missingEosPenalty;

  @Option(names = "--cosine_min_len_value_wrong", description = "cosine reward: a wrong answer of length 0 (default -0.5)")
  double cosineMinLenValueWrong = -0.5;

  @Option(names = "--cosine_max_len_value_wrong", description = "cosine reward: a wrong answer of cosine_max_len (default 0.0)")
  double cosineMaxLenValueWrong = 0.0;

  @Option(names = "--cosine_min_len_value_correct", description = "cosine reward: a right answer of length 0 (default 1.0)")
  double cosineMinLenValueCorrect = 1.0;

  @Option(names = "--cosine_max_len_value_correct", description = "cosine reward: a right answer of cosine_max_len (default 0.5)")
  double cosineMaxLenValueCorrect = 0.5;

  @Option(names = "--cosine_max_len", description = "cosine reward: the length scale (default max_completion_length)")
  Integer cosineMaxLen;

  @Option(names = "--repetition_n_grams", description = "repetition reward: n-gram size (default 3)")
  int repetitionNGrams = 3;

  @Option(names = "--repetition_max_penalty", description = "repetition reward: the penalty of all-repeated text (default -1.0)")
  double repetitionMaxPenalty = -1.0;

  @Option(names = "--soft_max_length", description = "soft_overlong reward: the hard limit (default max_completion_length)")
  Integer softMaxLength;

  @Option(names = "--soft_cache_length", description = "soft_overlong reward: the penalty ramps over the last this many tokens")
  Integer softCacheLength;

  @Option(names = "--ref_adapters", arity = "1..*", description = "the reference is the base (or --ref_model) with this "
      + "LoRA adapter, e.g. the SFT adapter that --adapters starts from")
  List<Path> refAdapters = new ArrayList<>();

  @Option(names = "--ref_model", description = "the reference model of DPO, KTO and GRPO (default: with LoRA the base "
      + "without the adapter; with full training a second copy of --model)")
  Path refModel;

  @Override
  public Integer call() throws Exception {
    return SftCommand.run(spec, arguments());
  }

  /** The run's arguments: --config's, then the command line's (the rlhf flags on top of sft's). */
  TrainArguments arguments() throws Exception {
    TrainArguments a = ConfigFile.apply(spec, options).arguments();
    a.rlhfType = rlhfType;
    a.beta = beta;
    a.simpoGamma = simpoGamma;
    a.cpoAlpha = cpoAlpha;
    a.rpoAlpha = rpoAlpha;
    a.labelSmoothing = labelSmoothing;
    a.discopopTau = discopopTau;
    a.refModel = refModel;
    a.refAdapters = refAdapters;
    a.centerRewardsCoefficient = centerRewardsCoefficient;
    a.teacherModel = teacherModel;
    a.lmbda = lmbda;
    a.seqKd = seqKd;
    a.desirableWeight = desirableWeight;
    a.undesirableWeight = undesirableWeight;
    a.rewardFuncs = rewardFuncs;
    a.rewardWeights = rewardWeights;
    a.externalPlugins = externalPlugins;
    a.rewardModel = rewardModel;
    a.numGenerations = numGenerations;
    a.maxCompletionLength = maxCompletionLength;
    a.temperature = temperature;
    a.topK = topK;
    a.topP = topP;
    a.repetitionPenalty = repetitionPenalty;
    a.scaleRewards = scaleRewards;
    a.numIterations = numIterations;
    a.epsilon = epsilon;
    a.epsilonHigh = epsilonHigh;
    a.logCompletions = logCompletions;
    a.numPpoEpochs = numPpoEpochs;
    a.whitenRewards = whitenRewards;
    a.klCoef = klCoef;
    a.cliprange = cliprange;
    a.vfCoef = vfCoef;
    a.cliprangeValue = cliprangeValue;
    a.gamma = gamma;
    a.lam = lam;
    a.numMiniBatches = numMiniBatches;
    a.localRolloutForwardBatchSize = localRolloutForwardBatchSize;
    a.numSampleGenerations = numSampleGenerations;
    a.responseLength = responseLength;
    a.missingEosPenalty = missingEosPenalty;
    a.cosineMinLenValueWrong = cosineMinLenValueWrong;
    a.cosineMaxLenValueWrong = cosineMaxLenValueWrong;
    a.cosineMinLenValueCorrect = cosineMinLenValueCorrect;
    a.cosineMaxLenValueCorrect = cosineMaxLenValueCorrect;
    a.cosineMaxLen = cosineMaxLen;
    a.repetitionNGrams = repetitionNGrams;
    a.repetitionMaxPenalty = repetitionMaxPenalty;
    a.softMaxLength = softMaxLength;
    a.softCacheLength = softCacheLength;
    a.lossType = lossType.size() == 1 ? lossType.get(0) : null;
    if (lossType.size() > 1) a.lossTypeMix = List.copyOf(lossType);
    a.lossWeights = List.copyOf(lossWeights);
    return a;
  }
}
