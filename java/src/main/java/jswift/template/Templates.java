package jswift.template;

import java.time.Clock;
import java.time.LocalDate;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;
import jswift.tokenizer.Tokenizer;

/**
 * The built-in templates, by their ms-swift names, and the factory of encoders.
 *
 * <ul>
 *   <li>{@code chatml}: {@code <|im_start|>role\n...<|im_end|>\n} turns, no default system.
 *   <li>{@code qwen} (ChatML, system "You are a helpful assistant.", hermes tools), {@code qwen2_5} (Qwen's
 *       own default system), {@code qwen3} (hybrid reasoning: no default system, the non-thinking prefix
 *       {@code <think>\n\n</think>\n\n}; see {@link ThinkingRules}), {@code qwen3_thinking} (always
 *       reasons: the answer starts inside {@code <think>\n}) and {@code qwen3_nothinking}.
 *   <li>{@code llama3} (Llama 3 header tokens, answers end with {@code <|eot_id|>}), {@code llama3_2} (the
 *       Llama 3.1/3.2 system header with "Cutting Knowledge Date" and today's date, always present).
 *   <li>{@code llama} (Llama 2 {@code [INST]}/{@code <<SYS>>} with Meta's default system), {@code mistral_nemo}
 *       ({@code [INST]}, the system text goes into the last user turn) and {@code mistral_2501}
 *       ({@code [SYSTEM_PROMPT]}, Mistral Small 3's default system with today's date).
 *   <li>{@code jinja}: not a layout but the model's own Hugging Face chat template ({@link JinjaTemplate});
 *       inference only.
 * </ul>
 *
 * <p>Tools are written by the template's agent template: {@code hermes} for the Qwen family, {@code llama3}
 * for the Llama 3 ones and {@code react_en} for the others (ms-swift's defaults).
 */
public final class Templates {
  /** The name of the template backend that renders the model's own chat template. */
  public static final String JINJA = "jinja";

  private static final String QWEN_SYSTEM = "You are a helpful assistant.";
  private static final String QWEN2_5_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";
  // Meta's Llama 2 default system prompt (facebookresearch/llama, llama/generation.py), as ms-swift uses it.
  private static final String LLAMA2_SYSTEM = "You are a helpful, respectful and honest assistant. "
      + "Always answer as helpfully as possible, while being safe. "
      + "Your answers should not include any harmful, unethical, racist, sexist, toxic, dangerous, or illegal content. "
      + "Please ensure that your responses are socially unbiased and positive in nature.\n\n"
      + "If a question does not make any sense, or is not factually coherent, "
      + "explain why instead of answering something not correct. "
      + "If you don't know the answer to a question, please don't share false information.";

  private static final Map<String, Function<Clock, TemplateMeta>> BUILT_IN = new LinkedHashMap<>();

  static {
    register("chatml", c -> chatml("chatml").autoAddBos(true).build());
    register("qwen", c -> qwen("qwen", QWEN_SYSTEM).build());
    register("qwen2_5", c -> qwen("qwen2_5", QWEN2_5_SYSTEM).build());
    register("qwen3", c -> qwen("qwen3", null).thinking("", "<think>\n\n</think>\n\n", "").build());
    register("qwen3_thinking", c -> qwen("qwen3_thinking", null).thinking("<think>\n", "", "").build());
    register("qwen3_nothinking", c -> qwen("qwen3_nothinking", null).build());
    // the prompt always ends with an empty reasoning block (RerankerPrompt writes the user message)
    register("qwen3_reranker", c -> qwen("qwen3_reranker", RerankerPrompt.SYSTEM)
        .thinking("<think>\n\n</think>\n\n", "", "").build());
    register("llama3", c -> llama3("llama3").build());
    register("llama3_2", c -> llama3("llama3_2").noSystemPrefix()
        .prefix("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\n"
            + "Today Date: " + LocalDate.now(c).format(DateTimeFormatter.ofPattern("dd MMM yyyy", Locale.US)) + "\n\n"
            + "{{SYSTEM}}<|eot_id|>")
        .build());
    register("llama", c -> TemplateMeta.builder("llama")
        .prefix("<s>[INST] ")
        .prompt("{{QUERY}} [/INST]")
        .chatSep("</s><s>[INST] ")
        .suffix("</s>")
        .systemPrefix("<s>[INST] <<SYS>>\n{{SYSTEM}}\n<</SYS>>\n\n")
        .defaultSystem(LLAMA2_SYSTEM)
        .build());
    register("mistral_nemo", c -> TemplateMeta.builder("mistral_nemo")
        .prefix("<s>[INST] ")
        .prompt("{{SYSTEM}}\n\n", "{{QUERY}}[/INST]")
        .chatSep("</s>[INST] ")
        .suffix("</s>")
        .build());
    register("mistral_2501", c -> TemplateMeta.builder("mistral_2501")
        .prefix("<s>")
        .prompt("[INST]{{QUERY}}[/INST]")
        .chatSep("</s>")
        .suffix("</s>")
        .systemPrefix("<s>[SYSTEM_PROMPT]{{SYSTEM}}[/SYSTEM_PROMPT]")
        .defaultSystem(mistral2501System(LocalDate.now(c)))
        .build());
  }

  private Templates() {}

  private static void register(String name, Function<Clock, TemplateMeta> factory) {
    BUILT_IN.put(name, factory);
  }

  private static TemplateMeta.Builder chatml(String name) {
    return TemplateMeta.builder(name)
        .prompt("<|im_start|>user\n{{QUERY}}<|im_end|>\n<|im_start|>assistant\n")
        .chatSep("<|im_end|>\n")
        .suffix("<|im_end|>\n")
        .systemPrefix("<|im_start|>system\n{{SYSTEM}}<|im_end|>\n");
  }

  private static TemplateMeta.Builder qwen(String name, String defaultSystem) {
    return chatml(name).defaultSystem(defaultSystem).stopWords("<|endoftext|>").agentTemplate("hermes");
  }

  private static TemplateMeta.Builder llama3(String name) {
    return TemplateMeta.builder(name)
        .prefix("<|begin_of_text|>")
        .prompt("<|start_header_id|>user<|end_header_id|>\n\n{{QUERY}}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")
        .chatSep("<|eot_id|>")
        .suffix("<|eot_id|>")
        .systemPrefix("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n{{SYSTEM}}<|eot_id|>")
        .agentTemplate("llama3");
  }

  private static String mistral2501System(LocalDate today) {
    return "You are Mistral Small 3, a Large Language Model (LLM) created by Mistral AI, a French startup headquartered in "
        + "Paris.\nYour knowledge base was last updated on 2023-10-01. The current date is " + today + ".\n\n"
        + "When you're not sure about some information, you say that you don't have the information and don't make up "
        + "anything.\nIf the user's question is not clear, ambiguous, or does not provide enough context for you to "
        + "accurately answer the question, you do not try to answer it right away and you rather ask the user to clarify "
        + "their request (e.g. \"What are some good restaurants around me?\" => \"Where are you?\" or \"When is the next "
        + "flight to Tokyo\" => \"Where do you travel from?\")";
  }

  /** Every template name {@link #create} accepts, {@code jinja} included. */
  public static List<String> names() {
    List<String> names = new ArrayList<>(BUILT_IN.keySet());
    names.add(JINJA);
    return Collections.unmodifiableList(names);
  }

  /** The layout of a built-in template, dated (llama3_2, mistral_2501) by the system clock. */
  public static TemplateMeta meta(String name) {
    return meta(name, Clock.systemDefaultZone());
  }

  /**
   * The layout of a built-in template.
   *
   * @param clock gives "today" to the templates that print it
   * @throws IllegalArgumentException for an unknown name (listing the known ones) and for {@code jinja},
   *     which has no layout of its own
   */
  public static TemplateMeta meta(String name, Clock clock) {
    if (JINJA.equals(name))
      throw new IllegalArgumentException("'jinja' has no layout of its own: it renders the model's chat template; "
          + "create it with Templates.create(\"jinja\", tokenizer, chatTemplate, options)");
    Function<Clock, TemplateMeta> f = BUILT_IN.get(name);
    if (f == null) throw unknown(name);
    return f.apply(clock);
  }

  /** An encoder for a built-in swift template. */
  public static ConversationEncoder create(String name, Tokenizer tokenizer, TemplateOptions options) {
    return create(name, tokenizer, null, options);
  }

  /**
   * An encoder by name: a built-in swift template, or {@code jinja} with the model's chat template.
   *
   * @param chatTemplate the model's chat template; required for {@code jinja}, ignored otherwise
   */
  public static ConversationEncoder create(String name, Tokenizer tokenizer, ChatTemplate chatTemplate, TemplateOptions options) {
    if (JINJA.equals(name)) {
      if (chatTemplate == null)
        throw new IllegalArgumentException("template 'jinja' needs the model's chat template (ChatTemplate.load(modelDir))");
      return new JinjaTemplate(chatTemplate, tokenizer, options);
    }
    SwiftTemplate swift = new SwiftTemplate(meta(name), tokenizer, options);
    return name.equals("qwen3_reranker") ? new RerankerPrompt(swift) : swift;
  }

  /**
   * ms-swift's {@code --use_chat_template false}: the template's generation form (its {@code
   * to_generate_template_meta}): no chat markup, the query then the answer, ended by the tokenizer's end-of-sequence
   * token; single-turn, no system; the tokenizer's BOS in front when it adds one; the template's stop words kept.
   */
  public static ConversationEncoder createGenerate(String name, Tokenizer tokenizer, TemplateOptions options) {
    if (JINJA.equals(name))
      throw new IllegalArgumentException("--use_chat_template false has no form for the jinja template: name an "
          + "ms-swift template (--template)");
    TemplateMeta chat = meta(name);
    List<Integer> eos = tokenizer.eosTokenIds();
    if (eos.isEmpty())
      throw new IllegalArgumentException("--use_chat_template false ends each answer with the tokenizer's "
          + "end-of-sequence token, and this tokenizer names none");
    TemplateMeta generate = TemplateMeta.builder(name).prefix().prompt("{{QUERY}}").noChatSep()
        .suffix(tokenizer.decode(new int[] {eos.get(0)}, false)).noSystemPrefix().autoAddBos(true)
        .stopWords(chat.stopWords().toArray(new String[0])).build();
    return new SwiftTemplate(generate, tokenizer, options);
  }

  private static IllegalArgumentException unknown(String name) {
    String hint = "";
    if (name != null) {
      String guess = name.trim().toLowerCase(Locale.ROOT).replace('.', '_').replace('-', '_');
      if (!guess.equals(name) && BUILT_IN.containsKey(guess)) hint = " (did you mean '" + guess + "'?)";
    }
    return new IllegalArgumentException("unknown template '" + name + "'" + hint + "; jswift has " + String.join(", ", names()));
  }
}
