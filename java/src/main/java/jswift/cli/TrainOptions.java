package jswift.cli;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import jswift.train.TrainArguments;
import picocli.CommandLine.Option;

/**
 * The training flags shared by {@code jswift sft} and {@code jswift pt}, with ms-swift's names and defaults
 * (a picocli mixin); {@link #arguments()} turns them into {@link TrainArguments}.
 */
public final class TrainOptions {
  // --model and --dataset are required, but may come from --config (and `jswift sft` with no argument at all is the
  // quick start): TrainArguments.validate() checks them.
  @Option(names = "--model", description = "Hugging Face model folder (required)") Path model;
  @Option(names = {"--train_type", "--tuner_type"}, description = "lora (default), longlora, vera, adalora, ia3, boft, fourierft, bone, adapter, reft, full, llamapro") String trainType = "lora";
  @Option(names = "--dataset", arity = "1..*",
      description = "(required) files/folders (jsonl, json, csv, txt), path#N, or a bundled name (jswift/quickstart-sft)")
  List<String> dataset = new ArrayList<>();
  @Option(names = "--val_dataset", arity = "1..*") List<String> valDataset = new ArrayList<>();
  @Option(names = "--split_dataset_ratio") double splitDatasetRatio = 0.0;
  @Option(names = "--dataset_shuffle", arity = "1") boolean datasetShuffle = true;
  @Option(names = "--dataset_skip_bad", arity = "1", description = "skip and count malformed rows") boolean datasetSkipBad;
  @Option(names = "--columns", description = "rename dataset columns, ms-swift's JSON: '{\"instruction\": \"query\"}'")
  String columns;
  @Option(names = "--data_seed", description = "seed of the dataset's shuffle and split (default: --seed)") Long dataSeed;
  @Option(names = "--val_dataset_shuffle", arity = "1", description = "shuffle --val_dataset too (default false)")
  boolean valDatasetShuffle;
  @Option(names = "--streaming", arity = "1", description = "not supported yet: jswift reads each file once into an "
      + "index of 8 bytes a row, so large datasets fit without it") boolean streaming;
  // ms-swift flags that change nothing here, accepted so that its command lines run as they are
  @Option(names = "--dataset_num_proc", description = "accepted for ms-swift; jswift tokenizes rows as batches are "
      + "built, on the --dataloader_num_workers thread") Integer datasetNumProc;
  @Option(names = "--lazy_tokenize", arity = "1", description = "accepted for ms-swift; jswift always tokenizes lazily")
  Boolean lazyTokenize;
  @Option(names = "--attn_impl", description = "accepted for ms-swift (sdpa, eager, flash_attn, flash_attention_2, "
      + "flash_attention_3): jswift always runs its own flash attention kernels") String attnImpl;
  @Option(names = "--tuner_backend", description = "accepted for ms-swift (peft, unsloth): jswift's tuners write PEFT "
      + "adapters and run on its fused kernels either way") String tunerBackend;
  @Option(names = "--task_type", description = "causal_lm (default); seq_cls: a sequence classifier, a head on the "
      + "last token trained on each row's \"label\" (with --num_labels; reward models: jswift rlhf --rlhf_type rm); "
      + "embedding: last-token embeddings (--loss_type infonce...); reranker: a relevance score of (query, document)")
  String taskType = "causal_lm";
  @Option(names = "--num_labels", description = "--task_type seq_cls: the number of classes (1: one regression value)")
  Integer numLabels;
  @Option(names = "--problem_type", description = "--task_type seq_cls: single_label_classification (default for 2+ "
      + "labels), multi_label_classification or regression (default for 1 label)") String problemType;
  @Option(names = "--model_type", description = "accepted for ms-swift: jswift reads the architecture from the "
      + "model folder's config.json") String modelType;
  @Option(names = "--use_hf", arity = "1", description = "accepted for ms-swift: --model is a local folder either way")
  Boolean useHf;
  @Option(names = "--use_chat_template", arity = "1", description = "false: no chat markup, the query then the answer "
      + "and the end-of-sequence token (ms-swift's generation form of the template, for base models); default true")
  boolean useChatTemplate = true;
  @Option(names = "--agent_template", description = "how tool calls are written in training text: hermes, llama3 or "
      + "react_en (default: the template's own, e.g. hermes for Qwen)") String agentTemplate;
  @Option(names = "--metric_for_best_model", description = "the evaluation metric the best checkpoint is chosen by "
      + "(loss, acc, token_acc, mrr, margin, ...; default: loss, GRPO's reward)") String metricForBestModel;
  @Option(names = "--greater_is_better", arity = "1", description = "whether a larger --metric_for_best_model is better "
      + "(default: false for a loss, true otherwise)") Boolean greaterIsBetter;
  @Option(names = "--load_best_model_at_end", arity = "1", description = "accepted for ms-swift: the best checkpoint is "
      + "always kept and reported as best_model_checkpoint") Boolean loadBestModelAtEnd;
  @Option(names = "--predict_with_generate", arity = "1", description = "evaluation also generates answers (greedy) "
      + "and reports ROUGE-1/2/L and BLEU-4 against the rows' answers (best checkpoint by rouge-l)")
  boolean predictWithGenerate;
  @Option(names = "--max_new_tokens", description = "--predict_with_generate: the longest answer (default 64)")
  int maxNewTokens = 64;
  @Option(names = "--early_stop_interval", description = "stop when the best evaluation metric has not improved in "
      + "this many evaluations (a checkpoint is saved at the stop)") Integer earlyStopInterval;
  @Option(names = "--deepspeed", description = "accepted for ms-swift (zero0..zero3, *_offload, a json): jswift trains "
      + "on one device with its own kernels, so it has no effect (a note says so)") String deepspeed;
  @Option(names = "--gradient_checkpointing_kwargs", description = "accepted for ms-swift (e.g. '{\"use_reentrant\": "
      + "false}'): jswift's recomputation has no such options") String gradientCheckpointingKwargs;
  @Option(names = "--logging_first_step", arity = "1", description = "accepted: jswift always logs the first step")
  Boolean loggingFirstStep;
  @Option(names = "--report_to", arity = "1..*", description = "none, tensorboard or all are accepted: jswift logs to "
      + "logging.jsonl and plots images/ (no event files); wandb and swanlab need a network and are refused")
  List<String> reportTo = new ArrayList<>();
  @Option(names = "--template") String template;
  @Option(names = "--system") String system;
  @Option(names = "--max_length") Integer maxLength;
  @Option(names = "--truncation_strategy", description = "delete (default), left, right; split (pt only)") String truncationStrategy = "delete";
  @Option(names = "--loss_scale", description = "default, last_round, all (each +ignore_empty_think), react, qwen, hermes") String lossScale = "default";
  @Option(names = "--packing", arity = "1") boolean packing;
  @Option(names = "--dataloader_num_workers", description = "0: prepare each step's batches on the training thread; "
      + ">= 1 (default 1): on a background thread, one step ahead, while the step computes") Integer dataloaderNumWorkers;
  @Option(names = "--model_name", arity = "1..*") List<String> modelName = new ArrayList<>();
  @Option(names = "--model_author", arity = "1..*") List<String> modelAuthor = new ArrayList<>();
  @Option(names = "--lora_rank") int loraRank = 8;
  @Option(names = "--lora_alpha") float loraAlpha = 32;
  @Option(names = "--lora_dropout") float loraDropout = 0.05f;
  @Option(names = "--target_modules", arity = "1..*") List<String> targetModules = new ArrayList<>(List.of("all-linear"));
  @Option(names = "--target_regex") String targetRegex;
  @Option(names = "--use_rslora", arity = "1") boolean useRslora;
  @Option(names = "--use_dora", arity = "1", description = "DoRA: a trainable magnitude per output row") boolean useDora;
  @Option(names = "--init_weights", description = "LoRA init: true, false, gaussian, pissa, pissa_niter_N, olora "
      + "(PiSSA / OLoRA replace each target weight by W - s B A; checkpoints then also hold converted/default, "
      + "the plain LoRA for the original model)") String initWeights = "true";
  @Option(names = "--vera_rank", description = "VeRA: rank of the shared random projections (256)") int veraRank = 256;
  @Option(names = "--vera_projection_prng_key", description = "VeRA: seed of the shared projections (0)")
  long veraProjectionPrngKey = 0;
  @Option(names = "--vera_dropout", description = "VeRA: dropout on the adapter's input (0.0)") float veraDropout = 0f;
  @Option(names = "--vera_d_initial", description = "VeRA: initial value of lambda_d (0.1)") float veraDInitial = 0.1f;
  @Option(names = "--ia3_target_modules", arity = "1..*", description = "IA3: modules whose outputs (or, for the "
      + "feedforward ones, inputs) get a learned scale (k_proj v_proj down_proj)")
  List<String> ia3TargetModules = new ArrayList<>(jswift.tuner.Ia3Tuner.DEFAULT_TARGETS);
  @Option(names = "--ia3_feedforward_modules", arity = "1..*", description = "IA3: the targets whose inputs are scaled "
      + "(down_proj)") List<String> ia3FeedforwardModules = new ArrayList<>(jswift.tuner.Ia3Tuner.DEFAULT_FEEDFORWARD);
  @Option(names = "--boft_block_size", description = "BOFT: size of the orthogonal blocks (4; 0 to set "
      + "--boft_block_num instead)") int boftBlockSize = 4;
  @Option(names = "--boft_block_num", description = "BOFT: blocks per layer (0: from --boft_block_size)")
  int boftBlockNum = 0;
  @Option(names = "--boft_n_butterfly_factor", description = "BOFT: butterfly factors of the rotation (1: OFT's "
      + "block-diagonal rotation)") int boftNButterflyFactor = 1;
  @Option(names = "--boft_dropout", description = "BOFT: share of a factor's blocks set to the identity in each "
      + "training step (0.0)") float boftDropout = 0f;
  @Option(names = "--fourier_n_frequency", description = "FourierFT: spectral coefficients trained per layer (2000)")
  int fourierNFrequency = 2000;
  @Option(names = "--fourier_scaling", description = "FourierFT: scale of the weight update, like lora_alpha (300.0)")
  double fourierScaling = 300.0;
  @Option(names = "--reft_rank", description = "--train_type reft: the intervention's rank; --train_type bone: the MiSS (Bone) block's r, as ms-swift passes it (4)")
  int reftRank = 4;
  @Option(names = "--adalora_target_r", description = "AdaLoRA: singular values kept per module at the end (8)")
  int adaloraTargetR = 8;
  @Option(names = "--adalora_init_r", description = "AdaLoRA: singular values per module at the start (12)")
  int adaloraInitR = 12;
  @Option(names = "--adalora_tinit", description = "AdaLoRA: steps before pruning starts (0)") int adaloraTinit = 0;
  @Option(names = "--adalora_tfinal", description = "AdaLoRA: steps after the final allocation (0)")
  int adaloraTfinal = 0;
  @Option(names = "--adalora_deltaT", description = "AdaLoRA: steps between prunings (1)") int adaloraDeltaT = 1;
  @Option(names = "--adalora_beta1", description = "AdaLoRA: smoothing of the sensitivities (0.85)")
  double adaloraBeta1 = 0.85;
  @Option(names = "--adalora_beta2", description = "AdaLoRA: smoothing of their uncertainty (0.85)")
  double adaloraBeta2 = 0.85;
  @Option(names = "--adalora_orth_reg_weight", description = "AdaLoRA: weight of the orthogonality regulariser (0.5)")
  double adaloraOrthRegWeight = 0.5;
  @Option(names = "--neftune_noise_alpha", description = "NEFTune: uniform noise of +-alpha / sqrt(length x hidden)"
      + " on the input embeddings while training (the paper uses 5-15; default off)") Double neftuneNoiseAlpha;
  @Option(names = "--lorap_lr_ratio", description = "LoRA+: lora_B (and 1-D) parameters learn at lr x this "
      + "(recommended 16)") Double lorapLrRatio;
  @Option(names = "--lorap_emb_lr", description = "LoRA+ rate of LoRA-on-embedding weights (none in jswift, which "
      + "adapts linear layers)") double lorapEmbLr = 1e-6;
  @Option(names = "--modules_to_save", arity = "1..*", description = "modules trained in full and saved inside the "
      + "adapter (embed_tokens, lm_head)") List<String> modulesToSave = new ArrayList<>();
  @Option(names = "--lisa_activated_layers", description = "LISA with --train_type full: decoder layers trained at a time (0: off)")
  int lisaActivatedLayers = 0;
  @Option(names = "--lisa_step_interval", description = "LISA: steps between redraws of the trained layers (20)")
  int lisaStepInterval = 20;
  @Option(names = "--new_special_tokens", arity = "1..*", description = "tokens added to the tokenizer as special "
      + "tokens (or .txt files of one a line); the embedding grows when it must (new rows: the mean of the others)")
  List<String> newSpecialTokens = new ArrayList<>();
  @Option(names = "--adapter_length", description = "--train_type adapter: the bottleneck's width (128)")
  int adapterLength = 128;
  @Option(names = "--adapter_act", description = "--train_type adapter: its activation, a transformers name (gelu)")
  String adapterAct = "gelu";
  @Option(names = "--reft_layers", arity = "1..*", description = "--train_type reft: the decoder layers whose output "
      + "is intervened on (default: all)")
  List<Integer> reftLayers;
  @Option(names = "--reft_intervention_type", description = "--train_type reft: pyreft's LoreftIntervention (default), "
      + "NoreftIntervention, ConsreftIntervention, LobireftIntervention, DireftIntervention or NodireftIntervention")
  String reftInterventionType = "LoreftIntervention";
  @Option(names = "--reft_args", description = "--train_type reft: JSON of the intervention's arguments (act_fn, "
      + "dropout, add_bias)")
  String reftArgs;
  @Option(names = "--reft_layer_key", description = "--train_type reft: the module list intervened on (model.layers)")
  String reftLayerKey;
  @Option(names = "--llamapro_num_new_blocks", description = "LLaMA-Pro: blocks added (4)") int llamaproNumNewBlocks = 4;
  @Option(names = "--llamapro_num_groups", description = "LLaMA-Pro: insertion points (default: num_new_blocks)")
  Integer llamaproNumGroups;
  @Option(names = "--per_device_train_batch_size") int perDeviceTrainBatchSize = 1;
  @Option(names = "--per_device_eval_batch_size") int perDeviceEvalBatchSize = 1;
  @Option(names = "--gradient_accumulation_steps") Integer gradientAccumulationSteps;
  @Option(names = "--learning_rate") Double learningRate;
  @Option(names = "--num_train_epochs") double numTrainEpochs = 3;
  @Option(names = "--max_steps") long maxSteps = -1;
  @Option(names = "--lr_scheduler_type") String lrSchedulerType = "cosine";
  @Option(names = "--warmup_ratio") double warmupRatio = 0.0;
  @Option(names = "--warmup_steps") long warmupSteps = 0;
  @Option(names = "--weight_decay") double weightDecay = 0.1;
  @Option(names = "--adam_beta1") double adamBeta1 = 0.9;
  @Option(names = "--adam_beta2") double adamBeta2 = 0.95;
  @Option(names = "--adam_epsilon") double adamEpsilon = 1e-8;
  @Option(names = "--optim", description = "adamw_torch (default), adamw_torch_fused or adamw_hf: jswift's AdamW")
  String optim = "adamw_torch";
  @Option(names = "--max_grad_norm") double maxGradNorm = 1.0;
  @Option(names = "--gradient_checkpointing", arity = "1") boolean gradientCheckpointing = true;
  @Option(names = "--report_memory", arity = "1", description = "print (and log) the split of the peak memory: "
      + "weights, trainable, optimizer state, activations + workspace") boolean reportMemory;
  @Option(names = "--cuda_graphs", arity = "1", description = "(jswift) pad every micro-batch to "
      + "per_device_train_batch_size x max_length tokens and replay its forward and backward (and the optimizer's "
      + "update) from captured device graphs (CUDA: a launch instead of thousands; CPU: a recording, for tests); "
      + "needs --max_length, best with --packing true") boolean cudaGraphs;
  @Option(names = "--torch_dtype") String torchDtype;
  @Option(names = "--seed") long seed = 42;
  @Option(names = "--logging_steps") int loggingSteps = 5;
  @Option(names = "--eval_steps") Integer evalSteps;
  @Option(names = "--save_steps") int saveSteps = 500;
  @Option(names = "--save_strategy", description = "steps (default: every --save_steps), epoch, or no (the final "
      + "checkpoint only)") String saveStrategy = "steps";
  @Option(names = {"--eval_strategy", "--evaluation_strategy"}, description = "steps (default: every --eval_steps), "
      + "epoch, or no (the last step only)") String evalStrategy = "steps";
  @Option(names = "--save_total_limit") Integer saveTotalLimit;
  @Option(names = "--output_dir") Path outputDir = Path.of("output");
  @Option(names = "--add_version", arity = "1") boolean addVersion = true;
  @Option(names = "--resume_from_checkpoint") Path resumeFromCheckpoint;
  @Option(names = "--save_only_model", arity = "1", description = "checkpoints without the optimizer state (smaller; "
      + "a resume then takes the weights alone: --resume_only_model true)") boolean saveOnlyModel;
  @Option(names = "--resume_only_model", arity = "1", description = "with --resume_from_checkpoint: the weights alone "
      + "(a fresh optimizer); the step and data position go on unless --ignore_data_skip") boolean resumeOnlyModel;
  @Option(names = "--ignore_data_skip", arity = "1", description = "with --resume_from_checkpoint: read the data from "
      + "its start (with --resume_only_model: also from step 1)") boolean ignoreDataSkip;
  @Option(names = "--create_checkpoint_symlink", arity = "1", description = "links best and last in the run folder "
      + "to the best (lowest eval_loss; GRPO: highest eval_reward) and the last checkpoint") boolean createCheckpointSymlink;
  @Option(names = "--adapters", arity = "1..*", description = "a LoRA adapter (PEFT folder) whose weights and settings "
      + "the run starts from (weights only: a new run, not a resume)")
  List<Path> adapters = new ArrayList<>();
  @Option(names = "--device", description = "cpu, cuda or cuda:N (default: cuda when usable)") String device;
  @Option(names = "--quant_method", description = "bnb: QLoRA, the base's linear layers stored in 4 bits") String quantMethod;
  @Option(names = "--quant_bits", description = "4 with --quant_method bnb") Integer quantBits;
  @Option(names = "--bnb_4bit_quant_type", description = "nf4 (default)") String bnb4bitQuantType = "nf4";
  @Option(names = "--bnb_4bit_use_double_quant", arity = "1", description = "default true")
  boolean bnb4bitUseDoubleQuant = true;
  @Option(names = "--bnb_4bit_compute_dtype", description = "bfloat16, float16 or float32: must be the model's "
      + "dtype (--torch_dtype), which the NF4 layers compute in") String bnb4bitComputeDtype;
  @Option(names = "--padding_free", arity = "1", description = "accepted: jswift's batches are always padding-free "
      + "(each micro-batch's rows packed, attention kept inside each)") boolean paddingFree;
  @Option(names = "--lora_bias", description = "none (the only value supported)") String loraBias = "none";

  // full training: which weights train (ms-swift's names and rules)
  @Option(names = "--freeze_parameters", arity = "1..*", description = "full training: freeze weights whose names start so")
  List<String> freezeParameters = new ArrayList<>();
  @Option(names = "--freeze_parameters_regex", description = "full training: freeze weights this regex finds")
  String freezeParametersRegex;
  @Option(names = "--freeze_parameters_ratio", description = "full training: freeze this fraction of the weights, from the bottom")
  double freezeParametersRatio = 0.0;
  @Option(names = "--trainable_parameters", arity = "1..*", description = "full training: train these prefixes even if frozen above")
  List<String> trainableParameters = new ArrayList<>();
  @Option(names = "--trainable_parameters_regex", description = "full training: train weights this regex finds even if frozen above")
  String trainableParametersRegex;
  // GaLore (full training): ms-swift's flags and defaults
  @Option(names = "--use_galore", arity = "1", description = "full training: GaLore, gradients projected to low rank")
  boolean useGalore;
  @Option(names = "--galore_target_modules", arity = "1..*", description = "GaLore: module name parts to project "
      + "(default: every linear layer of the decoder)") List<String> galoreTargetModules;
  @Option(names = "--galore_rank") int galoreRank = 128;
  @Option(names = "--galore_update_proj_gap", description = "steps between projector refreshes (SVD)")
  int galoreUpdateProjGap = 50;
  @Option(names = "--galore_scale") double galoreScale = 1.0;
  @Option(names = "--galore_proj_type", description = "std (project the smaller side)") String galoreProjType = "std";
  @Option(names = "--galore_optim_per_parameter", arity = "1") boolean galoreOptimPerParameter;
  @Option(names = "--galore_with_embedding", arity = "1") boolean galoreWithEmbedding;
  @Option(names = "--galore_quantization", arity = "1", description = "Q-GaLore: INT8 weights (stochastic rounding) "
      + "and the lazy projector refresh") boolean galoreQuantization;
  @Option(names = "--galore_proj_quant", arity = "1", description = "Q-GaLore: projectors stored INT4")
  boolean galoreProjQuant;
  // --- Q-GaLore's settings (ms-swift's names and defaults) ---
  @Option(names = "--galore_proj_bits") int galoreProjBits = 4;
  @Option(names = "--galore_proj_group_size") int galoreProjGroupSize = 256;
  @Option(names = "--galore_cos_threshold") double galoreCosThreshold = 0.4;
  @Option(names = "--galore_gamma_proj") int galoreGammaProj = 2;
  @Option(names = "--galore_queue_size") int galoreQueueSize = 5;
  @Option(names = "--config", description = "a YAML or JSON file whose keys are these flags without '--' "
      + "(dataset: [a.jsonl, b.jsonl]); flags given on the command line win") Path config;

  TrainArguments arguments() {
    TrainArguments a = new TrainArguments();
    a.model = model;
    a.trainType = trainType;
    a.dataset = dataset;
    a.valDataset = valDataset;
    a.splitDatasetRatio = splitDatasetRatio;
    a.datasetShuffle = datasetShuffle;
    a.datasetSkipBad = datasetSkipBad;
    a.template = template;
    a.system = system;
    a.maxLength = maxLength;
    a.truncationStrategy = truncationStrategy;
    a.lossScale = lossScale;
    a.packing = packing;
    a.dataloaderNumWorkers = dataloaderNumWorkers;
    a.columns = columns;
    a.createCheckpointSymlink = createCheckpointSymlink;
    a.resumeOnlyModel = resumeOnlyModel;
    a.saveOnlyModel = saveOnlyModel;
    a.ignoreDataSkip = ignoreDataSkip;
    a.dataSeed = dataSeed;
    a.valDatasetShuffle = valDatasetShuffle;
    a.streaming = streaming;
    a.attnImpl = attnImpl;
    a.tunerBackend = tunerBackend;
    a.reportTo = reportTo;
    a.taskType = taskType;
    a.agentTemplate = agentTemplate;
    a.useChatTemplate = useChatTemplate;
    a.deepspeed = deepspeed;
    a.metricForBestModel = metricForBestModel;
    a.greaterIsBetter = greaterIsBetter;
    a.loadBestModelAtEnd = loadBestModelAtEnd;
    a.earlyStopInterval = earlyStopInterval;
    a.predictWithGenerate = predictWithGenerate;
    a.maxNewTokens = maxNewTokens;
    a.numLabels = numLabels;
    a.problemType = problemType;
    a.modelName = modelName;
    a.modelAuthor = modelAuthor;
    a.loraRank = loraRank;
    a.veraRank = veraRank;
    a.veraProjectionPrngKey = veraProjectionPrngKey;
    a.veraDropout = veraDropout;
    a.veraDInitial = veraDInitial;
    a.neftuneNoiseAlpha = neftuneNoiseAlpha;
    a.ia3TargetModules = ia3TargetModules;
    a.ia3FeedforwardModules = ia3FeedforwardModules;
    a.boftBlockSize = boftBlockSize;
    a.adapterLength = adapterLength;
    a.newSpecialTokens = newSpecialTokens;
    a.adapterAct = adapterAct;
    a.reftLayers = reftLayers;
    a.reftInterventionType = reftInterventionType;
    a.reftArgs = reftArgs;
    a.reftLayerKey = reftLayerKey;
    a.boftBlockNum = boftBlockNum;
    a.boftNButterflyFactor = boftNButterflyFactor;
    a.boftDropout = boftDropout;
    a.fourierNFrequency = fourierNFrequency;
    a.fourierScaling = fourierScaling;
    a.reftRank = reftRank;
    a.adaloraTargetR = adaloraTargetR;
    a.adaloraInitR = adaloraInitR;
    a.adaloraTinit = adaloraTinit;
    a.adaloraTfinal = adaloraTfinal;
    a.adaloraDeltaT = adaloraDeltaT;
    a.adaloraBeta1 = adaloraBeta1;
    a.adaloraBeta2 = adaloraBeta2;
    a.adaloraOrthRegWeight = adaloraOrthRegWeight;
    a.loraAlpha = loraAlpha;
    a.loraDropout = loraDropout;
    a.targetModules = targetModules;
    a.targetRegex = targetRegex;
    a.useRslora = useRslora;
    a.useDora = useDora;
    a.lisaActivatedLayers = lisaActivatedLayers;
    a.lisaStepInterval = lisaStepInterval;
    a.llamaproNumNewBlocks = llamaproNumNewBlocks;
    a.llamaproNumGroups = llamaproNumGroups;
    a.initWeights = initWeights;
    a.lorapLrRatio = lorapLrRatio;
    a.lorapEmbLr = lorapEmbLr;
    a.modulesToSave = modulesToSave;
    a.perDeviceTrainBatchSize = perDeviceTrainBatchSize;
    a.perDeviceEvalBatchSize = perDeviceEvalBatchSize;
    a.gradientAccumulationSteps = gradientAccumulationSteps;
    a.learningRate = learningRate;
    a.numTrainEpochs = numTrainEpochs;
    a.maxSteps = maxSteps;
    a.lrSchedulerType = lrSchedulerType;
    a.warmupRatio = warmupRatio;
    a.warmupSteps = warmupSteps;
    a.weightDecay = weightDecay;
    a.adamBeta1 = adamBeta1;
    a.adamBeta2 = adamBeta2;
    a.maxGradNorm = maxGradNorm;
    a.gradientCheckpointing = gradientCheckpointing;
    a.reportMemory = reportMemory;
    a.cudaGraphs = cudaGraphs;
    a.torchDtype = torchDtype;
    a.seed = seed;
    a.loggingSteps = loggingSteps;
    a.evalSteps = evalSteps;
    a.saveSteps = saveSteps;
    a.saveTotalLimit = saveTotalLimit;
    a.outputDir = outputDir;
    a.addVersion = addVersion;
    a.resumeFromCheckpoint = resumeFromCheckpoint;
    a.adapters = adapters;
    a.device = device;
    a.quantMethod = quantMethod;
    a.quantBits = quantBits;
    a.bnb4bitQuantType = bnb4bitQuantType;
    a.bnb4bitUseDoubleQuant = bnb4bitUseDoubleQuant;
    a.bnb4bitComputeDtype = bnb4bitComputeDtype;
    a.optim = optim;
    a.adamEpsilon = adamEpsilon;
    a.loraBias = loraBias;
    a.saveStrategy = saveStrategy;
    a.evalStrategy = evalStrategy;
    a.freezeParameters = freezeParameters;
    a.freezeParametersRegex = freezeParametersRegex;
    a.freezeParametersRatio = freezeParametersRatio;
    a.trainableParameters = trainableParameters;
    a.trainableParametersRegex = trainableParametersRegex;
    a.useGalore = useGalore;
    a.galoreTargetModules = galoreTargetModules;
    a.galoreRank = galoreRank;
    a.galoreUpdateProjGap = galoreUpdateProjGap;
    a.galoreScale = galoreScale;
    a.galoreProjType = galoreProjType;
    a.galoreOptimPerParameter = galoreOptimPerParameter;
    a.galoreWithEmbedding = galoreWithEmbedding;
    a.galoreQuantization = galoreQuantization;
    a.galoreProjQuant = galoreProjQuant;
    a.galoreProjBits = galoreProjBits;
    a.galoreProjGroupSize = galoreProjGroupSize;
    a.galoreCosThreshold = galoreCosThreshold;
    a.galoreGammaProj = galoreGammaProj;
    a.galoreQueueSize = galoreQueueSize;
    return a;
  }

}
