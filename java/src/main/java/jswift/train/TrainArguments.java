package jswift.train;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Every setting of a {@code jswift sft} / {@code pt} run, named and defaulted as ms-swift 3.x names them
 * (fields are the CLI flags without dashes; null means "derive it", as in ms-swift). Saved as args.json in the
 * run's output folder. Build one in Java and pass it to {@link Trainer}, or let the command line fill it.
 */
public final class TrainArguments {
  // model and tuner
  public Path model;
  public String trainType = "lora";
  public boolean pretrain;        // jswift pt: plain text, no chat template, every token labelled
  public String rlhfType;         // jswift rlhf: dpo, cpo, simpo, orpo (preference pairs), kto, grpo; null for sft / pt
  public Double beta;             // rlhf: null resolves to ms-swift's default (SimPO 2.0, GRPO 0.04, the others 0.1)
  public String lossType;         // null: DPO sigmoid (the DPO paper's, TRL's default), GRPO grpo
  public double discopopTau = 0.05;  // DPO --loss_type discopop
  public List<String> lossTypeMix = List.of();   // DPO: several --loss_type values, summed (MPO); else empty
  public List<Double> lossWeights = List.of();   // their weights (empty: 1 each)
  public double labelSmoothing;   // DPO (sigmoid, robust): the share of preference labels assumed flipped (cDPO)
  public double simpoGamma = 1.0; // SimPO's target reward margin
  public double cpoAlpha = 1.0;   // CPO / SimPO: the weight of the chosen answers' NLL
  public Double rpoAlpha;         // DPO: the weight of the chosen answers' NLL (RPO); null: none, as ms-swift 3.x
  public Path refModel;           // DPO / KTO / GRPO: a separate reference model; null: LoRA's base without the
                                  // adapter, or for full training a second copy of --model
  public double desirableWeight = 1.0, undesirableWeight = 1.0;  // KTO's class weights
  public Double centerRewardsCoefficient;  // RM: weight of (r(chosen) + r(rejected))^2; null: none
  public Path teacherModel;       // GKD: the teacher
  public double lmbda = 0.5;      // GKD: the share of micro-batches whose answers the student samples (on-policy)
  public boolean seqKd;           // GKD: otherwise the teacher writes the answers (sequence-level KD)
  // GRPO (--rlhf_type grpo), with ms-swift's defaults
  public List<String> rewardFuncs = new ArrayList<>();
  public List<Path> externalPlugins = new ArrayList<>();  // jars with RewardFunction services
  public Path rewardModel;        // a reward model adapter (jswift rlhf --rlhf_type rm) scoring completions
  public transient List<RewardFunction> rewardFunctions = new ArrayList<>();  // Java API: rewards given as objects
  public List<Double> rewardWeights;  // null: 1 for each reward function
  public int numGenerations = 8;
  public int maxCompletionLength = 512;
  public float temperature = 0.9f;
  public int topK = 50;
  public float topP = 0.9f;
  public float repetitionPenalty = 1f;
  public boolean scaleRewards = true;
  public int numIterations = 1;
  public double epsilon = 0.2;
  public Double epsilonHigh;      // null: epsilon
  public boolean logCompletions;
  // PPO (--rlhf_type ppo), ms-swift's PPOArguments (TRL's PPOConfig names and defaults)
  public int numPpoEpochs = 4;
  public boolean whitenRewards;
  public double klCoef = 0.05;
  public double cliprange = 0.2;
  public double vfCoef = 0.1;
  public double cliprangeValue = 0.2;
  public double gamma = 1.0;
  public double lam = 0.95;
  public int numMiniBatches = 1;
  public int localRolloutForwardBatchSize = 64;  // accepted; jswift scores a rollout per_device_train_batch_size at a time
  public int numSampleGenerations = 10;          // accepted; evaluation reports the validation prompts' mean score
  public Integer responseLength;  // null: --max_completion_length
  public Double missingEosPenalty;
  public double cosineMinLenValueWrong = -0.5, cosineMaxLenValueWrong = 0.0, cosineMinLenValueCorrect = 1.0,
      cosineMaxLenValueCorrect = 0.5;
  public Integer cosineMaxLen;    // null: max_completion_length
  public int repetitionNGrams = 3;
  public double repetitionMaxPenalty = -1.0;
  public Integer softMaxLength;   // null: max_completion_length
  public Integer softCacheLength;
  public int loraRank = 8;
  public float loraAlpha = 32;
  public float loraDropout = 0.05f;
  public List<String> targetModules = new ArrayList<>(List.of("all-linear"));
  public String targetRegex;
  public boolean useRslora;
  public boolean useDora;
  public String initWeights = "true";
  public int veraRank = 256;      // --train_type vera: ms-swift's vera_* flags and defaults
  public long veraProjectionPrngKey = 0;
  public float veraDropout = 0f;
  public float veraDInitial = 0.1f;
  public Double neftuneNoiseAlpha;
  public List<String> ia3TargetModules = new ArrayList<>(jswift.tuner.Ia3Tuner.DEFAULT_TARGETS);  // --train_type ia3
  public List<String> ia3FeedforwardModules = new ArrayList<>(jswift.tuner.Ia3Tuner.DEFAULT_FEEDFORWARD);
  public String columns;          // --columns: ms-swift's JSON column renames
  public boolean createCheckpointSymlink;  // run folder's best / last links to those checkpoints
  public boolean resumeOnlyModel;  // --resume_from_checkpoint restores the weights alone
  public boolean saveOnlyModel;    // checkpoints without the optimizer state
  public boolean ignoreDataSkip;   // a resume does not seek the data to where the checkpoint left it
  public Long dataSeed;           // --data_seed (null: --seed)
  public boolean valDatasetShuffle;
  public boolean streaming;       // refused: the trainer needs random access to its rows
  public String attnImpl;         // accepted values only; jswift's attention is its own flash kernels
  public String tunerBackend;
  public List<String> reportTo = List.of();
  public String taskType = "causal_lm";  // ms-swift's --task_type: causal_lm, or seq_cls (a classifier; rm's too)
  public Integer numLabels;       // --task_type seq_cls: the classifier's labels (required)
  public String agentTemplate;    // --agent_template: tool-call format in training text (null: the template's)
  public boolean useChatTemplate = true;  // false: the template's generation form (query, answer, eos)
  public String metricForBestModel;  // transformers' metric_for_best_model (acc, loss, ...); null: the evaluation's own
  public Boolean greaterIsBetter;    // null: false for a loss, true otherwise
  public Boolean loadBestModelAtEnd; // accepted: the best checkpoint is kept and reported (best_model_checkpoint)
  public Integer earlyStopInterval;  // ms-swift: stop after this many evaluations without improvement
  public boolean predictWithGenerate;  // evaluation also generates answers: ROUGE / BLEU against the references
  public int maxNewTokens = 64;        // --predict_with_generate: the longest generated answer
  public String deepspeed;        // accepted for ms-swift scripts: no effect on one device (noted at start)
  public String problemType;      // --task_type seq_cls: regression | single_label_classification | multi_label_...
  public int boftBlockSize = 4;   // --train_type boft: ms-swift's boft_* flags and defaults
  public int boftBlockNum = 0;
  public int boftNButterflyFactor = 1;
  public float boftDropout = 0f;
  public int fourierNFrequency = 2000;     // --train_type fourierft: ms-swift's fourier_* flags and defaults
  public double fourierScaling = 300.0;
  public int reftRank = 4;                 // --train_type reft: its rank; bone: ms-swift passes reft_rank as MiSS's (Bone's) r
  public int adapterLength = 128;          // --train_type adapter: ms-swift's adapter_length and adapter_act
  public String adapterAct = "gelu";
  public List<Integer> reftLayers;         // --train_type reft: ms-swift's reft_* (null layers: all)
  public String reftInterventionType = "LoreftIntervention";
  public String reftArgs;
  public String reftLayerKey;
  public int adaloraTargetR = 8;  // --train_type adalora: ms-swift's adalora_* flags and defaults
  public int adaloraInitR = 12;
  public int adaloraTinit = 0;
  public int adaloraTfinal = 0;
  @com.fasterxml.jackson.annotation.JsonProperty("adalora_deltaT") public int adaloraDeltaT = 1;
  public double adaloraBeta1 = 0.85;
  public double adaloraBeta2 = 0.85;
  public double adaloraOrthRegWeight = 0.5;  // NEFTune: noise on the input embeddings while training; null: off
  public Double lorapLrRatio;     // LoRA+: lora_B (and 1-D) parameters learn at lr x this; null: off
  public double lorapEmbLr = 1e-6;  // LoRA+ rate of LoRA-on-embedding weights (jswift adapts linears only)
  public List<String> newSpecialTokens = new ArrayList<>();  // tokens (or .txt files of them) added to the tokenizer
  public List<String> modulesToSave = new ArrayList<>();  // trained in full beside the adapter (embed_tokens, lm_head)
  public String device;           // null: cuda when usable, else cpu
  public String quantMethod;      // null or "bnb" (QLoRA: the base's linear layers in 4 bits)
  public Integer quantBits;       // 4 with bnb
  @com.fasterxml.jackson.annotation.JsonProperty("bnb_4bit_quant_type") public String bnb4bitQuantType = "nf4";
  @com.fasterxml.jackson.annotation.JsonProperty("bnb_4bit_use_double_quant") public boolean bnb4bitUseDoubleQuant = true;
  @com.fasterxml.jackson.annotation.JsonProperty("bnb_4bit_compute_dtype") public String bnb4bitComputeDtype;  // null: the model's compute dtype (ms-swift: torch_dtype)
  public String optim = "adamw_torch";  // HF's --optim: the AdamW names jswift's optimizer is
  public String loraBias = "none";
  public String torchDtype;       // null: fp32 on the CPU, bf16 on CUDA

  // LISA (with --train_type full) and LLaMA-Pro (--train_type llamapro), ms-swift's names and defaults
  public int lisaActivatedLayers = 0;       // 0: off
  public int lisaStepInterval = 20;
  public int llamaproNumNewBlocks = 4;
  public Integer llamaproNumGroups;         // null: llamapro_num_new_blocks

  // data and template
  public List<String> dataset = new ArrayList<>();
  public List<String> valDataset = new ArrayList<>();
  public double splitDatasetRatio = 0.0;
  public boolean datasetShuffle = true;
  public boolean datasetSkipBad;
  public String template;         // null: the model family's template
  public String system;
  public Integer maxLength;       // null: the model's max_position_embeddings
  public String truncationStrategy = "delete";
  public String lossScale = "default";
  public boolean packing;
  // --- data prefetch: ms-swift's dataloader_num_workers (None: 1, as ms-swift sets it off Windows); 0 prepares each
  // step's batches on the training thread, >= 1 on one background thread one step ahead (the samples come from one
  // ordered cursor, so more workers would not help: they are accepted and one is used) ---
  public Integer dataloaderNumWorkers;
  public List<String> modelName = new ArrayList<>();
  public List<String> modelAuthor = new ArrayList<>();

  // optimisation
  public int perDeviceTrainBatchSize = 1;
  public int perDeviceEvalBatchSize = 1;
  public Integer gradientAccumulationSteps;   // null: max(1, ceil(16 / batch size))
  public Double learningRate;                 // null: 1e-4 for LoRA, 1e-5 for full
  public double numTrainEpochs = 3;
  public long maxSteps = -1;
  public String lrSchedulerType = "cosine";
  public double warmupRatio = 0.0;
  public long warmupSteps = 0;
  public double weightDecay = 0.1;
  public double adamBeta1 = 0.9;
  public double adamBeta2 = 0.95;
  public double adamEpsilon = 1e-8;
  public double maxGradNorm = 1.0;
  public boolean gradientCheckpointing = true;
  public boolean reportMemory;    // --report_memory: the split of the peak memory after the first and last step
  public boolean cudaGraphs;      // --cuda_graphs: replay each micro-step from a captured graph (fixed shapes)
  public long seed = 42;

  // logging, evaluation, saving
  public int loggingSteps = 5;
  public Integer evalSteps;       // null: save_steps
  public int saveSteps = 500;
  public String saveStrategy = "steps";  // steps, epoch or no (HF's TrainingArguments; no: the final checkpoint only)
  public String evalStrategy = "steps";  // steps, epoch or no
  public Integer saveTotalLimit;  // null: keep all
  public Path outputDir = Path.of("output");
  public boolean addVersion = true;
  public Path resumeFromCheckpoint;
  public List<Path> adapters = new ArrayList<>();     // a LoRA adapter to start from (its settings and weights)
  public List<Path> refAdapters = new ArrayList<>();  // rlhf: the reference is the base with this adapter

  // --- full training: which weights train (ms-swift's freeze_parameters / trainable_parameters) ---
  public List<String> freezeParameters = new ArrayList<>();
  public String freezeParametersRegex;
  public double freezeParametersRatio = 0.0;
  public List<String> trainableParameters = new ArrayList<>();
  public String trainableParametersRegex;

  // --- GaLore (--use_galore, with --train_type full): ms-swift's flags and defaults ---
  public boolean useGalore;
  public List<String> galoreTargetModules;   // null: every linear layer of the decoder (ms-swift's find_all_linears)
  public int galoreRank = 128;
  public int galoreUpdateProjGap = 50;
  public double galoreScale = 1.0;
  public String galoreProjType = "std";
  public boolean galoreOptimPerParameter;
  public boolean galoreWithEmbedding;
  public boolean galoreQuantization;         // Q-GaLore: INT8 weights + lazy projector refresh
  public boolean galoreProjQuant;            // Q-GaLore: INT4 projectors (needs galore_quantization)
  public int galoreProjBits = 4;
  public int galoreProjGroupSize = 256;
  public double galoreCosThreshold = 0.4;
  public int galoreGammaProj = 2;
  public int galoreQueueSize = 5;

  /** Q-GaLore's settings of this run (null unless --galore_quantization). */
  public QGaLoreConfig qgaloreConfig() {
    return useGalore && galoreQuantization ? new QGaLoreConfig(galoreProjQuant, galoreProjBits, galoreProjGroupSize,
        (float) galoreCosThreshold, galoreGammaProj, galoreQueueSize, true, seed) : null;
  }

  /** The GaLore settings of this run (null without --use_galore). */
  public GaLoreConfig galoreConfig() {
    return useGalore ? new GaLoreConfig(galoreRank, galoreUpdateProjGap, (float) galoreScale, galoreTargetModules,
        galoreWithEmbedding) : null;
  }

  /**
   * The adapter's PEFT config: a LoraConfig, or the VeraConfig, AdaLoraConfig, IA3Config, BOFTConfig or
   * FourierFTConfig of --train_type (--target_regex, when given, is PEFT's string target_modules).
   */
  public jswift.tuner.LoraConfig loraConfig() {
    var json = com.fasterxml.jackson.databind.node.JsonNodeFactory.instance;
    jswift.tuner.LoraConfig c = trainType.equals("ia3")
        ? jswift.tuner.LoraConfig.ia3Defaults().withTargetModules(ia3TargetModules).with("feedforward_modules",
            json.arrayNode().addAll(ia3FeedforwardModules.stream().map(json::textNode).toList()))
        : trainType.equals("adalora")
        ? jswift.tuner.LoraConfig.adaLoraDefaults().withR(loraRank).withLoraAlpha(loraAlpha).withLoraDropout(loraDropout)
            .withTargetModules(targetModules).with("init_r", json.numberNode(adaloraInitR))
            .with("target_r", json.numberNode(adaloraTargetR)).with("tinit", json.numberNode(adaloraTinit))
            .with("tfinal", json.numberNode(adaloraTfinal)).with("deltaT", json.numberNode(adaloraDeltaT))
            .with("beta1", json.numberNode(adaloraBeta1)).with("beta2", json.numberNode(adaloraBeta2))
            .with("orth_reg_weight", json.numberNode(adaloraOrthRegWeight))
        : trainType.equals("boft")
        ? jswift.tuner.LoraConfig.boftDefaults().withTargetModules(targetModules)
            .with("boft_block_size", json.numberNode(boftBlockSize)).with("boft_block_num", json.numberNode(boftBlockNum))
            .with("boft_n_butterfly_factor", json.numberNode(boftNButterflyFactor))
            .withLoraDropout(boftDropout)
        : trainType.equals("fourierft")
        ? jswift.tuner.LoraConfig.fourierFtDefaults().withTargetModules(targetModules)
            .with("n_frequency", json.numberNode(fourierNFrequency)).with("scaling", json.numberNode(fourierScaling))
        : trainType.equals("bone")
        ? jswift.tuner.LoraConfig.missDefaults().withR(reftRank).withTargetModules(targetModules)
            .with("init_weights", initWeights.equals("true") || initWeights.equals("false")
                ? json.booleanNode(Boolean.parseBoolean(initWeights)) : json.textNode(initWeights))
        : trainType.equals("vera")
        ? jswift.tuner.LoraConfig.veraDefaults().withR(veraRank).withLoraDropout(veraDropout)
            .withTargetModules(targetModules).with("projection_prng_key", json.numberNode(veraProjectionPrngKey))
            .with("d_initial", json.numberNode((double) veraDInitial))
        : jswift.tuner.LoraConfig.defaults().withR(loraRank).withLoraAlpha(loraAlpha)
        .withLoraDropout(loraDropout).withTargetModules(targetModules).withRslora(useRslora).withDora(useDora)
        .withInitLoraWeights(initWeights.equals("true") || initWeights.equals("false")
            ? com.fasterxml.jackson.databind.node.BooleanNode.valueOf(Boolean.parseBoolean(initWeights))
            : com.fasterxml.jackson.databind.node.TextNode.valueOf(initWeights));
    if (targetRegex != null) c = c.with("target_modules", com.fasterxml.jackson.databind.node.TextNode.valueOf(targetRegex));
    if (!modulesToSave.isEmpty()) {
      var list = com.fasterxml.jackson.databind.node.JsonNodeFactory.instance.arrayNode();
      modulesToSave.forEach(list::add);
      c = c.with("modules_to_save", list);
    }
    return c;
  }

  public int gradientAccumulation() {
    return gradientAccumulationSteps != null ? gradientAccumulationSteps
        : Math.max(1, (int) Math.ceil(16.0 / perDeviceTrainBatchSize));
  }

  public double peakLearningRate() {
    return learningRate != null ? learningRate : trainType.equals("full") ? 1e-5 : 1e-4;
  }

  /** --dataloader_num_workers, resolved (None: 1, as ms-swift resolves it off Windows). */
  public int dataloaderWorkers() {
    return dataloaderNumWorkers != null ? dataloaderNumWorkers : 1;
  }

  public int evalEvery() {
    return evalSteps != null ? evalSteps : saveSteps;
  }

  /**
   * Every how many steps to save ({@code saving}) or evaluate, by --save_strategy / --eval_strategy: steps (every
   * --save_steps / --eval_steps), epoch (every {@code stepsPerEpoch}) or no (never; the run's last step still saves,
   * and evaluates when it has a validation set).
   */
  public long every(boolean saving, long stepsPerEpoch) {
    String strategy = saving ? saveStrategy : evalStrategy;
    return switch (strategy) {
      case "epoch" -> stepsPerEpoch;
      case "no" -> Long.MAX_VALUE;
      default -> saving ? saveSteps : evalEvery();
    };
  }

  /**
   * A LoRA adapter: --train_type lora, or longlora (the same adapter, trained with LongLoRA's shifted sparse
   * attention, as ms-swift 3 trains it).
   */
  public boolean isLora() {
    return trainType.equals("lora") || trainType.equals("longlora");
  }

  /** Trains an adapter (LoRA or VeRA) beside a frozen base, rather than the model's own weights. */
  public boolean isAdapterTuning() {
    return List.of("lora", "longlora", "vera", "adalora", "ia3", "boft", "fourierft", "bone").contains(trainType);
  }

  /** ms-swift's own tuners (a bottleneck adapter, ReFT): they add modules beside a frozen base, saved its way. */
  public boolean isSwiftTuner() {
    return trainType.equals("adapter") || trainType.equals("reft");
  }

  private void validateAdaLora() {
    if (adaloraTargetR <= 0 || adaloraInitR < adaloraTargetR)
      throw new IllegalArgumentException("--adalora_target_r must be > 0 and at most --adalora_init_r, got "
          + adaloraTargetR + " and " + adaloraInitR);
    if (adaloraTinit < 0 || adaloraTfinal < 0 || adaloraDeltaT <= 0)
      throw new IllegalArgumentException("--adalora_tinit and --adalora_tfinal must be >= 0 and --adalora_deltaT > 0");
    if (!(adaloraBeta1 > 0 && adaloraBeta1 < 1 && adaloraBeta2 > 0 && adaloraBeta2 < 1))
      throw new IllegalArgumentException("--adalora_beta1 and --adalora_beta2 must be in (0, 1)");
    refuseLoraOnlyFlags("the --adalora_* flags (its update is B diag(E) A, pruned by importance)");
    if (cudaGraphs)
      throw new IllegalArgumentException("--cuda_graphs replays a captured step, but AdaLoRA scores and prunes its "
          + "singular values on the host after each update: drop one of the two");
  }

  private void validateBoft() {
    if ((boftBlockSize != 0) == (boftBlockNum != 0) || boftBlockSize < 0 || boftBlockNum < 0)
      throw new IllegalArgumentException("set exactly one of --boft_block_size (" + boftBlockSize + ") and "
          + "--boft_block_num (" + boftBlockNum + "); the other follows from each layer's width (0 leaves it unset)");
    if (boftNButterflyFactor < 1)
      throw new IllegalArgumentException("--boft_n_butterfly_factor must be >= 1, got " + boftNButterflyFactor);
    if (boftDropout < 0 || boftDropout >= 1)
      throw new IllegalArgumentException("--boft_dropout must be in [0, 1), got " + boftDropout);
    refuseLoraOnlyFlags("the --boft_* flags (its update is an orthogonal rotation of the input and a scale of the output)");
    if (cudaGraphs)
      throw new IllegalArgumentException("--cuda_graphs replays a captured step, but BOFT draws its block dropout and "
          + "scratch on the host each step: drop one of the two");
  }

  private void validateVera() {
    if (veraRank <= 0) throw new IllegalArgumentException("--vera_rank must be > 0, got " + veraRank);
    if (veraDropout < 0 || veraDropout >= 1)
      throw new IllegalArgumentException("--vera_dropout must be in [0, 1), got " + veraDropout);
    refuseLoraOnlyFlags("--vera_rank, --vera_dropout, --vera_d_initial and --vera_projection_prng_key");
  }

  /** The bottleneck adapter of --train_type adapter. */
  public jswift.tuner.SwiftAdapterFolder.Config bottleneckAdapter() {
    return new jswift.tuner.SwiftAdapterFolder.Config(adapterLength, adapterAct);
  }

  private void validateBottleneckAdapter() {
    bottleneckAdapter();  // --adapter_length > 0, a known --adapter_act
    refuseLoraOnlyFlags("--adapter_length and --adapter_act");
    if (rlhfType != null || !taskType.equals("causal_lm"))
      throw new IllegalArgumentException("--train_type adapter trains sft / pt runs of a causal LM; for "
          + (rlhfType != null ? "rlhf" : "--task_type " + taskType) + " use --train_type lora");
    if (cudaGraphs)
      throw new IllegalArgumentException("--cuda_graphs is not supported with --train_type adapter");
  }

  /** The interventions of --train_type reft. */
  public jswift.tuner.ReftFolder.Config reft() {
    return jswift.tuner.ReftFolder.Config.parse(reftLayers, reftRank, reftInterventionType, reftArgs);
  }

  private void validateReft() {
    reft();  // rank, layers, a known intervention type, reft_args
    if (reftLayerKey != null && !reftLayerKey.equals("model.layers"))
      throw new IllegalArgumentException("--reft_layer_key " + reftLayerKey + ": jswift intervenes on the decoder "
          + "layers (model.layers)");
    refuseLoraOnlyFlags("--reft_layers, --reft_rank, --reft_intervention_type and --reft_args");
    if (rlhfType != null || !taskType.equals("causal_lm"))
      throw new IllegalArgumentException("--train_type reft trains sft / pt runs of a causal LM; for "
          + (rlhfType != null ? "rlhf" : "--task_type " + taskType) + " use --train_type lora");
    if (cudaGraphs)
      throw new IllegalArgumentException("--cuda_graphs is not supported with --train_type reft (its rotation is "
          + "re-read on the host every step)");
  }

  /** --use_dora, --use_rslora, --init_weights and --lorap_lr_ratio shape a LoRA adapter; another tuner refuses them. */
  private void refuseLoraOnlyFlags(String itsOwn) {
    if (useDora || useRslora || !initWeights.equals("true") || lorapLrRatio != null)
      throw new IllegalArgumentException("--use_dora, --use_rslora, --init_weights and --lorap_lr_ratio are LoRA's; "
          + "--train_type " + trainType + " takes " + itsOwn);
  }

  /** Checks what can be checked before loading anything; the message names the flag. */
  public void validate() {
    if (model == null) throw new IllegalArgumentException("--model is required");
    if (dataset.isEmpty()) throw new IllegalArgumentException("--dataset is required (a file, folder or bundled name)");
    if (!List.of("lora", "longlora", "vera", "adalora", "ia3", "boft", "fourierft", "bone", "adapter", "reft", "full",
        "llamapro").contains(trainType))
      throw new IllegalArgumentException("--train_type " + trainType + " is not supported yet (lora, longlora, vera, "
          + "adalora, ia3, boft, fourierft, bone, adapter, reft, full, llamapro)");
    if (trainType.equals("adapter")) validateBottleneckAdapter();
    if (trainType.equals("reft")) validateReft();
    if (trainType.equals("longlora") && cudaGraphs)
      throw new IllegalArgumentException("--cuda_graphs replays one captured step, but --train_type longlora's shifted "
          + "sparse attention plans its groups from each batch on the host: drop one of the two");
    if (trainType.equals("ia3")) refuseLoraOnlyFlags("--ia3_target_modules and --ia3_feedforward_modules");
    if (trainType.equals("ia3") && !ia3TargetModules.containsAll(ia3FeedforwardModules))
      throw new IllegalArgumentException("--ia3_feedforward_modules " + ia3FeedforwardModules + " must be among "
          + "--ia3_target_modules " + ia3TargetModules);
    if (trainType.equals("adalora")) validateAdaLora();
    if (trainType.equals("vera")) validateVera();
    if (trainType.equals("boft")) validateBoft();
    if (trainType.equals("bone")) {
      if (reftRank <= 0) throw new IllegalArgumentException("--reft_rank (MiSS's r for --train_type bone) must be > 0, got "
          + reftRank);
      if (!List.of("true", "false").contains(initWeights))
        throw new IllegalArgumentException("--init_weights " + initWeights + ": --train_type bone trains MiSS's default "
            + "variant (true: zero blocks, false: random ones); PEFT's bat and mini variants are not supported");
      if (useDora || useRslora || lorapLrRatio != null)
        throw new IllegalArgumentException("--use_dora, --use_rslora and --lorap_lr_ratio are LoRA's; --train_type bone "
            + "takes --reft_rank and --init_weights");
    }
    if (trainType.equals("fourierft")) {
      if (fourierNFrequency <= 0)
        throw new IllegalArgumentException("--fourier_n_frequency must be > 0, got " + fourierNFrequency);
      refuseLoraOnlyFlags("--fourier_n_frequency and --fourier_scaling");
    }
    if (streaming)
      throw new IllegalArgumentException("--streaming true is not supported yet: jswift reads each dataset file once "
          + "into an index of 8 bytes a row (so large datasets fit) and needs random access for epochs and shuffling;"
          + " drop the flag");
    if (attnImpl != null && !List.of("sdpa", "eager", "flash_attn", "flash_attention_2", "flash_attention_3")
        .contains(attnImpl))
      throw new IllegalArgumentException("--attn_impl " + attnImpl + " is not one of ms-swift's (sdpa, eager, "
          + "flash_attn, flash_attention_2, flash_attention_3); jswift runs its own flash attention whichever is given");
    if (!List.of("causal_lm", "seq_cls", "embedding", "reranker", "generative_reranker").contains(taskType))
      throw new IllegalArgumentException("--task_type " + taskType + " is not supported yet: jswift trains causal "
          + "language models (causal_lm), sequence classifiers (seq_cls; reward models with jswift rlhf "
          + "--rlhf_type rm), embedding models (embedding) and rerankers (reranker, generative_reranker)");
    if (predictWithGenerate && (rlhfType != null || pretrain || !"causal_lm".equals(taskType)))
      throw new IllegalArgumentException("--predict_with_generate evaluates sft's generated answers (causal_lm), not "
          + (rlhfType != null ? "rlhf" : pretrain ? "pt" : "--task_type " + taskType));
    if (maxNewTokens < 1) throw new IllegalArgumentException("--max_new_tokens must be >= 1, got " + maxNewTokens);
    if (earlyStopInterval != null && earlyStopInterval < 1)
      throw new IllegalArgumentException("--early_stop_interval must be >= 1 evaluations, got " + earlyStopInterval);
    if (rlhfType != null && !taskType.equals("causal_lm") && !(taskType.equals("seq_cls") && isRewardModeling()))
      throw new IllegalArgumentException("--task_type " + taskType + " with jswift rlhf is for --rlhf_type rm (seq_cls: "
          + "a reward model); classifiers, embedding models and rerankers train with jswift sft --task_type " + taskType);
    if (isEmbedding()) validateEmbedding();
    else if (isReranker()) validateReranker();
    else if (rlhfType == null && lossType != null)
      throw new IllegalArgumentException("--loss_type " + lossType + ": sft's loss is the answers' token cross-entropy; "
          + "--loss_type picks the loss of --task_type embedding (infonce, cosine_similarity, contrastive, "
          + "online_contrastive), reranker (pointwise_reranker, listwise_reranker) or generative_reranker "
          + "(generative_reranker, listwise_generative_reranker)");
    if (isSequenceClassification()) validateSequenceClassification();
    else if (isRewardModeling() && numLabels != null && numLabels != 1)
      throw new IllegalArgumentException("--num_labels " + numLabels + ": a reward model has one label (its score)");
    else if (!isRewardModeling() && !isEmbedding() && !isReranker() && (numLabels != null || problemType != null))
      throw new IllegalArgumentException("--num_labels and --problem_type are for --task_type seq_cls (a classifier)");
    for (String r : reportTo)
      if (!List.of("none", "tensorboard", "all").contains(r))
        throw new IllegalArgumentException("--report_to " + r + " is not supported: jswift logs every step to the run's "
            + "logging.jsonl and plots images/ (no network for " + r + "); use none, tensorboard or all");
    if (tunerBackend != null && !List.of("peft", "unsloth").contains(tunerBackend))
      throw new IllegalArgumentException("--tuner_backend " + tunerBackend + " is not one of ms-swift's (peft, unsloth)");
    if (columns != null) jswift.data.DatasetOptions.defaults().withColumns(columns);  // a bad JSON fails here
    if (neftuneNoiseAlpha != null && !(neftuneNoiseAlpha >= 0 && neftuneNoiseAlpha < Double.POSITIVE_INFINITY))
      throw new IllegalArgumentException("--neftune_noise_alpha must be >= 0 (the NEFTune paper uses 5 to 15), got "
          + neftuneNoiseAlpha);
    if (!isAdapterTuning() && !isSwiftTuner() && quantMethod != null)
      throw new IllegalArgumentException("--train_type " + trainType + " cannot train quantized weights (drop --quant_method)");
    if (lisaActivatedLayers < 0) throw new IllegalArgumentException("--lisa_activated_layers must be >= 0");
    if (lisaActivatedLayers > 0 && !trainType.equals("full"))
      throw new IllegalArgumentException("--lisa_activated_layers needs --train_type full (LISA is full-parameter training)");
    if (lisaActivatedLayers > 0 && lisaStepInterval <= 0)
      throw new IllegalArgumentException("--lisa_step_interval must be > 0");
    if (trainType.equals("llamapro") && llamaproNumNewBlocks <= 0)
      throw new IllegalArgumentException("--llamapro_num_new_blocks must be > 0");
    if (perDeviceTrainBatchSize <= 0) throw new IllegalArgumentException("--per_device_train_batch_size must be > 0");
    if (gradientAccumulationSteps != null && gradientAccumulationSteps <= 0)
      throw new IllegalArgumentException("--gradient_accumulation_steps must be > 0");
    if (numTrainEpochs <= 0 && maxSteps <= 0) throw new IllegalArgumentException("--num_train_epochs or --max_steps must be > 0");
    if (lorapLrRatio != null && !(lorapLrRatio > 0))
      throw new IllegalArgumentException("--lorap_lr_ratio must be > 0 (LoRA+ recommends 16), got " + lorapLrRatio);
    if (lorapLrRatio != null && !isLora())
      throw new IllegalArgumentException("--lorap_lr_ratio (LoRA+) scales the learning rate of LoRA's B matrices;"
          + " it needs --train_type lora");
    if (!modulesToSave.isEmpty() && !isAdapterTuning())
      throw new IllegalArgumentException("--modules_to_save trains modules beside a LoRA adapter; it needs --train_type"
          + " lora or vera (full training trains every module anyway)");
    if (jswift.template.Truncation.parse(truncationStrategy) == jswift.template.Truncation.SPLIT && !pretrain)
      throw new IllegalArgumentException("--truncation_strategy split cuts long documents into several samples, "
          + "which is for pre-training (jswift pt); sft rows would lose their prompt: use delete, left or right");
    if (saveSteps <= 0) throw new IllegalArgumentException("--save_steps must be > 0");
    if (!List.of("adamw_torch", "adamw_torch_fused", "adamw_hf", "adamw").contains(optim))
      throw new IllegalArgumentException("--optim " + optim + " is not supported: jswift's optimizer is AdamW (its fused "
          + "kernel; adamw_torch, adamw_torch_fused and adamw_hf name it); GaLore is --use_galore true");
    if (!loraBias.equals("none"))
      throw new IllegalArgumentException("--lora_bias " + loraBias + " (trained biases) is not supported yet; use none");
    for (String[] s : new String[][] {{"--save_strategy", saveStrategy}, {"--eval_strategy", evalStrategy}})
      if (!List.of("steps", "epoch", "no").contains(s[1]))
        throw new IllegalArgumentException(s[0] + " must be steps, epoch or no, got '" + s[1] + "'");
    if (adapters.size() > 1)
      throw new IllegalArgumentException("--adapters: training starts from one adapter, got " + adapters.size());
    if (!adapters.isEmpty() && !isAdapterTuning())
      throw new IllegalArgumentException("--adapters starts LoRA training from an adapter's weights: it needs "
          + "--train_type lora, vera, ia3, boft, fourierft or bone (to train the merged model in full, merge it first: jswift export "
          + "--merge_lora true)");
    if ((resumeOnlyModel || ignoreDataSkip) && resumeFromCheckpoint == null)
      throw new IllegalArgumentException("--resume_only_model and --ignore_data_skip shape a resume: they need "
          + "--resume_from_checkpoint");
    if (resumeOnlyModel && galoreQuantization)
      throw new IllegalArgumentException("--resume_only_model: Q-GaLore's INT8 weights keep their exact codes in the "
          + "optimizer state; resume in full");
    if (!adapters.isEmpty() && resumeFromCheckpoint != null)
      throw new IllegalArgumentException("--adapters starts a new run from an adapter's weights; "
          + "--resume_from_checkpoint continues one: give one of the two");
    if (refAdapters.size() > 1)
      throw new IllegalArgumentException("--ref_adapters: the reference takes one adapter, got " + refAdapters.size());
    if (!refAdapters.isEmpty() && (rlhfType == null || !needsReference()))
      throw new IllegalArgumentException("--ref_adapters sets the reference model of DPO, KTO and GRPO (beta > 0)");
    if (rlhfType != null) validateRlhf();
    if (cudaGraphs) {
      if (maxLength == null)
        throw new IllegalArgumentException("--cuda_graphs pads every micro-batch to per_device_train_batch_size x "
            + "max_length tokens (one shape to replay): set --max_length (and --packing true to fill that length)");
      if (lisaActivatedLayers > 0)
        throw new IllegalArgumentException("--cuda_graphs replays one captured step, but LISA (--lisa_activated_layers)"
            + " changes which layers train every interval: drop one of the two");
      if (galoreOptimPerParameter)
        throw new IllegalArgumentException("--cuda_graphs replays the forward and backward as captured, but "
            + "--galore_optim_per_parameter steps the optimizer inside the backward: drop one of the two");
    }
    if (loggingSteps <= 0) throw new IllegalArgumentException("--logging_steps must be > 0");
    if (dataloaderNumWorkers != null && dataloaderNumWorkers < 0)
      throw new IllegalArgumentException("--dataloader_num_workers must be >= 0 (0: prepare batches on the training "
          + "thread), got " + dataloaderNumWorkers);
    if (saveTotalLimit != null && saveTotalLimit <= 0) throw new IllegalArgumentException("--save_total_limit must be > 0");
    if (freezeParametersRatio < 0 || freezeParametersRatio > 1 || Double.isNaN(freezeParametersRatio))
      throw new IllegalArgumentException("--freeze_parameters_ratio must be between 0 and 1, not " + freezeParametersRatio);
    if (!trainType.equals("full") && FullTrainingSelection.requested(this))
      throw new IllegalArgumentException("--freeze_parameters, --freeze_parameters_regex, --freeze_parameters_ratio, "
          + "--trainable_parameters and --trainable_parameters_regex choose the weights of --train_type full");
    validateGalore();
    if (quantMethod != null) {
      if (!quantMethod.equals("bnb"))
        throw new IllegalArgumentException("--quant_method " + quantMethod + " is not supported for training yet (bnb)");
      if (quantBits == null || quantBits != 4)
        throw new IllegalArgumentException("--quant_method bnb needs --quant_bits 4 (8-bit is not supported)");
      if (!bnb4bitQuantType.equals("nf4"))
        throw new IllegalArgumentException("--bnb_4bit_quant_type " + bnb4bitQuantType + " is not supported (nf4)");
      if (bnb4bitComputeDtype != null && !List.of("bfloat16", "float16", "float32").contains(bnb4bitComputeDtype))
        throw new IllegalArgumentException("--bnb_4bit_compute_dtype must be bfloat16, float16 or float32, got '"
            + bnb4bitComputeDtype + "'");
      if (bnb4bitComputeDtype != null && torchDtype != null && !bnb4bitComputeDtype.equals(torchDtype))
        throw new IllegalArgumentException("--bnb_4bit_compute_dtype " + bnb4bitComputeDtype + " differs from "
            + "--torch_dtype " + torchDtype + ": jswift computes the NF4 layers in the model's dtype; give one dtype");
    } else if (quantBits != null) {
      throw new IllegalArgumentException("--quant_bits needs --quant_method bnb");
    }
  }

  /** Whether the run's loss compares the policy with a reference model (DPO, KTO, GRPO with beta > 0). */
  boolean needsReference() {
    if (rlhfType == null || isRewardModeling() || isGkd()) return false;
    if (isKto() || isPpo()) return true;
    if (isGrpo()) return beta == null || beta > 0;
    return PreferenceLoss.Type.parse(rlhfType) == PreferenceLoss.Type.DPO;
  }

  /** Whether this is a knowledge distillation run (--rlhf_type gkd). */
  public boolean isGkd() {
    return "gkd".equals(rlhfType);
  }

  /** GKD's settings: beta defaulting to ms-swift's 0.5, the sampling temperature, lmbda, seq_kd. */
  GkdStep.Settings gkdSettings() {
    return new GkdStep.Settings(beta != null ? beta : 0.5, temperature, lmbda, seqKd, maxCompletionLength);
  }

  /** Whether this is a reward model run (--rlhf_type rm): a scalar head on preference pairs. */
  /**
   * Whether the run trains transformers' *ForSequenceClassification score head: a classifier (seq_cls), a reward model
   * (rlhf rm) or a reranker (not a generative one, which reads the LM head's yes / no logits).
   */
  public boolean hasScoreHead() {
    return isRewardModeling() || isSequenceClassification() || isReranker() && !isGenerativeReranker();
  }

  /** {@code --task_type reranker} with sft: a score head on (query, document) sequences, trained to rank them. */
  public boolean isReranker() {
    return ("reranker".equals(taskType) || isGenerativeReranker()) && rlhfType == null;
  }

  /** {@code --task_type generative_reranker}: the LM head's "yes" / "no" logits score a (query, document). */
  public boolean isGenerativeReranker() {
    return "generative_reranker".equals(taskType) && rlhfType == null;
  }

  RerankerLoss.Type rerankerLoss() {
    return RerankerLoss.Type.parse(lossType, isGenerativeReranker());
  }

  /** Listwise settings from ms-swift's LISTWISE_RERANKER_TEMPERATURE (1.0) and _MIN_GROUP_SIZE (2). */
  RerankerLoss.Listwise listwiseSettings() {
    return listwiseSettings(System.getenv());
  }

  static RerankerLoss.Listwise listwiseSettings(java.util.Map<String, String> env) {
    String t = env.getOrDefault("LISTWISE_RERANKER_TEMPERATURE", "1.0");
    String m = env.getOrDefault("LISTWISE_RERANKER_MIN_GROUP_SIZE", "2");
    double temperature;
    int min;
    try {
      temperature = Double.parseDouble(t);
      min = Integer.parseInt(m);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("LISTWISE_RERANKER_TEMPERATURE=" + t + " / LISTWISE_RERANKER_MIN_GROUP_SIZE="
          + m + ": not numbers");
    }
    if (!(temperature > 0)) throw new IllegalArgumentException("LISTWISE_RERANKER_TEMPERATURE must be > 0, got " + t);
    if (min < 1) throw new IllegalArgumentException("LISTWISE_RERANKER_MIN_GROUP_SIZE must be >= 1, got " + m);
    return new RerankerLoss.Listwise(temperature, min);
  }

  private void validateReranker() {
    if (pretrain) throw new IllegalArgumentException("--task_type " + taskType + " trains with jswift sft, not pt");
    rerankerLoss();
    listwiseSettings();
    validateGroupedTask(taskType);
  }

  /** What embedding and reranker training share: rows are groups of sequences, scored on their last tokens. */
  private void validateGroupedTask(String task) {
    if (trainType.equals("llamapro"))
      throw new IllegalArgumentException("--task_type " + task + " trains with --train_type lora (or another adapter) "
          + "or full, not llamapro");
    if (packing) throw new IllegalArgumentException("--packing true with --task_type " + task + ": each text is its "
        + "own sequence (a batch's texts are already packed without padding)");
    if (cudaGraphs) throw new IllegalArgumentException("--cuda_graphs is not supported with --task_type " + task);
    if (numLabels != null || problemType != null)
      throw new IllegalArgumentException("--num_labels and --problem_type are for --task_type seq_cls");
    if (!modulesToSave.isEmpty())
      throw new IllegalArgumentException("--modules_to_save is not supported with --task_type " + task);
  }

  /** {@code --task_type embedding} with sft: last-token embeddings trained with a contrastive loss. */
  public boolean isEmbedding() {
    return "embedding".equals(taskType) && rlhfType == null;
  }

  /** The embedding loss: --loss_type, infonce by default. */
  EmbeddingLoss.Type embeddingLoss() {
    return EmbeddingLoss.Type.parse(lossType == null ? "infonce" : lossType);
  }

  /**
   * InfoNCE's settings from ms-swift's environment variables: INFONCE_TEMPERATURE (0.01), INFONCE_USE_BATCH (true:
   * the other rows of the micro-batch are negatives too), INFONCE_MASK_FAKE_NEGATIVE (false).
   */
  EmbeddingLoss.InfoNce infoNceSettings() {
    return infoNceSettings(System.getenv());
  }

  static EmbeddingLoss.InfoNce infoNceSettings(java.util.Map<String, String> env) {
    String t = env.getOrDefault("INFONCE_TEMPERATURE", "0.01");
    double temperature;
    try {
      temperature = Double.parseDouble(t);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("INFONCE_TEMPERATURE=" + t + " is not a number");
    }
    if (!(temperature > 0)) throw new IllegalArgumentException("INFONCE_TEMPERATURE must be > 0, got " + t);
    if (env.containsKey("INFONCE_HARD_NEGATIVES"))
      throw new IllegalArgumentException("INFONCE_HARD_NEGATIVES is not supported: each row keeps all its negatives "
          + "(unset it, or give rows the same number of negatives)");
    return new EmbeddingLoss.InfoNce(temperature, envFlag(env, "INFONCE_USE_BATCH", true),
        envFlag(env, "INFONCE_MASK_FAKE_NEGATIVE", false));
  }

  private static boolean envFlag(java.util.Map<String, String> env, String name, boolean fallback) {
    String v = env.get(name);
    if (v == null) return fallback;
    switch (v.toLowerCase(java.util.Locale.ROOT)) {
      case "1": case "true": case "yes": case "y": case "t": case "on": return true;
      case "0": case "false": case "no": case "n": case "f": case "off": return false;
      default: throw new IllegalArgumentException(name + "=" + v + " is not true or false");
    }
  }

  private void validateEmbedding() {
    if (pretrain) throw new IllegalArgumentException("--task_type embedding trains with jswift sft, not pt");
    embeddingLoss();
    infoNceSettings();
    validateGroupedTask("embedding");
  }

  /** {@code --task_type seq_cls} with sft: a classifier's head on the last token, trained on the rows' labels. */
  public boolean isSequenceClassification() {
    return "seq_cls".equals(taskType) && rlhfType == null;
  }

  /** The classifier's problem type: --problem_type, else regression for one label and single-label otherwise. */
  public jswift.model.ProblemType problemType() {
    return jswift.model.ProblemType.parse(problemType, numLabels == null ? 0 : numLabels);
  }

  private void validateSequenceClassification() {
    if (pretrain) throw new IllegalArgumentException("--task_type seq_cls trains with jswift sft, not pt");
    if (numLabels == null || numLabels < 1)
      throw new IllegalArgumentException("--task_type seq_cls needs --num_labels N (the number of classes; 1 for a "
          + "single regression value)" + (numLabels == null ? "" : ", got " + numLabels));
    jswift.model.ProblemType type = problemType();
    if (type == jswift.model.ProblemType.SINGLE_LABEL && numLabels < 2)
      throw new IllegalArgumentException("--problem_type single_label_classification needs --num_labels >= 2");
    if (trainType.equals("llamapro"))
      throw new IllegalArgumentException("--task_type seq_cls trains with --train_type lora (or another adapter) or "
          + "full, not llamapro");
    if (!modulesToSave.isEmpty())
      throw new IllegalArgumentException("--modules_to_save with --task_type seq_cls: the adapter already saves the "
          + "score head");
    if (packing) throw new IllegalArgumentException("--packing true with --task_type seq_cls: each row is classified "
        + "on its own (rows of a batch are already packed without padding)");
    if ("split".equals(truncationStrategy))
      throw new IllegalArgumentException("--truncation_strategy split would give one row's label to each chunk: use "
          + "delete, left or right with --task_type seq_cls");
    if (cudaGraphs) throw new IllegalArgumentException("--cuda_graphs is not supported with --task_type seq_cls");
  }

  public boolean isRewardModeling() {
    return "rm".equals(rlhfType);
  }

  /** Whether this is a KTO run (--rlhf_type kto): unpaired answers labelled desirable or undesirable. */
  public boolean isKto() {
    return "kto".equals(rlhfType);
  }

  /** KTO's settings (beta defaulting to 0.1). */
  KtoLoss.Settings ktoSettings() {
    return new KtoLoss.Settings(beta != null ? beta : 0.1, desirableWeight, undesirableWeight,
        "apo_zero_unpaired".equals(lossType));
  }

  /** Whether this is a PPO run (--rlhf_type ppo): a policy, a value model and a reward model on sampled responses. */
  public boolean isPpo() {
    return "ppo".equals(rlhfType);
  }

  /** The PPO settings of the arguments. */
  PpoStep.Settings ppoSettings() {
    return new PpoStep.Settings(new PpoLoss.Settings(klCoef, cliprange, vfCoef, cliprangeValue, gamma, lam,
        whitenRewards, missingEosPenalty), numPpoEpochs, numMiniBatches, perDeviceTrainBatchSize,
        responseLength != null ? responseLength : maxCompletionLength, temperature, topK, topP, repetitionPenalty);
  }

  /** Prompts per PPO update: per_device_train_batch_size x gradient_accumulation_steps x num_mini_batches. */
  int ppoPrompts() {
    return perDeviceTrainBatchSize * gradientAccumulation() * numMiniBatches;
  }

  private void validatePpo() {
    if (rewardModel == null)
      throw new IllegalArgumentException("--rlhf_type ppo needs --reward_model (a reward model: jswift rlhf --rlhf_type "
          + "rm saves one); the value model starts from it too");
    if (!isLora())
      throw new IllegalArgumentException("--rlhf_type ppo trains a LoRA adapter on the policy (and one on the value "
          + "model): use --train_type lora, not " + trainType);
    if (resumeFromCheckpoint != null)
      throw new IllegalArgumentException("--resume_from_checkpoint: a PPO checkpoint holds the policy's adapter only (as "
          + "TRL saves it), not the value model's; start a new run (--adapters CHECKPOINT continues from its policy)");
    if (!rewardFuncs.isEmpty()) throw new IllegalArgumentException("--reward_funcs are GRPO's; PPO scores with --reward_model");
    if (lossType != null) throw new IllegalArgumentException("--loss_type does not apply to --rlhf_type ppo");
    if (numPpoEpochs < 1) throw new IllegalArgumentException("--num_ppo_epochs must be >= 1, got " + numPpoEpochs);
    if (numMiniBatches < 1) throw new IllegalArgumentException("--num_mini_batches must be >= 1, got " + numMiniBatches);
    if (ppoPrompts() < 2)
      throw new IllegalArgumentException("a PPO update whitens its advantages over its responses: per_device_train_"
          + "batch_size x gradient_accumulation_steps x num_mini_batches must be >= 2");
    if (!(klCoef >= 0)) throw new IllegalArgumentException("--kl_coef must be >= 0, got " + klCoef);
    if (!(cliprange > 0 && cliprange < 1)) throw new IllegalArgumentException("--cliprange must be in (0, 1), got " + cliprange);
    if (!(cliprangeValue > 0)) throw new IllegalArgumentException("--cliprange_value must be > 0, got " + cliprangeValue);
    if (!(vfCoef >= 0)) throw new IllegalArgumentException("--vf_coef must be >= 0, got " + vfCoef);
    if (!(gamma >= 0 && gamma <= 1) || !(lam >= 0 && lam <= 1))
      throw new IllegalArgumentException("--gamma and --lam must be in [0, 1], got " + gamma + " and " + lam);
    int length = responseLength != null ? responseLength : maxCompletionLength;
    if (length < 1) throw new IllegalArgumentException("--response_length must be >= 1, got " + length);
    new jswift.infer.GenerationConfig(length, true, temperature, topK, topP, repetitionPenalty, 0, List.of(),
        List.of());  // checks temperature, top_k, top_p and repetition_penalty
  }

  /** Whether this is a GRPO run (--rlhf_type grpo): prompts, sampled completions and rewards instead of pairs. */
  public boolean isGrpo() {
    return "grpo".equals(rlhfType);
  }

  /** The GRPO settings of the arguments (beta defaulting to ms-swift's 0.04). */
  GrpoStep.Settings grpoSettings() {
    return grpoSettings(List.of());
  }

  /** As {@link #grpoSettings()}, with rewards loaded by the trainer (the reward model) after --reward_funcs'. */
  GrpoStep.Settings grpoSettings(List<RewardFunction> loaded) {
    Rewards.Settings r = new Rewards.Settings(cosineMinLenValueWrong, cosineMaxLenValueWrong, cosineMinLenValueCorrect,
        cosineMaxLenValueCorrect, cosineMaxLen != null ? cosineMaxLen : maxCompletionLength, repetitionNGrams,
        repetitionMaxPenalty, softMaxLength != null ? softMaxLength : maxCompletionLength, softCacheLength);
    boolean named = !rewardFuncs.isEmpty() || (rewardModel == null && rewardFunctions.isEmpty());
    List<RewardFunction> functions = new ArrayList<>(named ? Rewards.resolve(rewardFuncs, r, externalPlugins) : List.of());
    functions.addAll(rewardFunctions);  // then the Java API's, then the reward model
    functions.addAll(loaded);
    double[] weights = new double[functions.size()];
    java.util.Arrays.fill(weights, 1.0);
    if (rewardWeights != null) {
      int expected = functions.size() + (rewardModel != null && loaded.isEmpty() ? 1 : 0);
      if (rewardWeights.size() != expected)
        throw new IllegalArgumentException("--reward_weights has " + rewardWeights.size() + " weights for " + expected
            + " rewards (--reward_funcs " + rewardFuncs + (rewardModel != null ? " and --reward_model" : "") + ")");
      for (int i = 0; i < weights.length; i++) weights[i] = rewardWeights.get(i);  // the reward model's is last
    }
    return new GrpoStep.Settings(numGenerations, maxCompletionLength, temperature, topK, topP, repetitionPenalty,
        beta != null ? beta : 0.04, GrpoLoss.Normalization.parse(lossType != null ? lossType : "grpo"), scaleRewards,
        functions, weights, numIterations, new GrpoLoss.Clip(epsilon, epsilonHigh != null ? epsilonHigh : epsilon));
  }

  private void validateGrpo() {
    if (numGenerations < 2)
      throw new IllegalArgumentException("--num_generations must be >= 2 (advantages compare the completions of one "
          + "prompt), got " + numGenerations);
    long completions = (long) perDeviceTrainBatchSize * gradientAccumulation();
    if (completions % numGenerations != 0)
      throw new IllegalArgumentException("a GRPO step trains on per_device_train_batch_size x gradient_accumulation_steps"
          + " = " + perDeviceTrainBatchSize + " x " + gradientAccumulation() + " = " + completions + " completions, "
          + "which must be a multiple of --num_generations " + numGenerations + " (whole groups of one prompt)");
    if (maxCompletionLength < 1)
      throw new IllegalArgumentException("--max_completion_length must be >= 1, got " + maxCompletionLength);
    if (numIterations < 1) throw new IllegalArgumentException("--num_iterations must be >= 1, got " + numIterations);
    if (!(epsilon > 0 && epsilon < 1)) throw new IllegalArgumentException("--epsilon must be in (0, 1), got " + epsilon);
    if (epsilonHigh != null && !(epsilonHigh > 0))
      throw new IllegalArgumentException("--epsilon_high must be > 0, got " + epsilonHigh);
    GrpoStep.Settings s = grpoSettings();  // checks the reward functions, their weights and the loss type
    if (!(s.beta() >= 0)) throw new IllegalArgumentException("--beta must be >= 0 for GRPO, got " + s.beta());
    new jswift.infer.GenerationConfig(maxCompletionLength, true, temperature, topK, topP, repetitionPenalty, 0,
        List.of(), List.of());  // checks temperature, top_k, top_p and repetition_penalty
  }

  /** The preference loss of --rlhf_type with its coefficients (beta defaulting as in ms-swift). */
  PreferenceLoss.Settings preferenceLoss() {
    PreferenceLoss.Type t = PreferenceLoss.Type.parse(rlhfType);
    double nllAlpha = t == PreferenceLoss.Type.DPO ? (rpoAlpha != null ? rpoAlpha : 0) : cpoAlpha;
    PreferenceLoss.DpoVariant variant = t == PreferenceLoss.Type.DPO && lossType != null && !lossType.equals("sft")
        ? PreferenceLoss.DpoVariant.parse(lossType) : PreferenceLoss.DpoVariant.SIGMOID;
    return new PreferenceLoss.Settings(t, beta != null ? beta : t.defaultBeta(), simpoGamma, nllAlpha, variant,
        labelSmoothing, discopopTau);
  }

  /**
   * The preference loss as the objective runs it: {@link #preferenceLoss}, or with several --loss_type values TRL's
   * weighted sum of DPO losses (ms-swift's MPO recipe: {@code --loss_type sigmoid bco_pair sft --loss_weights 0.8
   * 0.2 1.0}), "sft" being the chosen answers' NLL.
   */
  PreferenceLoss.Mix preferenceMix() {
    PreferenceLoss.Settings single = preferenceLoss();
    List<String> types = lossTypeMix.isEmpty() ? (lossType == null ? List.of("sigmoid") : List.of(lossType))
        : lossTypeMix;
    if (!lossWeights.isEmpty() && lossWeights.size() != types.size())
      throw new IllegalArgumentException("--loss_weights has " + lossWeights.size() + " values for " + types.size()
          + " --loss_type values " + types);
    if (lossTypeMix.isEmpty() && lossWeights.isEmpty() && !"sft".equals(lossType)) return PreferenceLoss.Mix.of(single);
    if (single.type() != PreferenceLoss.Type.DPO)
      throw new IllegalArgumentException("several --loss_type values (or --loss_weights) mix DPO's losses; --rlhf_type "
          + rlhfType + " has its own loss");
    if (new java.util.HashSet<>(types).size() != types.size())
      throw new IllegalArgumentException("--loss_type " + types + " names a loss twice");
    List<PreferenceLoss.Settings> parts = new ArrayList<>();
    List<Double> weights = new ArrayList<>();
    double sft = 0;
    for (int i = 0; i < types.size(); i++) {
      double w = lossWeights.isEmpty() ? 1.0 : lossWeights.get(i);
      if (!(w >= 0 && w < Double.POSITIVE_INFINITY))
        throw new IllegalArgumentException("--loss_weights must be finite and >= 0, got " + lossWeights);
      if (types.get(i).equals("sft")) {
        sft = w;
        continue;
      }
      PreferenceLoss.DpoVariant v = PreferenceLoss.DpoVariant.parse(types.get(i));
      if (v == PreferenceLoss.DpoVariant.IPO && types.size() > 1)
        throw new IllegalArgumentException("--loss_type ipo averages the answers' log-probabilities, the others sum "
            + "them: jswift does not mix ipo with other losses");
      parts.add(new PreferenceLoss.Settings(single.type(), single.beta(), single.gamma(), 0, v, labelSmoothing,
          discopopTau));
      weights.add(w);
    }
    return new PreferenceLoss.Mix(parts, weights.stream().mapToDouble(Double::doubleValue).toArray(),
        single.alpha() + sft, single.beta());
  }

  private void validateRlhf() {
    if ((!lossTypeMix.isEmpty() || !lossWeights.isEmpty()) && !"dpo".equals(rlhfType))
      throw new IllegalArgumentException("several --loss_type values and --loss_weights mix DPO's losses; --rlhf_type "
          + rlhfType + " takes one --loss_type");
    if (packing) throw new IllegalArgumentException("--rlhf_type trains on whole answers: --packing false");
    if (cudaGraphs) throw new IllegalArgumentException("--cuda_graphs is not supported with --rlhf_type");
    if (galoreOptimPerParameter)
      throw new IllegalArgumentException("--galore_optim_per_parameter is not supported with --rlhf_type");
    if (isGrpo()) {
      validateGrpo();
      return;
    }
    if (isPpo()) {
      validatePpo();
      return;
    }
    if (isGkd()) {
      if (teacherModel == null)
        throw new IllegalArgumentException("--rlhf_type gkd needs --teacher_model (the model to distil from)");
      GkdStep.Settings g = gkdSettings();
      if (!(g.beta() >= 0 && g.beta() <= 1)) throw new IllegalArgumentException("--beta must be in [0, 1] for GKD, got " + g.beta());
      if (!(lmbda >= 0 && lmbda <= 1)) throw new IllegalArgumentException("--lmbda must be in [0, 1], got " + lmbda);
      if (!(temperature > 0)) throw new IllegalArgumentException("--temperature must be > 0 for GKD, got " + temperature);
      if (maxCompletionLength < 1)
        throw new IllegalArgumentException("--max_completion_length must be >= 1, got " + maxCompletionLength);
      if (lossType != null) throw new IllegalArgumentException("--loss_type does not apply to --rlhf_type gkd");
      return;
    }
    if (isRewardModeling()) {
      if (trainType.equals("llamapro"))
        throw new IllegalArgumentException("--rlhf_type rm trains with --train_type lora or full (not llamapro)");
      if (lossType != null) throw new IllegalArgumentException("--loss_type does not apply to --rlhf_type rm");
      if (centerRewardsCoefficient != null && !(centerRewardsCoefficient >= 0))
        throw new IllegalArgumentException("--center_rewards_coefficient must be >= 0, got " + centerRewardsCoefficient);
      if (!modulesToSave.isEmpty())
        throw new IllegalArgumentException("--modules_to_save with --rlhf_type rm: the adapter already saves the score head");
      return;
    }
    if (isKto()) {
      KtoLoss.Settings k = ktoSettings();
      if (!(k.beta() > 0)) throw new IllegalArgumentException("--beta must be > 0, got " + k.beta());
      if (!(desirableWeight >= 0) || !(undesirableWeight >= 0) || desirableWeight + undesirableWeight == 0)
        throw new IllegalArgumentException("--desirable_weight and --undesirable_weight must be >= 0 and not both 0");
      if (lossType != null && !lossType.equals("kto") && !lossType.equals("apo_zero_unpaired"))
        throw new IllegalArgumentException("--loss_type " + lossType + " is not supported for KTO (kto and "
            + "apo_zero_unpaired are)");
      return;
    }
    PreferenceLoss.Settings s = preferenceLoss();
    preferenceMix();  // checks a mix of --loss_type values and their --loss_weights
    if (lossType != null && s.type() != PreferenceLoss.Type.DPO && !lossType.equals("sigmoid"))
      throw new IllegalArgumentException("--loss_type " + lossType + " applies to DPO; --rlhf_type " + rlhfType
          + " has its own loss");
    if (!(labelSmoothing >= 0 && labelSmoothing < 0.5))
      throw new IllegalArgumentException("--label_smoothing must be in [0, 0.5), got " + labelSmoothing);
    if (!(discopopTau > 0)) throw new IllegalArgumentException("--discopop_tau must be > 0, got " + discopopTau);
    if (labelSmoothing > 0 && !(s.type() == PreferenceLoss.Type.DPO && java.util.EnumSet.of(
        PreferenceLoss.DpoVariant.SIGMOID, PreferenceLoss.DpoVariant.ROBUST, PreferenceLoss.DpoVariant.EXO_PAIR,
        PreferenceLoss.DpoVariant.AOT, PreferenceLoss.DpoVariant.AOT_PAIR).contains(s.variant())))
      throw new IllegalArgumentException("--label_smoothing applies to DPO's sigmoid, robust, exo_pair, aot and aot_pair"
          + " losses");
    if (!(s.beta() > 0)) throw new IllegalArgumentException("--beta must be > 0, got " + s.beta());
    if (cpoAlpha < 0) throw new IllegalArgumentException("--cpo_alpha must be >= 0, got " + cpoAlpha);
    if (rpoAlpha != null && !(rpoAlpha >= 0)) throw new IllegalArgumentException("--rpo_alpha must be >= 0, got " + rpoAlpha);
    if (rpoAlpha != null && s.type() != PreferenceLoss.Type.DPO)
      throw new IllegalArgumentException("--rpo_alpha is DPO's NLL weight; --rlhf_type " + rlhfType
          + (s.type() == PreferenceLoss.Type.ORPO ? " always adds the NLL with weight 1" : " has --cpo_alpha"));
  }

  private void validateGalore() {
    boolean any = galoreTargetModules != null || galoreOptimPerParameter || galoreWithEmbedding || galoreQuantization
        || galoreProjQuant;
    if (!useGalore) {
      if (any) throw new IllegalArgumentException("the --galore_* flags need --use_galore true");
      return;
    }
    if (!trainType.equals("full"))
      throw new IllegalArgumentException("--use_galore projects the gradients of full-parameter training; it needs "
          + "--train_type full (got " + trainType + ")");
    if (!galoreProjType.equals("std"))
      throw new IllegalArgumentException("--galore_proj_type " + galoreProjType + " is not supported (std)");
    if (galoreProjQuant && !galoreQuantization)
      throw new IllegalArgumentException("--galore_proj_quant stores Q-GaLore's projectors INT4; it needs "
          + "--galore_quantization true (ms-swift reads it only then)");
    if (galoreQuantization && lisaActivatedLayers > 0)
      throw new IllegalArgumentException("--galore_quantization stores the trained weights INT8 for the whole run; it "
          + "cannot be combined with LISA (--lisa_activated_layers), which freezes and thaws layers");
    if (galoreQuantization && galoreOptimPerParameter)
      throw new IllegalArgumentException("--galore_optim_per_parameter is not supported with --galore_quantization "
          + "(Q-GaLore has no per-parameter optimizer; ms-swift ignores the flag there): drop one of them");
    qgaloreConfig();   // bits, group size, threshold, gamma and queue checks, naming their flags
    if (galoreOptimPerParameter && gradientAccumulation() != 1)
      throw new IllegalArgumentException("--galore_optim_per_parameter steps each weight as soon as its gradient is "
          + "complete, inside the backward pass: it needs --gradient_accumulation_steps 1 (got " + gradientAccumulation()
          + "; the default is ceil(16 / per_device_train_batch_size))");
    if (galoreOptimPerParameter && maxGradNorm > 0)
      throw new IllegalArgumentException("--galore_optim_per_parameter steps each weight before the global gradient "
          + "norm exists, so it cannot clip: set --max_grad_norm 0 (got " + maxGradNorm + ")");
    galoreConfig();   // rank, gap and scale checks, naming their flags
  }

  /** The base weights' storage this run asks for. */
  public jswift.model.CausalLM.Quantization quantization() {
    if (quantMethod == null) return jswift.model.CausalLM.Quantization.NONE;
    return bnb4bitUseDoubleQuant ? jswift.model.CausalLM.Quantization.NF4_DOUBLE_QUANT
        : jswift.model.CausalLM.Quantization.NF4;
  }
}
