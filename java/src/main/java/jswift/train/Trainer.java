package jswift.train;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import com.fasterxml.jackson.databind.JsonNode;
import jswift.data.DatasetLoader;
import jswift.data.DatasetOptions;
import jswift.data.LoadedDatasets;
import jswift.data.RowList;
import jswift.model.Batch;
import jswift.model.CausalLM;
import jswift.nn.Parameter;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Kernels;
import jswift.template.ConversationEncoder;
import jswift.template.PlainTextEncoder;
import jswift.template.LossScale;
import jswift.template.TemplateOptions;
import jswift.template.Templates;
import jswift.template.Truncation;
import jswift.tokenizer.Tokenizer;
import jswift.tuner.LoraConfig;
import jswift.tuner.LoraTuner;

/**
 * The supervised fine-tuning loop, in the spirit of nanoGPT's: load the model, tokenizer, template and data,
 * add the tuner, then for each optimizer step encode {@code batch x accumulation} samples, run a forward and
 * backward per micro-batch (normalised at token level over the whole accumulated batch), clip, take an AdamW
 * step at the scheduled rate, log, evaluate and save on schedule. A non-finite loss stops the run before the
 * optimizer can spread it into the weights; the last saved checkpoint stays the last good one.
 */
public final class Trainer implements AutoCloseable {
  private final TrainArguments args;
  private final PrintWriter console;
  private final Path runDir;
  private final Device device;
  private final CausalLM model;
  private final Tokenizer tokenizer;
  private final ConversationEncoder template;
  private final LoadedDatasets data;
  private final List<Parameter> trainable;
  private final AdamW optimizer;
  private final TrainingLog log;
  private final SampleStream samples;
  private final long totalSteps;
  private final long saveEvery, evalEvery;  // by --save_strategy / --eval_strategy
  private final LrSchedule schedule;
  private final Checkpoints checkpoints;
  private Objective objective;  // jswift rlhf's loss (DPO & co., KTO, RM, GKD); null: sft's / pt's cross-entropy
  private final GrpoStep grpo;  // jswift rlhf --rlhf_type grpo: sampling, rewards and the policy gradient; else null
  private final PpoStep ppo;  // jswift rlhf --rlhf_type ppo: rollouts, advantages and the update; else null
  private ValueModel valueModel;  // PPO's critic (trained beside the policy), else null
  private Path valueScratch;  // PPO: where a reward model adapter is merged into the value model's start; deleted at close
  private ReferenceModel reference;  // DPO, KTO, GRPO (beta > 0): the frozen model the policy is measured against
  private RewardModelScorer rewardModel;  // GRPO --reward_model
  private jswift.infer.EmbeddingInput embeddingInput;  // --task_type embedding: how texts become ids
  private int maxLength;  // --max_length, else the model's max_position_embeddings
  private long startStep = 1;
  private Lisa lisa;  // --lisa_activated_layers > 0: the decoder layers training now
  private jswift.tuner.AdaLoraAllocator adaLora;  // --train_type adalora: prunes the singular values
  private Path expanded;  // --train_type llamapro: the expanded model folder this run trains (deleted at close)
  private Path extendedVocab;  // --new_special_tokens: the extended model folder this run trains (deleted at close)
  private jswift.tuner.LlamaPro.Plan llamaPro;

  /** What a finished run reports. */
  /**
   * A finished run: its folder, steps, first and last logged loss, its last checkpoint and its best one (saved at the
   * best evaluation; null without a validation set), and the rows skipped as too long.
   */
  public record Result(Path runDir, long steps, double firstLoss, double lastLoss, Path lastCheckpoint,
      long skippedTooLong, Path bestCheckpoint) {}

  public Trainer(TrainArguments args, PrintWriter console) throws IOException {
    args.validate();
    this.args = args;
    this.console = console;
    this.device = Device.select(args.device);
    DType dtype = args.torchDtype != null ? DType.parse(args.torchDtype) : device.isCpu() ? DType.F32 : DType.BF16;
    CausalLM m = null;
    Tokenizer tok = null;
    LoadedDatasets d = null;
    boolean ok = false;
    List<Parameter> savedBeside = List.of();  // saved in each adapter checkpoint beside LoRA's (a reward model's head)
    try {
      Path modelDir = args.model;
      if (args.trainType.equals("llamapro")) {
        // The expanded model is an ordinary HF folder: loaded, trained and saved like any full model.
        expanded = ScratchFolder.create(args.outputDir, "llamapro-expanded");
        llamaPro = jswift.tuner.LlamaPro.expand(args.model, expanded, args.llamaproNumNewBlocks, args.llamaproNumGroups);
        modelDir = expanded;
      }
      if (!args.newSpecialTokens.isEmpty()) {
        // ms-swift's --new_special_tokens: the tokenizer (and, when it outgrows it, the embedding) extended in a
        // model folder of its own, which this run loads; args.json records the tokens, so infer / export rebuild it
        List<String> tokens = jswift.model.NewSpecialTokens.parse(args.newSpecialTokens);
        extendedVocab = ScratchFolder.create(args.outputDir, "new-special-tokens");
        jswift.model.NewSpecialTokens.Result r = jswift.model.NewSpecialTokens.extend(modelDir, tokens, extendedVocab);
        console.printf("new special tokens: %d added %s (%d already known); vocabulary %d rows%s%n", r.added().size(),
            r.added(), tokens.size() - r.added().size(), r.vocabRows(), r.resized()
            ? ", the embedding grown (new rows: the mean of the others)" : "");
        if (!args.trainType.equals("full") && !args.trainType.equals("llamapro")
            && !(args.modulesToSave.contains("embed_tokens") && args.modulesToSave.contains("lm_head")))
          console.printf("note: the new tokens' embedding rows train only in full training or with --modules_to_save "
              + "embed_tokens lm_head (as ms-swift's example sets); here they stay at their start%n");
        modelDir = extendedVocab;
      }
      m = CausalLM.load(modelDir, device, dtype, args.quantization());
      tok = Tokenizer.load(extendedVocab != null ? extendedVocab : args.model);
      m.setGradientCheckpointing(args.gradientCheckpointing);
      if (args.neftuneNoiseAlpha != null) m.setNeftuneNoiseAlpha(args.neftuneNoiseAlpha);
      maxLength = args.maxLength != null ? args.maxLength : m.config().maxPositionEmbeddings();
      if (args.trainType.equals("longlora")) {
        int group = jswift.nn.ShiftedGroups.groupSize(maxLength);
        m.setShiftedSparseAttention(group);
        console.printf("longlora: training steps attend within groups of %d tokens (max_length %d x %.2f), half of "
            + "the heads shifted by %d; evaluation and inference attend in full%n", group, maxLength,
            jswift.nn.ShiftedGroups.GROUP_SIZE_RATIO, group / 2);
      }
      TemplateOptions options = TemplateOptions.DEFAULT.withLossScale(LossScale.parse(args.lossScale))
          .withMaxLength(maxLength, Truncation.parse(args.truncationStrategy));
      if (args.system != null) options = options.withSystem(args.system);
      if (args.agentTemplate != null) options = options.withAgentTemplate(args.agentTemplate);
      if (args.deepspeed != null)
        console.printf("note: --deepspeed %s has no effect: jswift trains on one device with its own kernels (no ZeRO "
            + "sharding or offload); --quant_bits 4, --use_galore and --gradient_checkpointing save memory here%n",
            args.deepspeed);
      if (args.pretrain) {
        template = new PlainTextEncoder(tok, maxLength, Truncation.parse(args.truncationStrategy));
      } else {
        String templateName = args.template != null ? args.template : m.config().architecture().template();
        // ms-swift registers Qwen3-Reranker with its own template: the prompt its yes / no answer was trained on
        if (args.template == null && args.isGenerativeReranker()
            && args.model.toAbsolutePath().normalize().getFileName().toString().toLowerCase().contains("reranker")) {
          templateName = "qwen3_reranker";
          args.template = templateName;  // args.json records it: infer then reads the prompt the same way
        }
        template = args.useChatTemplate ? Templates.create(templateName, tok, options)
            : Templates.createGenerate(templateName, tok, options);
      }
      DatasetOptions dataOptions = DatasetOptions.defaults().withSeed(args.dataSeed != null ? args.dataSeed : args.seed)
          .withValDatasetShuffle(args.valDatasetShuffle);
      if (args.columns != null) dataOptions = dataOptions.withColumns(args.columns);
      d = DatasetLoader.load(args.dataset, args.valDataset, dataOptions
          .withSplitDatasetRatio(args.splitDatasetRatio).withDatasetShuffle(args.datasetShuffle)
          .withSkipBadRows(args.datasetSkipBad).withModelIdentity(args.modelName, args.modelAuthor)
          // GRPO's rows are prompts (the model writes the answers); a classifier's rows end with the text to classify
          .withRequireAssistant(!args.isGrpo() && !args.isPpo() && !args.isSequenceClassification()
              && !args.isEmbedding()));
      RowList train = d.trainList();
      if (train.size() == 0) throw new IllegalArgumentException("the training set is empty");
      LoraConfig lora = null;
      if (args.trainType.equals("full") && m.gptq() != null)
        throw new IllegalArgumentException("--train_type full cannot train a GPTQ checkpoint's quantized weights ("
            + args.model + "): use --train_type lora on it, or fine-tune the original model");
      if (args.trainType.equals("full") && m.fp8() != null)
        throw new IllegalArgumentException("--train_type full on an FP8 checkpoint (" + args.model + ") would save "
            + "bf16 weights under its FP8 quantization_config: use --train_type lora on it (its weights load "
            + "dequantized, --quant_bits 4 makes it QLoRA), or fine-tune the original model");
      if (args.trainType.equals("full") && m.awq() != null)
        throw new IllegalArgumentException("--train_type full cannot train an AWQ checkpoint's quantized weights ("
            + args.model + "): use --train_type lora on it, or fine-tune the original model");
      List<Parameter> trained;  // what this run trains, in the optimizer's order
      if (args.trainType.equals("full")) {
        // Every weight, once (tied embeddings are one Parameter), in the model's order (the gradient norm sums them
        // in this order: a hash order would change a clipped step's last bits from run to run); biases and norm
        // weights get no weight decay. --freeze_parameters* / --trainable_parameters* pick a subset.
        trained = new ArrayList<>(FullTrainingSelection.select(m.parameters().values(), args, console));
        trained.forEach(p -> p.setTrainable(true));
        if (args.lisaActivatedLayers > 0) lisa = new Lisa(m, args.lisaActivatedLayers, args.lisaStepInterval, args.seed);
      } else if (llamaPro != null) {
        // Only the inserted blocks train, every weight of them (as ms-swift marks them trainable).
        List<Parameter> added = new ArrayList<>();
        for (int j : llamaPro.newBlocks())
          for (Parameter p : m.parameters().values()) if (p.name().startsWith("model.layers." + j + ".")) added.add(p);
        trained = added;
        trained.forEach(p -> p.setTrainable(true));
      } else if (args.trainType.equals("adapter")) {
        // ms-swift's bottleneck adapter after every layer's MLP, saved in its own tuner format
        trained = new ArrayList<>(jswift.tuner.SwiftAdapterFolder.apply(m, "default", args.bottleneckAdapter(),
            args.seed));
        trained.forEach(p -> p.setTrainable(true));
      } else if (args.trainType.equals("reft")) {
        // ms-swift's ReFT: an intervention on the output of each chosen layer, saved in its tuner format
        trained = new ArrayList<>(jswift.tuner.ReftFolder.apply(m, "default", args.reft(), args.seed));
        trained.forEach(p -> p.setTrainable(true));
      } else {
        lora = args.adapters.isEmpty() ? args.loraConfig() : startingAdapter(args.adapters.get(0));
        if (args.isPpo() && lora.fields().path("lora_dropout").asDouble(0) > 0) {
          // TRL's PPOTrainer switches every dropout off (the log-probabilities of the rollout and of the update must
          // be of the same function)
          console.printf("ppo: lora_dropout %s -> 0 (PPO trains without dropout, as TRL does)%n",
              (float) lora.fields().path("lora_dropout").asDouble());
          lora = lora.withLoraDropout(0);
        }
        List<Parameter> adapter = new ArrayList<>(LoraTuner.apply(m, "default", lora, args.seed));
        lora = LoraTuner.resolveTargets(m, lora);
        if (!args.adapters.isEmpty()) {
          loadWeights(adapter, args.adapters.get(0));
          if (lora.isVera()) loadVeraProjections(m, args.adapters.get(0));
          console.printf("starting from the adapter %s (its r, alpha and targets; the --lora_* flags do not apply)%n",
              args.adapters.get(0));
        }
        if (args.isEmbedding())  // ms-swift saves an embedding model's adapter without a PEFT task type
          lora = lora.with("task_type", com.fasterxml.jackson.databind.node.NullNode.getInstance());
        if (args.hasScoreHead())  // PEFT saves a sequence classifier's head in the adapter (task_type SEQ_CLS)
          lora = lora.with("task_type", com.fasterxml.jackson.databind.node.TextNode.valueOf("SEQ_CLS"))
              .with("modules_to_save", TrainingLog.JSON.valueToTree(List.of("classifier", "score")));
        trained = adapter;
      }
      if (args.isGenerativeReranker())  // the LM head's own "yes" / "no" logits: no new head
        objective = new RerankerObjective(m, jswift.model.YesNoHead.create(m, tok, System.getenv()), args.rerankerLoss(),
            args.listwiseSettings(), true);
      if (args.hasScoreHead()) {
        // transformers' *ForSequenceClassification: a fresh score head, saved in the adapter or the whole model
        int labels = args.isSequenceClassification() ? args.numLabels : 1;
        jswift.model.ScoreHead head = jswift.model.ScoreHead.create(m.config().hiddenSize(), labels, args.seed, device,
            lora != null ? jswift.model.ScoreHead.ADAPTER_KEY : jswift.model.ScoreHead.MODEL_KEY);
        objective = args.isRewardModeling() ? new RewardModelObjective(m, head, args.centerRewardsCoefficient != null
            ? args.centerRewardsCoefficient : 0) : args.isReranker()
            ? new RerankerObjective(m, jswift.model.SequenceScorer.of(head), args.rerankerLoss(), args.listwiseSettings(), false)
            : new ClassificationObjective(m, head, args.problemType());
        head.weight().setTrainable(true);
        trained.add(head.weight());
        savedBeside = List.of(head.weight());
      }
      if (args.isEmbedding()) {
        objective = new EmbeddingObjective(m, args.embeddingLoss(), args.infoNceSettings());
        embeddingInput = new jswift.infer.EmbeddingInput(tok, m.config().eosTokenIds());
      }
      trainable = trained;
      List<Parameter> optimized = trainable;  // PPO: the value model's too (one optimizer over both, as TRL's)
      if (args.isPpo()) {
        valueScratch = ScratchFolder.create(args.outputDir, "ppo-value-model");
        valueModel = ValueModel.load(args.rewardModel, valueScratch, device, dtype, lora, args.seed + 17);
        optimized = new ArrayList<>(trainable);
        optimized.addAll(valueModel.parameters());
        console.printf("value model: %s with a LoRA adapter and its score head trained (%d parameters)%n",
            args.rewardModel, valueModel.parameters().stream().mapToLong(Parameter::numel).sum());
      }
      // --- GaLore: low-rank moments and projectors for the decoder's linear weights ---
      GaLoreConfig galore = args.galoreConfig();
      List<Parameter> projected = galore == null ? List.of() : galore.select(trainable);
      if (galore != null && projected.isEmpty())
        throw new IllegalArgumentException("--use_galore: no trainable 2-D weight matches --galore_target_modules "
            + (galore.targetModules().isEmpty() ? "(the decoder's linear layers)" : galore.targetModules()));
      // --- Q-GaLore: the projected linear weights stored INT8 (QGaLoreLinear), the projectors lazy / INT4 ---
      QGaLoreConfig qgalore = args.qgaloreConfig();
      if (qgalore != null) QGaLoreWeights.storeInt8(m, projected, console);
      optimizer = new AdamW(optimized, (float) args.adamBeta1, (float) args.adamBeta2, (float) args.adamEpsilon,
          (float) args.weightDecay, (float) args.maxGradNorm, galore, projected, qgalore);
      List<Parameter> exempt = new ArrayList<>();
      for (Parameter p : optimized) if (!AdamW.decaysLike(p)) exempt.add(p);
      optimizer.withoutDecay(exempt);
      if (args.lorapLrRatio != null) optimizer.withLrRatio(LoraPlus.groupB(trainable), args.lorapLrRatio.floatValue());
      boolean split = Truncation.parse(args.truncationStrategy) == Truncation.SPLIT;
      samples = stream(train, args.packing ? maxLength : 0, split ? maxLength : 0);
      long microPerEpoch = (train.size() + args.perDeviceTrainBatchSize - 1) / args.perDeviceTrainBatchSize;
      long stepsPerEpoch = Math.max(1, (microPerEpoch + args.gradientAccumulation() - 1) / args.gradientAccumulation());
      if (args.isPpo())  // an update takes batch x accumulation x num_mini_batches prompts
        stepsPerEpoch = Math.max(1, (train.size() + args.ppoPrompts() - 1) / args.ppoPrompts());
      if (args.isGrpo()) {  // a generation takes (batch x accumulation) / num_generations prompts, num_iterations steps
        long prompts = (long) args.perDeviceTrainBatchSize * args.gradientAccumulation() / args.numGenerations;
        stepsPerEpoch = Math.max(1, (train.size() + prompts - 1) / prompts) * args.numIterations;
      }
      totalSteps = args.maxSteps > 0 ? args.maxSteps : (long) Math.ceil(args.numTrainEpochs * stepsPerEpoch);
      saveEvery = args.every(true, stepsPerEpoch);
      evalEvery = args.every(false, stepsPerEpoch);
      schedule = new LrSchedule(args.lrSchedulerType, args.peakLearningRate(),
          LrSchedule.warmupSteps(args.warmupSteps, args.warmupRatio, totalSteps), totalSteps);
      runDir = newRunDir(args);
      log = new TrainingLog(runDir, console, totalSteps, args.loggingSteps);
      // ms-swift: with --predict_with_generate the best checkpoint is the best rouge-l unless told otherwise
      log.bestBy(args.metricForBestModel != null ? args.metricForBestModel : args.predictWithGenerate ? "rouge-l" : null,
          args.greaterIsBetter);
      if (args.needsReference()) reference = reference(m, lora != null, device, dtype);
      if (args.isKto()) objective = new KtoObjective(m, reference, args.ktoSettings());
      if (args.rlhfType != null && objective == null && !args.isGrpo() && !args.isGkd() && !args.isPpo())
        objective = new PreferenceObjective(m, reference, args.preferenceMix());
      if (args.isGkd()) {
        CausalLM teacher = CausalLM.load(args.teacherModel, device, dtype, CausalLM.Quantization.NONE);
        try {
          List<String> stops = template.encodePrompt(jswift.template.Conversation.of(
              new jswift.template.Message(jswift.template.Role.USER, "hi"))).stopWords();
          objective = new GkdStep(m, teacher, tok, stops, args.gkdSettings(), lora != null ? "default" : null, args.seed);
        } catch (RuntimeException e) {
          teacher.close();
          throw e;
        }
        console.printf("teacher model: %s (%.1f MiB)%n", args.teacherModel, teacher.weightBytes() / 1048576.0);
      }
      if ((args.isGrpo() || args.isPpo()) && args.rewardModel != null) {
        rewardModel = RewardModelScorer.load(args.rewardModel, device, dtype);
        console.printf("reward model: %s%n", args.rewardModel);
      }
      ppo = args.isPpo() ? new PpoStep(m, tok, template, args.ppoSettings(), "default", reference, rewardModel,
          valueModel) : null;
      grpo = args.isGrpo() ? new GrpoStep(m, tok, template,
          args.grpoSettings(rewardModel != null ? List.of(rewardModel) : List.of()), lora != null ? "default" : null, reference,
          args.logCompletions ? runDir.resolve("completions.jsonl") : null) : null;
      if (lora != null && lora.isAdaLora()) {
        lora = lora.with("total_step", com.fasterxml.jackson.databind.node.LongNode.valueOf(totalSteps));
        adaLora = new jswift.tuner.AdaLoraAllocator(m, "default", lora, totalSteps);
      }
      checkpoints = new Checkpoints(runDir, args.saveTotalLimit, lora,
          // a whole model saved takes its config and tokenizer files from the folder trained; an adapter records
          // the original base (infer / export extend it again from args.json's new_special_tokens)
          extendedVocab != null && !args.isAdapterTuning() && !args.isSwiftTuner() ? extendedVocab
              : expanded != null ? expanded : args.model.toAbsolutePath(), m.config());
      checkpoints.saveBeside(savedBeside, args.isSequenceClassification() ? args.problemType()
          : jswift.model.ProblemType.REGRESSION);
      checkpoints.saveOnlyModel(args.saveOnlyModel);
      if (args.trainType.equals("adapter")) {
        jswift.tuner.SwiftAdapterFolder.Config adapter = args.bottleneckAdapter();
        checkpoints.saveTunerWith((model, dir) -> jswift.tuner.SwiftAdapterFolder.save(model, "default", adapter, dir));
      } else if (args.trainType.equals("reft")) {
        jswift.tuner.ReftFolder.Config reft = args.reft();
        checkpoints.saveTunerWith((model, dir) -> jswift.tuner.ReftFolder.save(model, "default", reft, dir));
      }
      if (adaLora != null) {
        LoraConfig adaConfig = lora;
        checkpoints.saveConfigFrom(() -> adaConfig.withAdaLoraRankPattern(adaLora.rankPattern()));
        checkpoints.addState(adaLora::state);
      }
      if (objective != null) checkpoints.addState(objective::state);
      Set<Parameter> fresh = Set.of();
      if (lisa != null) {
        // The layers of the first step's interval train before the checkpoint's moments are loaded into them.
        long first = args.resumeFromCheckpoint == null ? 1 : Checkpoints.savedStep(args.resumeFromCheckpoint) + 1;
        lisa.beforeStep(first, optimizer);
        fresh = lisa.freshAt(first);
      }
      if (args.resumeFromCheckpoint != null) {
        // --resume_only_model: the weights alone (the optimizer, the objective's and AdaLoRA's state start afresh);
        // the run goes on from the checkpoint's step and data position unless --ignore_data_skip, which then starts
        // at step 1. --ignore_data_skip alone keeps everything but the data position.
        JsonNode state = Checkpoints.restore(args.resumeFromCheckpoint, trainable, optimizer, fresh,
            args.resumeOnlyModel);
        if (lora != null && lora.isVera()) loadVeraProjections(m, args.resumeFromCheckpoint);
        if (args.trainType.equals("reft")) jswift.tuner.ReftFolder.restoreRotations(m, "default", args.resumeFromCheckpoint);
        if (!args.resumeOnlyModel) {
          try (jswift.model.SafetensorsFile f = jswift.model.SafetensorsFile.open(
              args.resumeFromCheckpoint.resolve(Checkpoints.OPTIMIZER))) {
            if (objective != null) objective.restore(f);
            if (adaLora != null) adaLora.restore(f, LoraConfig.read(args.resumeFromCheckpoint));
          }
        }
        if (!(args.resumeOnlyModel && args.ignoreDataSkip)) {
          checkpoints.restoreBest(state);
          startStep = state.path("global_step").asLong() + 1;
          if (!args.ignoreDataSkip)
            samples.seek(state.path("data_epoch").asInt(), state.path("data_position").asInt(),
                state.path("data_chunk").asInt(0));
          // The history so far, as transformers' trainer_state keeps it: later checkpoints and images/ show the
          // whole run, not just the part after the resume.
          for (JsonNode n : state.path("log_history"))
            if (n.isObject()) log.history.add((com.fasterxml.jackson.databind.node.ObjectNode) n);
        }
      }
      TrainingLog.writeArgs(runDir.resolve("args.json"), args);
      // PiSSA / OLoRA: the initial adapter, from which every checkpoint's converted/default is computed (ms-swift).
      if (lora != null && jswift.tuner.ResidualInit.changesBase(lora.fields().get("init_lora_weights")))
        jswift.tuner.ConvertedAdapter.saveInitial(m, "default", lora, args.model.toAbsolutePath().toString(), runDir);
      ok = true;
    } finally {
      if (!ok) {
        if (objective != null) objective.close();
        if (rewardModel != null) rewardModel.close();
        if (reference != null) reference.close();
        if (valueModel != null) valueModel.close();
        if (d != null) d.close();
        if (tok != null) tok.close();
        if (m != null) m.close();
        deleteScratchFolders();
      }
    }
    this.model = m;
    this.tokenizer = tok;
    this.data = d;
  }

  /**
   * The reference model of DPO, KTO and GRPO: with LoRA the base without the adapter (no second copy), unless
   * --ref_model names another model; with full training a frozen second copy of --ref_model or --model (the
   * LLaMA-Pro expansion, whose new blocks start as identities, for llamapro).
   */
  private ReferenceModel reference(CausalLM policy, boolean lora, Device device, DType dtype) throws IOException {
    Path own = expanded != null ? expanded : extendedVocab != null ? extendedVocab : args.model;
    boolean sameModel = args.refModel == null
        || args.refModel.toAbsolutePath().normalize().equals(args.model.toAbsolutePath().normalize());
    Path refAdapter = args.refAdapters.isEmpty() ? null : args.refAdapters.get(0);
    if (lora && sameModel && refAdapter == null) return ReferenceModel.adapterOff(policy, "default");
    if (lora && sameModel) {  // the same base, with the reference adapter (frozen) in place of the trained one
      policy.loadAdapter("ref", jswift.tuner.ResidualInit.forOriginalBase(refAdapter));
      policy.setActiveAdapter("default");
      console.printf("reference model: the base with the adapter %s%n", refAdapter);
      return ReferenceModel.adapterSwap(policy, "ref", "default");
    }
    Path dir = args.refModel != null ? args.refModel : own;
    CausalLM r = CausalLM.load(dir, device, dtype, args.quantization());
    try {
      if (refAdapter != null) {
        r.loadAdapter("ref", jswift.tuner.ResidualInit.forOriginalBase(refAdapter));
        r.setActiveAdapter("ref");
      }
      ReferenceModel ref = ReferenceModel.separate(r, policy, dir.toString());
      console.printf("reference model: %s (frozen, %.1f MiB)%n", dir, r.weightBytes() / 1048576.0);
      return ref;
    } catch (RuntimeException e) {
      r.close();
      throw e;
    }
  }

  /** The LoRA settings of the adapter a run starts from (--adapters): its own r, alpha, targets and dropout. */
  private LoraConfig startingAdapter(Path dir) throws IOException {
    LoraConfig c = LoraConfig.read(jswift.tuner.ResidualInit.forOriginalBase(dir));
    if (c.isAdaLora())
      throw new IllegalArgumentException("--adapters " + dir + " is an AdaLoRA adapter, saved with only the singular "
          + "values it kept: continue its run with --resume_from_checkpoint, or use it as it is (infer, export)");
    String fits = c.isVera() ? "vera" : c.isIa3() ? "ia3" : c.isBoft() ? "boft" : c.isFourierFt() ? "fourierft"
        : c.isMiss() ? "bone" : "lora";
    if (!args.trainType.equals(fits) && !(fits.equals("lora") && args.isLora()))
      throw new IllegalArgumentException("--adapters " + dir + " is a " + c.peftType() + " adapter: continue it with "
          + "--train_type " + fits);
    if (c.isVera() || c.isIa3() || c.isBoft() || c.isFourierFt() || c.isMiss()) return c;
    return c.withInitLoraWeights(com.fasterxml.jackson.databind.node.BooleanNode.TRUE);  // its weights replace the init
  }

  /** A VeRA adapter's vectors were trained against its saved projections: the run takes those too. */
  private static void loadVeraProjections(CausalLM m, Path dir) throws IOException {
    Path file = dir.resolve(jswift.tuner.PeftAdapterWriter.WEIGHTS);
    String a = jswift.nn.VeraProjections.A_KEY, b = jswift.nn.VeraProjections.B_KEY;
    try (jswift.model.SafetensorsFile f = jswift.model.SafetensorsFile.open(file)) {
      // save_projection false: the run's projections, drawn from the adapter's projection_prng_key, are the same
      if (f.contains(a) && f.contains(b)) jswift.tuner.VeraTuner.useProjections(m, "default", f.floats(a), f.floats(b));
    }
  }

  /** Copies the adapter folder's tensors into the run's adapter parameters (the same PEFT names). */
  private static void loadWeights(List<Parameter> params, Path dir) throws IOException {
    Path file = jswift.tuner.ResidualInit.forOriginalBase(dir).resolve(jswift.tuner.PeftAdapterWriter.WEIGHTS);
    try (jswift.model.SafetensorsFile f = jswift.model.SafetensorsFile.open(file)) {
      for (Parameter p : params) {
        if (!f.contains(p.name()))
          throw new IOException(file + " has no " + p.name() + ": --adapters needs an adapter of this model");
        long[] shape = f.entry(p.name()).shape(), want = jswift.tuner.PeftLayout.savedShape(p);
        // PEFT keeps some vectors 2-D (IA3's [out, 1] / [1, in], AdaLoRA's E [r, 1]): compare without the 1s
        if (!java.util.Arrays.equals(squeezed(shape), squeezed(want)))
          throw new IOException(file + ": " + p.name() + " has shape " + java.util.Arrays.toString(shape) + ", this "
              + "model's is " + java.util.Arrays.toString(want));
        float[] v = jswift.tuner.PeftLayout.read(f, p);
        p.value().copyFrom(v);
        if (p.master() != null && p.master() != p.value()) p.master().copyFrom(v);
      }
    }
  }

  private static long[] squeezed(long[] shape) {
    return java.util.Arrays.stream(shape).filter(d -> d != 1).toArray();
  }

  /** The samples of {@code rows} in this run's layout (a classifier's stream reads its rows' labels). */
  private SampleStream stream(RowList rows, int packTo, int splitLength) {
    SampleStream s = new SampleStream(rows, template, args.seed, packTo, splitLength, layout());
    if (args.isEmbedding())
      return s.embedding(embeddingInput, maxLength, Truncation.parse(args.truncationStrategy));
    return args.isSequenceClassification() ? s.classifying(args.problemType(), args.numLabels) : s;
  }

  /**
   * How the run's batches hold their samples: preference pairs, KTO's rows and KL pairs, a classifier's rows, or
   * single sequences.
   */
  private SampleStream.Layout layout() {
    if (args.isSequenceClassification()) return SampleStream.Layout.CLASSIFY;
    if (args.isEmbedding()) return SampleStream.Layout.EMBEDDING;
    if (args.isReranker()) return SampleStream.Layout.RERANK;
    if (args.isKto()) return SampleStream.Layout.KTO;
    if (args.rlhfType == null || args.isGrpo() || args.isPpo() || args.isGkd()) return SampleStream.Layout.SINGLE;
    return SampleStream.Layout.PAIRS;  // DPO & co., reward models
  }

  /** output/&lt;model dir name&gt;/vN-YYYYMMDD-HHMMSS, N one more than the versions already there. */
  private static Path newRunDir(TrainArguments args) throws IOException {
    Path base = args.outputDir.resolve(args.model.toAbsolutePath().normalize().getFileName().toString());
    if (!args.addVersion) {
      Files.createDirectories(base);
      return base;
    }
    Files.createDirectories(base);
    int next = 0;
    try (var s = Files.list(base)) {
      for (Path p : (Iterable<Path>) s::iterator) {
        String n = p.getFileName().toString();
        if (n.matches("v\\d+-.*")) next = Math.max(next, Integer.parseInt(n.substring(1, n.indexOf('-'))) + 1);
      }
    }
    String stamp = LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss"));
    Path dir = base.resolve("v" + next + "-" + stamp);
    Files.createDirectories(dir);
    return dir;
  }

  public Path runDir() {
    return runDir;
  }

  public CausalLM model() {
    return model;
  }

  public long totalSteps() {
    return totalSteps;
  }

  /** The decoder layers LISA trains now, ascending (empty without LISA). */
  public int[] lisaActiveLayers() {
    return lisa == null ? new int[0] : lisa.activeLayers();
  }

  /** What this run trains (an adapter's tensors, or the model's weights), in the optimizer's order. */
  public List<Parameter> trainableParameters() {
    return List.copyOf(trainable);
  }

  /** Bytes of AdamW state held now (LISA: the always-trained parameters and the active layers only). */
  public long optimizerStateBytes() {
    return optimizer.stateBytes();
  }

  /** Runs to the end (or to a non-finite loss, which throws after logging it). */
  public Result train() throws IOException {
    try {
      if (args.cudaGraphs) {
        int tokens = Math.multiplyExact(args.perDeviceTrainBatchSize, args.maxLength);
        graphs = new GraphedMicroSteps(model, tokens, args.maxLength, console);
        console.printf("cuda_graphs: every micro-batch is padded to %d x %d = %d tokens and replayed from a graph%s%n",
            args.perDeviceTrainBatchSize, args.maxLength, tokens, device.isCpu()
                ? " (on the CPU a graph is a recording of the calls: it checks the graph path, it is not faster)"
                : args.packing ? "" : "; --packing true fills that length with samples instead of padding");
      }
      return trainSteps();
    } finally {
      if (prefetch != null) prefetch.close();  // ends the prefetch thread, on success and on failure alike
      prefetch = null;
      if (graphs != null) {
        console.printf("cuda_graphs: %d micro-steps replayed, %d run eagerly, %d captures%n", graphs.replays(),
            graphs.eagerSteps(), graphs.captures());
        graphs.close();
      }
      graphs = null;
    }
  }

  private BatchPrefetcher prefetch;  // the data prefetch of the train() running now
  private GraphedMicroSteps graphs;  // --cuda_graphs

  private Result trainSteps() throws IOException {
    console.printf("jswift %s: %s on %s (%s weights, %.1f MiB), %d trainable %sparameters (%d tensors), "
        + "%d training rows, %d steps%n", args.pretrain ? "pt" : objective != null ? objective.describe()
        : ppo != null ? "rlhf (ppo, kl_coef " + args.klCoef + ", " + args.ppoPrompts() + " prompts an update, "
        + args.numPpoEpochs + " epochs of " + args.numMiniBatches + " mini-batch(es))"
        : grpo != null ? "rlhf (grpo, beta " + grpo.beta() + ", " + args.numGenerations
        + " completions per prompt)" : "sft", args.model, device,
        model.quantization() == CausalLM.Quantization.NONE ? model.dtype().torchName() : model.quantization().name(),
        model.weightBytes() / 1048576.0, trainable.stream().mapToLong(Parameter::numel).sum(),
        args.trainType.equals("lora") ? "LoRA " : args.trainType.equals("longlora") ? "LongLoRA " : args.trainType.equals("vera") ? "VeRA "
        : args.trainType.equals("adalora") ? "AdaLoRA " : args.trainType.equals("ia3") ? "IA3 "
        : args.trainType.equals("boft") ? "BOFT " : args.trainType.equals("fourierft") ? "FourierFT "
        : args.trainType.equals("bone") ? "MiSS " : args.trainType.equals("adapter") ? "bottleneck adapter "
        : args.trainType.equals("reft") ? "ReFT " : "",
        trainable.size(),
        data.trainList().size(), totalSteps);
    reportOptimizerState();
    double first = Double.NaN, last = Double.NaN;
    Path lastCheckpoint = null;
    int accumulation = args.gradientAccumulation();
    if (startStep > 1) console.printf("resuming from %s at step %d%n", args.resumeFromCheckpoint, startStep);
    if (device.isCpu() && "PASSIVE".equalsIgnoreCase(System.getenv("OMP_WAIT_POLICY")))
      console.println("note: OMP_WAIT_POLICY=PASSIVE makes every parallel CPU op wake sleeping threads (~50 us each; "
          + "the quick start trains ~25% slower): unset it (see README, Threads)");
    if (llamaPro != null) {
      console.printf("LLaMA-Pro: %d new blocks at layers %s of %d (copies of the block before each, o_proj and down_proj"
          + " zeroed)%n", llamaPro.newBlocks().size(), llamaPro.newBlocks(), llamaPro.layers());
    }
    if (lisa != null) {
      console.printf("LISA: %d of %d decoder layers train at a time, redrawn every %d steps; layers %s until step %d%n",
          args.lisaActivatedLayers, lisa.layerCount(), args.lisaStepInterval,
          java.util.Arrays.toString(lisa.activeLayers()), Math.min(lisa.intervalEnd(), totalSteps));
    }
    // --galore_optim_per_parameter: each weight steps (and frees its gradient) as the backward completes it
    if (args.galoreOptimPerParameter) model.onGradientsReady(optimizer::stepParameters);
    // the peak from here on is training's (loading may pass through a dense copy of a weight it quantizes)
    Kernels.resetPeakMemory(device);
    // --- data prefetch (--dataloader_num_workers): the next step's batches are prepared while this one computes ---
    DataCursor cursor = samples.cursor();
    if (grpo == null && ppo == null)  // GRPO's and PPO's batches are the completions they sample at each step
      prefetch = new BatchPrefetcher(samples, args.perDeviceTrainBatchSize, accumulation,
          Math.max(0, totalSteps - startStep + 1), args.dataloaderWorkers() > 0);
    model.takeTokenAccuracy();  // the log's token accuracy counts this run's micro-steps only
    for (long step = startStep; step <= totalSteps; step++) {
      if (lisa != null && lisa.beforeStep(step, optimizer)) {
        log.event(step, "LISA: layers " + java.util.Arrays.toString(lisa.activeLayers()) + " train until step "
            + Math.min(lisa.intervalEnd(), totalSteps));
      }
      if (ppo != null) {
        long seed = args.seed * 1_000_003L + step * 7_919L;
        PpoStep.Rollout r = ppo.rollout(ppo.nextPrompts(samples, args.ppoPrompts()), seed);
        cursor = samples.cursor();
        double lr = schedule.rate(step);
        PpoStep.Metrics done = ppo.update(r, seed, () -> {
          optimizer.enqueueStep((float) lr);
          optimizer.zeroGrad();
        });
        ppo.logMetrics(log, r, done);
        if (!Double.isFinite(done.loss())) throw nonFinite(step, done.loss(), lastCheckpoint);
        if (step == startStep) first = done.loss();
        last = done.loss();
        int tokens = 0;
        for (PpoLoss.Sample x : r.samples()) tokens += x.length();
        log.step(step, done.loss(), log.writes(step) ? optimizer.lastGradNorm() : -1, lr, cursor.epochProgress(),
            tokens, noTokenAccuracy(), device);
        lastCheckpoint = afterStep(step, cursor, lastCheckpoint);
        if (stoppedEarly > 0) break;
        continue;
      }
      if (grpo != null) {
        rollout = rollout(step, accumulation);
        cursor = samples.cursor();
        double loss = grpoStep(step, rollout, accumulation);
        if (adaLora != null) loss += adaLora.addOrthogonalRegularization();
        if (!Double.isFinite(loss)) throw nonFinite(step, loss, lastCheckpoint);
        double lr = schedule.rate(step);
        optimizer.enqueueStep((float) lr);
        allocateRanks(step);
        optimizer.zeroGrad();
        if (step == startStep) first = loss;
        last = loss;
        log.step(step, loss, log.writes(step) ? optimizer.lastGradNorm() : -1, lr, cursor.epochProgress(),
            grpoTokens, noTokenAccuracy(), device);
        lastCheckpoint = afterStep(step, cursor, lastCheckpoint);
        if (stoppedEarly > 0) break;
        continue;
      }
      BatchPrefetcher.Step prepared = prefetch.next();
      cursor = prepared.cursor();
      List<Batch> micro = prepared.micro();
      if (objective != null) micro = objective.prepare(micro, step);
      double normalizer = 0;
      int tokens = 0;
      for (Batch b : micro) {
        if (objective == null) normalizer += b.targetWeight();
        tokens += b.tokens();
      }
      if (objective != null) normalizer = objective.normalizer(micro);  // rlhf: the step's pairs, rows or tokens
      if (normalizer == 0) {
        console.printf("step %d: no token of its %d samples carries a loss; skipped%n", step, accumulation);
        continue;
      }
      double loss = 0;
      if (args.galoreOptimPerParameter) optimizer.beginSplitStep((float) schedule.rate(step));
      for (int i = 0; i < micro.size(); i++) {
        if (!learnsFrom(micro.get(i))) continue;
        // Dropout masks: a fixed seed (a graph bakes it in) and the micro-step's number as the device's dropout
        // step, so eager and graph-replayed runs draw the same masks, and a resumed run the masks it would have.
        long seed = args.seed * 1_000_003L, dropoutStep = (step - 1) * accumulation + i + 1;
        if (objective != null) {
          Kernels.setDropoutStep(device, dropoutStep);
          loss += objective.microStep(micro, i, seed, normalizer, log);
        } else if (graphs != null) {
          loss += graphs.forwardBackward(micro.get(i), seed, dropoutStep, normalizer);
        } else {
          Kernels.setDropoutStep(device, dropoutStep);
          loss += model.forwardBackward(micro.get(i), seed, normalizer);
        }
      }
      if (adaLora != null) loss += adaLora.addOrthogonalRegularization();
      if (!Double.isFinite(loss)) throw nonFinite(step, loss, lastCheckpoint);
      double lr = schedule.rate(step);
      // The grad norm is only logged: read from the device (a wait) only on the steps the log writes.
      float gradNorm;
      if (args.galoreOptimPerParameter) {
        gradNorm = optimizer.finishSplitStep();
        optimizer.zeroGrad();
      } else {
        if (graphs != null) {
          optimizer.enqueueStepAndZeroGrad((float) lr);  // the update from a graph too
        } else {
          optimizer.enqueueStep((float) lr);
          allocateRanks(step);
          optimizer.zeroGrad();
        }
        gradNorm = log.writes(step) ? optimizer.lastGradNorm() : -1;
      }
      if (step == startStep) first = loss;
      last = loss;
      log.step(step, loss, gradNorm, lr, cursor.epochProgress(), tokens, model.takeTokenAccuracy(), device);
      lastCheckpoint = afterStep(step, cursor, lastCheckpoint);
      if (stoppedEarly > 0) break;
    }
    log.close();
    long done = stoppedEarly > 0 ? stoppedEarly : totalSteps;
    console.printf("done: %d steps%s, loss %.4f -> %.4f; last checkpoint %s%n", done, stoppedEarly > 0
        ? " (stopped early)" : "", first, last, lastCheckpoint);
    Path best = checkpoints.best();
    // ms-swift's closing lines, which scripts grep for
    console.printf("last_model_checkpoint: %s%nbest_model_checkpoint: %s%n", lastCheckpoint == null ? "None"
        : lastCheckpoint, best == null ? "None" : best);  // ms-swift prints Python's None
    if (args.createCheckpointSymlink) {
      symlink(runDir.resolve("last"), lastCheckpoint);
      if (best != null) symlink(runDir.resolve("best"), best);
    }
    return new Result(runDir, done, first, last, lastCheckpoint, cursor.skippedTooLong(), best);
  }

  /** --create_checkpoint_symlink: {@code link} -> {@code target} (relative, so the run folder can move), replaced. */
  private static void symlink(Path link, Path target) throws IOException {
    if (target == null) return;
    java.nio.file.Files.deleteIfExists(link);
    java.nio.file.Files.createSymbolicLink(link, link.getParent().relativize(target));
  }

  /** AdaLoRA: after the update, with the step's gradients still there, score and prune the singular values. */
  private void allocateRanks(long step) {
    if (adaLora == null) return;
    adaLora.afterStep(step);
    if (log.writes(step)) log.metric("adalora_ranks", (double) adaLora.keptRanks());
  }

  /** Logs a non-finite loss and returns the error that stops the run (before the optimizer step). */
  private IllegalStateException nonFinite(long step, double loss, Path lastCheckpoint) throws IOException {
    log.event(step, "non-finite loss " + loss + (args.galoreOptimPerParameter
        ? ": stopping (--galore_optim_per_parameter already applied this step's updates during the backward)"
        : ": stopping before the optimizer step")
        + (lastCheckpoint == null ? "" : "; the last good checkpoint is " + lastCheckpoint));
    drawPlots();
    log.close();
    return new IllegalStateException("training loss became " + loss + " at step " + step
        + " (try a lower --learning_rate, or --max_grad_norm); "
        + (lastCheckpoint == null ? "no checkpoint was saved yet" : "last good checkpoint: " + lastCheckpoint));
  }

  /** After a step's update: the memory report, evaluation and checkpoint on their schedules; the last checkpoint. */
  private Path afterStep(long step, DataCursor cursor, Path lastCheckpoint) throws IOException {
    if (args.reportMemory && (step == startStep || step == totalSteps))
      log.memory(step, MemoryReport.measure(model, trainable, optimizer, device));
    if (step % evalEvery == 0 || step == totalSteps) {
      if (prefetch != null) prefetch.quiesce();  // evaluation encodes with the same template (and maybe rows of the same file)
      evaluate(step);
      // ms-swift's early_stop_interval: the best metric has not improved in that many evaluations
      if (args.earlyStopInterval != null && log.evaluationsWithoutImprovement() >= args.earlyStopInterval
          && step < totalSteps) {
        stoppedEarly = step;
        log.event(step, "early stop: the evaluation's metric has not improved in " + args.earlyStopInterval
            + " evaluations (--early_stop_interval)");
      }
    }
    if (step % saveEvery == 0 || step == totalSteps || stoppedEarly == step) {
      lastCheckpoint = checkpoints.save(step, model, trainable, optimizer, cursor, log);
      drawPlots();
    }
    return lastCheckpoint;
  }

  private long stoppedEarly;  // --early_stop_interval: the step the run stopped at (0: none)

  /** Whether a micro-batch has something to learn from: a labelled token for sft, the objective's say otherwise. */
  private boolean learnsFrom(Batch b) {
    return objective != null ? objective.learnsFrom(b) : b.targetCount() > 0;
  }

  private int grpoTokens;  // the tokens of the last GRPO step's training sequences
  private GrpoStep.Rollout rollout;  // GRPO: the generation the current steps train on

  /**
   * GRPO: the generation step {@code step} trains on: a new one every num_iterations steps (its prompts the next of
   * the data, its samples seeded by the step, so a resumed run samples what it would have), else the current one.
   */
  private GrpoStep.Rollout rollout(long step, int accumulation) throws IOException {
    boolean generates = (step - 1) % args.numIterations == 0;
    if (rollout != null && !generates) return rollout;
    if (!generates)
      log.event(step, "resumed inside a generation's " + args.numIterations + " iterations: new completions are "
          + "sampled for the rest of them");
    long seed = args.seed * 1_000_003L + step * 7_919L;
    GrpoStep.Rollout r = grpo.rollout(grpo.nextPrompts(samples, accumulation * args.perDeviceTrainBatchSize
        / args.numGenerations), seed, args.perDeviceTrainBatchSize);
    grpo.logCompletions(step, r);
    return r;
  }

  /** GRPO and PPO log no token accuracy: their targets are the policy's own samples. */
  private long[] noTokenAccuracy() {
    model.takeTokenAccuracy();
    return new long[2];
  }

  /**
   * A GRPO step's forward and backward passes: its completions in micro-batches of per_device_train_batch_size,
   * each scored and backpropagated with its per-token weights; returns the step's loss.
   */
  private double grpoStep(long step, GrpoStep.Rollout rollout, int accumulation) throws IOException {
    grpo.logMetrics(log, rollout);
    double loss = 0, kl = 0;
    int klTokens = 0, clipped = 0, n = rollout.samples().size(), per = args.perDeviceTrainBatchSize;
    grpoTokens = 0;
    for (int i = 0, from = 0; from < n; i++, from += per) {
      GrpoStep.Scored d = grpo.score(rollout, from, Math.min(n, from + per));
      loss += d.loss();
      kl += d.klSum();
      klTokens += d.tokens();
      clipped += d.clipped();
      grpoTokens += d.weighted().tokens();
      if (d.tokens() == 0) continue;  // empty completions: nothing to learn from
      Kernels.setDropoutStep(device, (step - 1) * accumulation + i + 1);
      model.forwardBackward(d.weighted(), args.seed * 1_000_003L, 1.0, grpo.logitTemperature());  // normalised weights
    }
    if (grpo.beta() > 0) log.metric("kl", kl / Math.max(1, klTokens));
    log.metric("clip_ratio/region_mean", (double) clipped / Math.max(1, klTokens));
    return loss;
  }

  /**
   * The optimizer's state memory (moments, plus GaLore's projectors), next to what plain AdamW would keep (two
   * fp32 moments per trainable weight), on the console and in logging.jsonl.
   */
  private void reportOptimizerState() throws IOException {
    long bytes = optimizer.stateBytes(), adamw = 8 * trainable.stream().mapToLong(Parameter::numel).sum();
    String msg = String.format("optimizer state: %d bytes (%.2f MiB)", bytes, bytes / 1048576.0);
    if (args.useGalore) {
      long n = trainable.stream().filter(optimizer::isGaLore).count();
      msg += String.format(" with GaLore rank %d on %d weights; full AdamW would keep %d bytes (%.2f MiB), %.2fx as much",
          args.galoreRank, n, adamw, adamw / 1048576.0, (double) adamw / bytes);
    }
    log.event(startStep - 1, msg);
  }

  // --- images/: the loss, learning rate, grad norm and eval plots, redrawn at each save and at the end ---

  /** Plots are a by-product: a failure to draw them is reported and the run goes on. */
  private void drawPlots() {
    try {
      TrainingPlots.write(runDir.resolve("images"), log.history);
    } catch (IOException | RuntimeException | java.awt.AWTError | LinkageError e) {
      console.println("warning: could not draw the plots in " + runDir.resolve("images") + ": " + e);
    }
  }

  private void evaluate(long step) throws IOException {
    RowList val = data.valList();
    if (val == null || val.size() == 0) return;
    if (grpo != null) {
      evaluateGrpo(step, val);
      return;
    }
    if (ppo != null) {
      evaluatePpo(step, val);
      return;
    }
    SampleStream.Layout layout = layout();
    SampleStream evalSamples = stream(val, 0, samples.splitLength());
    int rowsPerBatch = layout == SampleStream.Layout.PAIRS ? 2 * args.perDeviceEvalBatchSize : args.perDeviceEvalBatchSize;
    Objective.Evaluation rlhf = objective != null ? objective.evaluation() : null;
    double lossSum = 0;
    long targets = 0, correct = 0;
    long batches = (val.size() + args.perDeviceEvalBatchSize - 1) / args.perDeviceEvalBatchSize;
    for (long i = 0; i < batches; i++) {
      Batch b = evalSamples.nextBatchInOrder(rowsPerBatch);
      if (b == null) break;
      if (!learnsFrom(b)) continue;
      if (rlhf != null) {
        rlhf.add(b);
        continue;
      }
      CausalLM.Eval e = model.evaluate(b);
      lossSum += e.lossSum();
      targets += e.targets();
      correct += e.correct();
    }
    if (rlhf != null) rlhf.report(step, log);
    else if (targets > 0) log.eval(step, lossSum / targets, (double) correct / targets,
        args.predictWithGenerate ? generationMetrics(val) : Map.of());
  }

  /**
   * --predict_with_generate: greedy answers (up to --max_new_tokens) to the validation rows' prompts, scored against
   * each row's last assistant message as ms-swift's NLG metrics are reported: the mean ROUGE-1 / ROUGE-2 / ROUGE-L F1
   * and BLEU-4, x 100 ({@link jswift.eval.TextOverlap}'s words: lower-cased letter / digit runs, CJK characters
   * alone).
   */
  private Map<String, Double> generationMetrics(RowList val) {
    String[] names = {"rouge-1-f", "rouge-2-f", "rouge-l-f", "bleu-4"};
    double[] sums = new double[names.length];
    int n = 0, batch = Math.max(1, args.perDeviceEvalBatchSize);
    for (int first = 0; first < val.size(); first += batch) {
      List<jswift.infer.ChatCompletion.Request> requests = new ArrayList<>();
      List<String> references = new ArrayList<>();
      for (int i = first; i < Math.min(val.size(), first + batch); i++) {
        jswift.data.Row row = val.get(i);
        jswift.template.Conversation c = jswift.template.Conversation.fromJson(row.toJson());
        List<jswift.template.Message> m = c.messages();
        if (m.isEmpty() || m.get(m.size() - 1).role() != jswift.template.Role.ASSISTANT) continue;
        references.add(m.get(m.size() - 1).content());
        requests.add(new jswift.infer.ChatCompletion.Request(template.encodePrompt(c),
            jswift.infer.GenerationConfig.greedy(args.maxNewTokens, tokenizer.eosTokenIds()), 1, null));
      }
      if (requests.isEmpty()) continue;
      List<jswift.infer.ChatCompletion.Result> answers = jswift.infer.ChatCompletion.generate(model, tokenizer, requests);
      for (int i = 0; i < answers.size(); i++) {
        Map<String, Double> s = jswift.eval.TextOverlap.score(answers.get(i).choices().get(0).text(), references.get(i));
        for (int k = 0; k < names.length; k++) sums[k] += s.get(names[k]);
        n++;
      }
    }
    Map<String, Double> out = new java.util.LinkedHashMap<>();
    if (n == 0) return out;
    String[] shown = {"eval_rouge-1", "eval_rouge-2", "eval_rouge-l", "eval_bleu-4"};
    for (int k = 0; k < names.length; k++) out.put(shown[k], 100 * sums[k] / n);
    return out;
  }

  /** PPO's evaluation: the reward model's mean score of the policy's responses to the validation prompts. */
  private void evaluatePpo(long step, RowList val) throws IOException {
    List<RowPrompt> prompts = new ArrayList<>();
    for (int i = 0; i < val.size(); i++) {
      RowPrompt p = RowPrompt.encode(val.get(i), template);
      if (p != null) prompts.add(p);
    }
    if (prompts.size() < 2) return;  // the rollout whitens over its responses
    PpoStep.Rollout r = ppo.rollout(prompts, args.seed);
    double score = 0;
    for (double x : r.values().scores()) score += x;
    log.evalMetrics(step, java.util.Map.of("eval_score", score / prompts.size()));
  }

  /** GRPO's evaluation: the mean reward of num_generations completions of each validation prompt. */
  private void evaluateGrpo(long step, RowList val) throws IOException {
    double reward = 0;
    int completions = 0;
    for (int first = 0; first < val.size(); first += args.perDeviceEvalBatchSize) {
      List<RowPrompt> prompts = new ArrayList<>();
      for (int i = first; i < Math.min(val.size(), first + args.perDeviceEvalBatchSize); i++) {
        RowPrompt p = grpo.encode(val.get(i));
        if (p != null) prompts.add(p);
      }
      if (prompts.isEmpty()) continue;
      for (GrpoStep.Sample x : grpo.rollout(prompts, args.seed + first, 0).samples()) {
        reward += x.reward();
        completions++;
      }
    }
    if (completions > 0) log.evalMetrics(step, java.util.Map.of("eval_reward", reward / completions));
  }

  @Override
  public void close() {
    if (objective != null) objective.close();
    if (rewardModel != null) rewardModel.close();
    if (reference != null) reference.close();
    if (valueModel != null) valueModel.close();
    optimizer.close();
    data.close();
    tokenizer.close();
    model.close();
    deleteScratchFolders();
  }

  /**
   * The run's scratch model folders (LLaMA-Pro's expansion, the --new_special_tokens extension, PPO's merged value
   * model), deleted at the end; a folder that cannot be deleted is reported, not fatal.
   */
  private void deleteScratchFolders() {
    for (Path scratch : new Path[] {expanded, extendedVocab, valueScratch}) {
      if (scratch == null) continue;
      try {
        Checkpoints.deleteTree(scratch);
      } catch (IOException e) {
        console.printf("could not delete the scratch folder %s: %s%n", scratch, e.getMessage());
      }
    }
  }
}
