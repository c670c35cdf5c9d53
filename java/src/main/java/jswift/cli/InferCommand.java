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
import jswift.infer.GenerationConfig;
import jswift.model.CausalLM;
import jswift.tensor.Device;
import jswift.template.ChatTemplate;
import jswift.template.ConversationEncoder;
import jswift.template.TemplateOptions;
import jswift.template.Templates;
import jswift.tokenizer.Tokenizer;
import picocli.CommandLine.Command;
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

  @Option(names = "--model", required = true, description = "Hugging Face model folder (config.json, safetensors, tokenizer)")
  Path model;

  @Option(names = "--adapters", arity = "1..*", description = "PEFT LoRA adapter folders: DIR or name=DIR; the first is active")
  List<String> adapters = new ArrayList<>();

  @Option(names = "--template", description = "ms-swift template name (qwen2_5, qwen3, llama3, ...) or 'jinja' "
      + "(the model's own chat_template); default: the model family's template")
  String template;

  @Option(names = "--system", description = "system prompt (text, or a .txt file)")
  String system;

  @Option(names = "--stream", arity = "1", description = "stream tokens as they are generated (default true)")
  boolean stream = true;

  @Option(names = "--max_new_tokens", description = "default 512")
  int maxNewTokens = 512;

  @Option(names = "--temperature", description = "0 = greedy; default: generation_config.json, else greedy")
  Float temperature;

  @Option(names = "--top_k") Integer topK;

  @Option(names = "--top_p") Float topP;

  @Option(names = "--repetition_penalty") Float repetitionPenalty;

  @Option(names = "--seed", description = "default 42")
  long seed = 42;

  @Option(names = "--device", description = "cpu, cuda or cuda:N (default: cuda when a GPU is usable)")
  String device;

  @Option(names = "--val_dataset", arity = "1..*",
      description = "answer every row of these datasets instead of chatting (ms-swift formats)")
  List<String> valDataset = new ArrayList<>();

  @Option(names = "--result_path", description = "jsonl the answers are appended to (default: infer_result/<time>.jsonl "
      + "next to the first adapter, else in the working directory)")
  Path resultPath;

  @Option(names = "--max_batch_size", description = "rows generated together in dataset mode (default 1)")
  int maxBatchSize = 1;

  @Override
  public Integer call() throws IOException {
    PrintWriter out = spec.commandLine().getOut();
    Device dev = Device.select(device);
    String sys = system;
    if (sys != null && sys.endsWith(".txt") && Files.exists(Path.of(sys))) sys = Files.readString(Path.of(sys));
    try (CausalLM lm = CausalLM.load(model, dev); Tokenizer tok = Tokenizer.load(model)) {
      String active = null;
      for (int i = 0; i < adapters.size(); i++) {
        String spec = adapters.get(i);
        int eq = spec.indexOf('=');
        String name = eq > 0 ? spec.substring(0, eq) : "adapter" + i;
        lm.loadAdapter(name, jswift.tuner.ResidualInit.forOriginalBase(Path.of(eq > 0 ? spec.substring(eq + 1) : spec)));
        if (active == null) active = name;
      }
      if (active != null) lm.setActiveAdapter(active);
      String name = template != null ? template : lm.config().architecture().template();
      ConversationEncoder encoder = Templates.create(name, tok,
          name.equals(Templates.JINJA) ? ChatTemplate.load(model) : null, TemplateOptions.DEFAULT);
      if (!valDataset.isEmpty()) {
        Path result = resultPath != null ? resultPath : defaultResultPath();
        try (LoadedDatasets data = DatasetLoader.load(valDataset, List.of(),
            DatasetOptions.defaults().withDatasetShuffle(false).withRequireAssistant(false))) {
          out.println("jswift infer: " + data.trainList().size() + " rows of " + valDataset + " with " + model + " on "
              + dev + ", template " + name + (active == null ? "" : ", adapter " + active) + " -> " + result);
          out.flush();
          long n = DatasetInference.run(lm, tok, encoder, generation(tok), data.trainList(), maxBatchSize, result, out);
          out.println("wrote " + n + " answers to " + result);
        }
        return 0;
      }
      ChatSession chat = new ChatSession(lm, tok, encoder, sys, generation(tok));
      out.println("jswift infer: " + model + " on " + dev + ", template " + name
          + (active == null ? "" : ", adapter " + active)
          + ". Type 'clear' to forget the conversation, 'exit' to quit.");
      out.flush();
      BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
      while (true) {
        out.print("<<< ");
        out.flush();
        String line = in.readLine();
        if (line == null || line.strip().equals("exit") || line.strip().equals("quit")) break;
        if (line.strip().equals("clear")) {
          chat.clear();
          out.println("(conversation cleared)");
          continue;
        }
        if (line.isBlank()) continue;
        if (stream) {
          chat.send(line, text -> {
            out.print(text);
            out.flush();
          });
          out.println();
        } else {
          out.println(chat.send(line, null));
        }
        out.flush();
      }
    }
    return 0;
  }

  private Path defaultResultPath() {
    String stamp = java.time.LocalDateTime.now().format(java.time.format.DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss"));
    Path base = adapters.isEmpty() ? Path.of(".") : Path.of(adapters.get(0).substring(adapters.get(0).indexOf('=') + 1));
    return base.resolve("infer_result").resolve(stamp + ".jsonl");
  }

  /** CLI values, else generation_config.json's, else greedy. Stop at the tokenizer's eos ids. */
  GenerationConfig generation(Tokenizer tok) throws IOException {
    JsonNode g = new ObjectMapper().createObjectNode();
    Path f = model.resolve("generation_config.json");
    if (Files.exists(f)) g = new ObjectMapper().readTree(f.toFile());
    float t = temperature != null ? temperature : g.path("do_sample").asBoolean(false)
        ? (float) g.path("temperature").asDouble(1.0) : 0f;
    int k = topK != null ? topK : g.path("top_k").asInt(0);
    float p = topP != null ? topP : (float) g.path("top_p").asDouble(1.0);
    float rep = repetitionPenalty != null ? repetitionPenalty : (float) g.path("repetition_penalty").asDouble(1.0);
    return new GenerationConfig(maxNewTokens, t > 0, t > 0 ? t : 1f, k, p, rep, seed, tok.eosTokenIds(), List.of());
  }
}
