package jswift.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import jswift.infer.GenerationConfig;
import jswift.model.CausalLM;
import jswift.template.ChatTemplate;
import jswift.template.ConversationEncoder;
import jswift.template.TemplateOptions;
import jswift.template.Templates;
import jswift.tokenizer.Tokenizer;
import picocli.CommandLine.Option;

/**
 * The flags {@code jswift infer} and {@code jswift deploy} share (ms-swift's infer arguments): the model, its
 * adapters and template, the device, and the sampling defaults, which come from the model's
 * generation_config.json where the command line leaves them unset.
 */
final class GenerationOptions {
  @Option(names = "--model", description = "Hugging Face model folder (config.json, safetensors, tokenizer); default: "
      + "the base model an --adapters checkpoint was trained on (its args.json, as ms-swift reads it)")
  Path model;

  @Option(names = "--adapters", arity = "1..*", description = "PEFT LoRA adapter folders: DIR or name=DIR")
  List<String> adapters = new ArrayList<>();

  @Option(names = "--template", description = "ms-swift template name (qwen2_5, qwen3, llama3, ...) or 'jinja' "
      + "(the model's own chat_template); default: the model family's template")
  String template;

  @Option(names = "--system", description = "system prompt (text, or a .txt file)")
  String system;

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

  @Option(names = "--infer_backend", description = "pt or transformers (jswift's own engine; ms-swift's vllm, sglang "
      + "and lmdeploy backends are other programs)")
  String inferBackend = "pt";

  @Option(names = "--torch_dtype", description = "float32, bfloat16 or float16 (default: float32 on the CPU, bfloat16 "
      + "on CUDA)")
  String torchDtype;

  @Option(names = "--quant_method", description = "bnb: load the base's linear layers in 4-bit NF4 (with --quant_bits 4)")
  String quantMethod;

  @Option(names = "--quant_bits", description = "4 with --quant_method bnb")
  Integer quantBits;

  @Option(names = "--bnb_4bit_use_double_quant", arity = "1", description = "default true")
  boolean bnb4bitUseDoubleQuant = true;

  @Option(names = "--merge_lora", arity = "1", description = "merge the --adapters checkpoint into its base first (into "
      + "<checkpoint>-merged, reused when it exists, as ms-swift does) and run the merged model")
  boolean mergeLora;

  private boolean merged;  // --merge_lora done: model is the merged folder, adapters cleared

  /**
   * The model folder: --model, else the base recorded by the first adapter (ms-swift's {@code swift infer --adapters
   * CKPT} reads the checkpoint's args.json; a PEFT folder's base_model_name_or_path also serves).
   */
  Path model() throws IOException {
    if (!List.of("pt", "transformers").contains(inferBackend))
      throw new IllegalArgumentException("--infer_backend " + inferBackend + ": jswift is its own inference engine "
          + "(pt / transformers in ms-swift's terms); vllm, sglang and lmdeploy are not part of it");
    if (mergeLora && !merged) mergeFirst();
    if (resolved) return model;
    if (model == null && adapters.isEmpty())
      throw new IllegalArgumentException("--model is required (or --adapters CHECKPOINT, whose args.json names the "
          + "model it was trained on)");
    if (!adapters.isEmpty()) {  // the adapter's base (its run's --new_special_tokens added back)
      Path adapter = adapterList().get(0).dir();
      model = ExportCommand.withNewSpecialTokens(model != null ? model : ExportCommand.baseOf(adapter), adapter);
    }
    resolved = true;
    return model;
  }

  private boolean resolved;  // model() has settled the model folder

  /** --merge_lora: the one unnamed adapter merged into {@code <checkpoint>-merged} (reused), which becomes --model. */
  private void mergeFirst() throws IOException {
    merged = true;
    List<Adapter> list = adapterList();
    if (list.size() != 1 || list.get(0).named())
      throw new IllegalArgumentException("--merge_lora true merges one unnamed --adapters checkpoint into its base, got "
          + adapters);
    Path dir = list.get(0).dir(), out = jswift.tuner.LoraMerge.defaultOutputDir(dir);
    Path base = ExportCommand.withNewSpecialTokens(model != null ? model : ExportCommand.baseOf(dir), dir);
    if (!Files.exists(out.resolve("config.json")))
      jswift.tuner.LoraMerge.merge(base, jswift.tuner.ResidualInit.forOriginalBase(dir), out,
          jswift.tuner.LoraMerge.Options.on(jswift.tensor.Device.CPU));
    model = out;
    adapters = new ArrayList<>();
  }

  /** The model of --model / --adapters, in --torch_dtype and, with --quant_method bnb, its linears in NF4. */
  CausalLM load(jswift.tensor.Device device) throws IOException {
    Path dir = model();
    jswift.tensor.DType dtype = torchDtype != null ? jswift.tensor.DType.parse(torchDtype)
        : device.isCpu() ? jswift.tensor.DType.F32 : jswift.tensor.DType.BF16;
    CausalLM.Quantization q = CausalLM.Quantization.NONE;
    if (quantMethod != null || quantBits != null) {
      if (!"bnb".equals(quantMethod) || quantBits == null || quantBits != 4)
        throw new IllegalArgumentException("--quant_method bnb --quant_bits 4 (NF4) is the quantization at load jswift "
            + "has; got --quant_method " + quantMethod + " --quant_bits " + quantBits + " (quantize a checkpoint with "
            + "jswift export for GPTQ / AWQ / FP8)");
      q = bnb4bitUseDoubleQuant ? CausalLM.Quantization.NF4_DOUBLE_QUANT : CausalLM.Quantization.NF4;
    }
    return CausalLM.load(dir, device, dtype, q);
  }

  /** One {@code --adapters} entry: its name (given, or adapterN) and folder. */
  record Adapter(String name, boolean named, Path dir) {}

  List<Adapter> adapterList() {
    List<Adapter> out = new ArrayList<>();
    for (int i = 0; i < adapters.size(); i++) {
      String spec = adapters.get(i);
      int eq = spec.indexOf('=');
      if (eq == 0 || eq == spec.length() - 1)
        throw new IllegalArgumentException("--adapters " + spec + ": expected DIR or name=DIR");
      out.add(eq > 0 ? new Adapter(spec.substring(0, eq), true, Path.of(spec.substring(eq + 1)))
          : new Adapter("adapter" + i, false, Path.of(spec)));
    }
    return out;
  }

  /** Loads every adapter into the model (none active yet). */
  void loadAdapters(CausalLM lm) throws IOException {
    for (Adapter a : adapterList()) lm.loadAdapter(a.name(), jswift.tuner.ResidualInit.forOriginalBase(a.dir()));
  }

  /** The system prompt: the text, or a .txt file's contents; null when not given. */
  String systemPrompt() throws IOException {
    if (system != null && system.endsWith(".txt") && Files.exists(Path.of(system))) return Files.readString(Path.of(system));
    return system;
  }

  /**
   * The template's name: --template, else the one the first adapter's training run used (its args.json, as ms-swift's
   * load_args reads it) when jswift has it, else the model family's.
   */
  String templateName(CausalLM lm) {
    if (template != null) return template;
    List<Adapter> adapters = adapterList();
    if (!adapters.isEmpty()) {
      Path args = adapters.get(0).dir().resolve("args.json");
      try {
        if (Files.exists(args)) {
          JsonNode t = new ObjectMapper().readTree(args.toFile()).path("template");
          // one jswift does not have (an ms-swift run's) leaves the model family's, as before args.json was read
          if (t.isTextual() && Templates.names().contains(t.asText())) return t.asText();
        }
      } catch (IOException e) {
        throw new IllegalArgumentException(args + " is not readable JSON: " + e.getMessage(), e);
      }
    }
    return lm.config().architecture().template();
  }

  @picocli.CommandLine.Option(names = "--agent_template", description = "how tool calls are read and written: "
      + "hermes, llama3 or react_en (default: the template's own)")
  String agentTemplate;

  @picocli.CommandLine.Option(names = "--use_chat_template", arity = "1", description = "false: the prompt is the "
      + "query alone, no chat markup (ms-swift's generation form of the template, for base models); default true")
  boolean useChatTemplate = true;

  ConversationEncoder encoder(CausalLM lm, Tokenizer tok) throws IOException {
    String name = templateName(lm);
    TemplateOptions options = agentTemplate != null ? TemplateOptions.DEFAULT.withAgentTemplate(agentTemplate)
        : TemplateOptions.DEFAULT;
    if (!useChatTemplate) return Templates.createGenerate(name, tok, options);
    return Templates.create(name, tok, name.equals(Templates.JINJA) ? ChatTemplate.load(model()) : null, options);
  }

  /** CLI values, else generation_config.json's, else greedy. Stop at the tokenizer's eos ids. */
  GenerationConfig generation(Tokenizer tok) throws IOException {
    JsonNode g = new ObjectMapper().createObjectNode();
    Path f = model().resolve("generation_config.json");
    if (Files.exists(f)) g = new ObjectMapper().readTree(f.toFile());
    float t = temperature != null ? temperature : g.path("do_sample").asBoolean(false)
        ? (float) g.path("temperature").asDouble(1.0) : 0f;
    int k = topK != null ? topK : g.path("top_k").asInt(0);
    float p = topP != null ? topP : (float) g.path("top_p").asDouble(1.0);
    float rep = repetitionPenalty != null ? repetitionPenalty : (float) g.path("repetition_penalty").asDouble(1.0);
    return new GenerationConfig(maxNewTokens, t > 0, t > 0 ? t : 1f, k, p, rep, seed, tok.eosTokenIds(), List.of());
  }
}
