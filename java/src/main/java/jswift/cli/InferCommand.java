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
      if (!valDataset.isEmpty()) {
        Path result = resultPath != null ? resultPath : defaultResultPath();
        try (LoadedDatasets data = DatasetLoader.load(valDataset, List.of(),
            DatasetOptions.defaults().withDatasetShuffle(false).withRequireAssistant(false))) {
          out.println("jswift infer: " + data.trainList().size() + " rows of " + valDataset + " with " + model + " on "
              + dev + ", template " + name + (active == null ? "" : ", adapter " + active) + " -> " + result);
          out.flush();
          long n = DatasetInference.run(lm, tok, encoder, gen.generation(tok), data.trainList(), maxBatchSize, result, out);
          out.println("wrote " + n + " answers to " + result);
        }
        return 0;
      }
      ChatSession chat = new ChatSession(lm, tok, encoder, sys, gen.generation(tok));
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
    List<GenerationOptions.Adapter> adapters = gen.adapterList();
    Path base = adapters.isEmpty() ? Path.of(".") : adapters.get(0).dir();
    return base.resolve("infer_result").resolve(stamp + ".jsonl");
  }
}
