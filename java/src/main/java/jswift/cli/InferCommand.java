package jswift.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import jswift.data.DatasetLoader;
import jswift.data.DatasetOptions;
import jswift.data.LoadedDatasets;
import jswift.infer.ChatSession;
import jswift.infer.DatasetInference;
import jswift.infer.SequenceClassifier;
import jswift.model.CausalLM;
import jswift.tensor.Device;
import jswift.template.ConversationEncoder;
import jswift.tokenizer.Tokenizer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code jswift infer}: an interactive chat in the terminal (multi-turn; {@code clear} forgets the conversation,
 * {@code exit} quits), or answers for every row of {@code --val_dataset} appended to {@code --result_path}. Sampling settings default to the model's
 * generation_config.json, as in ms-swift.
 */
@Command(name = "infer", mixinStandardHelpOptions = true,
    description = "Chat with a model (and optional LoRA adapters) in the terminal.")
public final class InferCommand implements Callable<Integer> {
  @Spec picocli.CommandLine.Model.CommandSpec spec;

  @Mixin GenerationOptions gen = new GenerationOptions();

  @Option(names = "--stream", arity = "1", description = "stream tokens as they are generated (default true)")
  boolean stream = true;

  @Option(names = "--val_dataset", arity = "1..*",
      description = "answer every row of these datasets instead of chatting (ms-swift formats)")
  List<String> valDataset = new ArrayList<>();

  @Option(names = "--result_path", description = "jsonl the answers are appended to (default: infer_result/<time>.jsonl "
      + "next to the first adapter, else in the working directory)")
  Path resultPath;

  @Option(names = "--max_batch_size", description = "rows generated together in dataset mode (default 1)")
  int maxBatchSize = 1;

  @Option(names = "--load_data_args", arity = "1", description = "answer the validation rows of the --adapters "
      + "checkpoint's training run: its args.json's datasets, split and seed (ms-swift's load_data_args)")
  boolean loadDataArgs;

  @Option(names = "--task_type", description = "embedding: print each line's (each row's) embedding instead of "
      + "chatting; default: the checkpoint's own (args.json), a classifier's detected from its head")
  String taskType;

  @Override
  public Integer call() throws IOException {
    PrintWriter out = spec.commandLine().getOut();
    Device dev = Device.select(gen.device);
    String sys = gen.systemPrompt();
    Path model = gen.model();
    try (CausalLM lm = gen.load(dev); Tokenizer tok = Tokenizer.load(model)) {
      gen.loadAdapters(lm);
      List<GenerationOptions.Adapter> adapters = gen.adapterList();
      String active = adapters.isEmpty() ? null : adapters.get(0).name();
      if (active != null) lm.setActiveAdapter(active);
      String name = gen.templateName(lm);
      ConversationEncoder encoder = gen.encoder(lm, tok);
      if (loadDataArgs && !valDataset.isEmpty())
        throw new IllegalArgumentException("--load_data_args takes the rows from the checkpoint's run: drop --val_dataset");
      if (taskType != null && !List.of("causal_lm", "embedding", "seq_cls", "reranker", "generative_reranker")
          .contains(taskType))
        throw new IllegalArgumentException("--task_type " + taskType + " is not one of causal_lm, embedding, seq_cls, "
            + "reranker, generative_reranker");
      String task = taskType != null ? taskType : checkpointTaskType(model);
      if ("embedding".equals(task)) return embed(lm, tok, out, model, dev);
      if ("generative_reranker".equals(task)) return rerank(lm, tok, encoder, out, model, dev);
      try (SequenceClassifier classifier = SequenceClassifier.detect(lm, model,
          adapters.isEmpty() ? null : adapters.get(0).dir(), encoder)) {
        if (classifier != null) return classify(classifier, out, sys, model, dev, name);
      }
      if (datasetMode()) {
        Path result = resultFile();
        try (LoadedDatasets data = openRows()) {
          jswift.data.RowList rows = rowsOf(data);
          String what = loadDataArgs ? "the validation rows of " + gen.adapterList().get(0).dir() + "'s run" : "" + valDataset;
          out.println("jswift infer: " + rows.size() + " rows of " + what + " with " + model + " on "
              + dev + ", template " + name + (active == null ? "" : ", adapter " + active) + " -> " + result);
          out.flush();
          long n = DatasetInference.run(lm, tok, encoder, gen.generation(tok), rows, maxBatchSize, result, out);
          out.println("wrote " + n + " answers to " + result);
        }
        return 0;
      }
      ChatSession chat = new ChatSession(lm, tok, encoder, sys, gen.generation(tok));
      out.println("jswift infer: " + model + " on " + dev + ", template " + name
          + (active == null ? "" : ", adapter " + active)
          + ". Type 'clear' to forget the conversation, 'exit' to quit.");
      promptLoop(out, line -> {
        if (line.strip().equals("clear")) {
          chat.clear();
          return "(conversation cleared)";
        }
        if (!stream) return chat.send(line, null);
        chat.send(line, text -> {  // the answer as it grows; the loop then ends its line
          out.print(text);
          out.flush();
        });
        return "";
      });
    }
    return 0;
  }

  /** The task_type of the run that saved the first adapter (or the model folder), from its args.json; else null. */
  private String checkpointTaskType(Path model) throws IOException {
    List<GenerationOptions.Adapter> adapters = gen.adapterList();
    Path args = (adapters.isEmpty() ? model : adapters.get(0).dir()).resolve("args.json");
    if (!Files.exists(args)) return null;
    return new ObjectMapper().readTree(args.toFile()).path("task_type").asText(null);
  }

  /**
   * An embedding model (what sft --task_type embedding saved): each typed line's embedding, or each row's (its last
   * user message) appended to the result file as {@code response}, encoded as /v1/embeddings does.
   */
  private int embed(CausalLM lm, Tokenizer tok, PrintWriter out, Path model, Device dev) throws IOException {
    jswift.infer.EmbeddingInput input = new jswift.infer.EmbeddingInput(tok, lm.config().eosTokenIds());
    int dim = lm.config().hiddenSize();
    if (datasetMode()) {
      Path result = resultFile();
      try (LoadedDatasets data = openRows()) {
        jswift.data.RowList rows = rowsOf(data);
        out.println("jswift infer: " + rows.size() + " rows with " + model + " on " + dev + ", embeddings of " + dim
            + " dimensions -> " + result);
        out.flush();
        out.println("wrote " + input.run(lm, rows, result) + " embeddings to " + result);
      }
      return 0;
    }
    out.println("jswift infer: " + model + " on " + dev + ", embeddings of " + dim + " dimensions (L2-normalized). "
        + "Each line is embedded; 'exit' to quit.");
    promptLoop(out, line -> {
      float[] v = jswift.infer.EmbeddingInput.embed(lm, List.of(input.ids(line)), dim)[0];
      StringBuilder sb = new StringBuilder("[");
      for (int i = 0; i < Math.min(8, v.length); i++) sb.append(i > 0 ? ", " : "").append(String.format("%.4f", v[i]));
      return sb.append(v.length > 8 ? ", ...]" : "]").append(" (").append(v.length).append(" dimensions)").toString();
    });
    return 0;
  }

  /**
   * A generative reranker (sft --task_type generative_reranker, or Qwen3-Reranker itself): each (query, document)
   * row's relevance P(yes) ({@link jswift.infer.PairScoring}).
   */
  private int rerank(CausalLM lm, Tokenizer tok, ConversationEncoder encoder, PrintWriter out, Path model, Device dev)
      throws IOException {
    if (!datasetMode())
      throw new IllegalArgumentException("a generative reranker scores (query, document) rows: pass --val_dataset "
          + "rows.jsonl ({\"query\": \"...\", \"response\": \"the document\"} per line)");
    jswift.model.YesNoHead head = jswift.model.YesNoHead.create(lm, tok, System.getenv());
    Path result = resultFile();
    try (LoadedDatasets data = openRows()) {
      jswift.data.RowList rows = rowsOf(data);
      out.println("jswift infer: " + rows.size() + " (query, document) rows with " + model + " on " + dev
          + ", template " + encoder.name() + ", relevance P(yes) -> " + result);
      out.flush();
      out.println("wrote " + jswift.infer.PairScoring.run(lm, encoder, head, rows, result) + " relevance scores to "
          + result);
    }
    return 0;
  }

  /**
   * A sequence classifier (what sft --task_type seq_cls or rlhf --rlhf_type rm saved): each row's, or each typed
   * line's, prediction instead of a generated answer.
   */
  private int classify(SequenceClassifier classifier, PrintWriter out, String sys, Path model, Device dev, String name)
      throws IOException {
    String what = "a sequence classifier (" + classifier.problemType().hfName() + ", " + classifier.labels()
        + " label" + (classifier.labels() == 1 ? "" : "s") + ")";
    if (datasetMode()) {
      Path result = resultFile();
      try (LoadedDatasets data = openRows()) {
        jswift.data.RowList rows = rowsOf(data);
        out.println("jswift infer: " + rows.size() + " rows with " + model + " on " + dev + ", " + what + " -> " + result);
        out.flush();
        SequenceClassifier.Summary s = classifier.run(rows, maxBatchSize, result, out);
        out.println("wrote " + s.rows() + " predictions to " + result + (s.labelled() == 0 ? ""
            : String.format(" (acc %.4f: %d of %d labelled rows)", (double) s.correct() / s.labelled(), s.correct(),
                s.labelled())));
      }
      return 0;
    }
    out.println("jswift infer: " + model + " on " + dev + ", template " + name + ", " + what
        + ". Each line is classified; 'exit' to quit.");
    promptLoop(out, line -> {
      List<jswift.template.Message> messages = new ArrayList<>();
      if (sys != null) messages.add(new jswift.template.Message(jswift.template.Role.SYSTEM, sys));
      messages.add(new jswift.template.Message(jswift.template.Role.USER, line));
      return classifier.predict(jswift.template.Conversation.of(messages)).toString();
    });
    return 0;
  }

  /** Whether rows are answered (--val_dataset or --load_data_args) rather than typed lines. */
  private boolean datasetMode() {
    return !valDataset.isEmpty() || loadDataArgs;
  }

  /** The rows to answer: --val_dataset's, or (--load_data_args) the checkpoint's run's; see {@link #rowsOf}. */
  private LoadedDatasets openRows() throws IOException {
    return loadDataArgs ? runValidationRows() : DatasetLoader.load(valDataset, List.of(),
        DatasetOptions.defaults().withDatasetShuffle(false).withRequireAssistant(false));
  }

  private jswift.data.RowList rowsOf(LoadedDatasets data) {
    return loadDataArgs ? data.valList() : data.trainList();
  }

  private Path resultFile() {
    return resultPath != null ? resultPath : defaultResultPath();
  }

  /** Reads lines typed at the prompt until 'exit' (or the end of input); each non-blank one's answer is printed. */
  private static void promptLoop(PrintWriter out, java.util.function.Function<String, String> answer)
      throws IOException {
    out.flush();
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    while (true) {
      out.print("<<< ");
      out.flush();
      String line = in.readLine();
      if (line == null || line.strip().equals("exit") || line.strip().equals("quit")) break;
      if (line.isBlank()) continue;
      out.println(answer.apply(line));
      out.flush();
    }
  }

  /**
   * --load_data_args: the training run's datasets, loaded and split as the run did (its args.json: dataset,
   * val_dataset, split_dataset_ratio, data_seed / seed, dataset_shuffle, columns, model_name / model_author).
   */
  private LoadedDatasets runValidationRows() throws IOException {
    List<GenerationOptions.Adapter> adapters = gen.adapterList();
    if (adapters.isEmpty())
      throw new IllegalArgumentException("--load_data_args reads a training checkpoint's args.json: pass --adapters "
          + "CHECKPOINT");
    Path file = adapters.get(0).dir().resolve("args.json");
    if (!java.nio.file.Files.exists(file))
      throw new IllegalArgumentException("--load_data_args: " + file + " not found (is "
          + adapters.get(0).dir() + " a jswift / ms-swift training checkpoint?)");
    com.fasterxml.jackson.databind.JsonNode a = new com.fasterxml.jackson.databind.ObjectMapper().readTree(file.toFile());
    List<String> train = strings(a.path("dataset")), val = strings(a.path("val_dataset"));
    if (train.isEmpty()) throw new IllegalArgumentException(file + " names no dataset");
    DatasetOptions options = DatasetOptions.defaults()
        .withSeed(a.path("data_seed").isNumber() ? a.get("data_seed").asLong() : a.path("seed").asLong(42))
        .withSplitDatasetRatio(a.path("split_dataset_ratio").asDouble(0))
        .withDatasetShuffle(a.path("dataset_shuffle").asBoolean(true))
        .withModelIdentity(strings(a.path("model_name")), strings(a.path("model_author")))
        .withSkipBadRows(a.path("dataset_skip_bad").asBoolean(false))
        .withRequireAssistant(false);
    if (a.path("columns").isTextual()) options = options.withColumns(a.get("columns").asText());
    LoadedDatasets data = DatasetLoader.load(train, val, options);
    if (data.valList() == null || data.valList().size() == 0) {
      data.close();
      throw new IllegalArgumentException("the run of " + adapters.get(0).dir() + " had no validation rows "
          + "(split_dataset_ratio 0 and no val_dataset): pass --val_dataset instead");
    }
    return data;
  }

  private static List<String> strings(com.fasterxml.jackson.databind.JsonNode n) {
    List<String> out = new ArrayList<>();
    if (n.isTextual()) out.add(n.asText());
    else if (n.isArray()) n.forEach(x -> out.add(x.asText()));
    return out;
  }

  private Path defaultResultPath() {
    String stamp = java.time.LocalDateTime.now().format(java.time.format.DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss"));
    List<GenerationOptions.Adapter> adapters = gen.adapterList();
    Path base = adapters.isEmpty() ? Path.of(".") : adapters.get(0).dir();
    return base.resolve("infer_result").resolve(stamp + ".jsonl");
  }
}
