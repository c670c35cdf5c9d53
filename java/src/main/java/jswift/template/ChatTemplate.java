package jswift.template;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import jswift.template.jinja.Template;
import jswift.template.jinja.TemplateException;

/**
 * A model's own Hugging Face chat template, rendered exactly as transformers'
 * {@code tokenizer.apply_chat_template(messages, tools=tools, tokenize=False, add_generation_prompt=...)}
 * renders it. It is read from a model folder's {@code tokenizer_config.json} ({@code chat_template} as one
 * string, or the list of {@code {name, template}} where "tool_use" is picked when tools are given and
 * "default" otherwise) or from a {@code chat_template.jinja} file next to it, which transformers prefers.
 *
 * <p>The template sees what transformers passes: {@code messages}, {@code tools} (None when absent),
 * {@code documents} (None), {@code add_generation_prompt}, the tokenizer's set special tokens
 * ({@code bos_token}, {@code eos_token}, {@code unk_token}, {@code sep_token}, {@code pad_token},
 * {@code cls_token}, {@code mask_token}; in the config each is a string or an {@code {"content": ...}}
 * object) and the caller's extra keyword arguments such as {@code enable_thinking}, which override the
 * special tokens. Messages are plain JSON-shaped maps: content may be a string or a list of parts, and
 * tool-call arguments may be objects (templates print them with {@code tojson}, as Python's
 * {@code json.dumps}) or strings.
 */
public final class ChatTemplate {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final List<String> SPECIAL_TOKENS =
      List.of("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token");
  private static final Set<String> RESERVED = Set.of("messages", "tools", "documents", "add_generation_prompt");

  private final Map<String, Template> templates;
  private final boolean singleTemplate;
  private final Map<String, String> specialTokens;
  private final String source;
  private final Clock clock;

  private ChatTemplate(Map<String, Template> templates, boolean singleTemplate, Map<String, String> specialTokens,
      String source, Clock clock) {
    this.templates = templates;
    this.singleTemplate = singleTemplate;
    this.specialTokens = specialTokens;
    this.source = source;
    this.clock = clock;
  }

  /**
   * Loads the chat template of a Hugging Face model folder (or of the {@code tokenizer_config.json} path
   * itself). A {@code chat_template.jinja} beside the config wins over the config's {@code chat_template}.
   *
   * @throws IOException when the files cannot be read, or the model has no chat template
   */
  public static ChatTemplate load(Path modelDirOrConfig) throws IOException {
    Path config = Files.isDirectory(modelDirOrConfig) ? modelDirOrConfig.resolve("tokenizer_config.json") : modelDirOrConfig;
    Path dir = config.toAbsolutePath().getParent();
    Path jinja = dir.resolve("chat_template.jinja");
    JsonNode node = JSON.createObjectNode();
    if (Files.exists(config)) {
      try {
        node = JSON.readTree(config.toFile());
      } catch (IOException e) {
        throw new IOException(config + ": not valid JSON: " + e.getMessage(), e);
      }
    } else if (!Files.exists(jinja)) {
      throw new IOException(config + " not found: is " + modelDirOrConfig + " a Hugging Face model folder?");
    }
    if (Files.exists(jinja)) {
      com.fasterxml.jackson.databind.node.ObjectNode copy = node.deepCopy();
      copy.put("chat_template", Files.readString(jinja, StandardCharsets.UTF_8));
      node = copy;
    }
    try {
      return fromTokenizerConfig(node, (Files.exists(jinja) ? jinja : config).toString());
    } catch (IllegalArgumentException e) {
      throw new IOException(e.getMessage(), e);
    }
  }

  /**
   * Builds from a parsed {@code tokenizer_config.json}.
   *
   * @param source names the file in error messages
   * @throws IllegalArgumentException when there is no chat template
   * @throws TemplateException when a template does not compile (the message names the template)
   */
  public static ChatTemplate fromTokenizerConfig(JsonNode config, String source) {
    JsonNode ct = config.get("chat_template");
    Map<String, Template> templates = new LinkedHashMap<>();
    boolean single;
    if (ct == null || ct.isNull()) {
      throw new IllegalArgumentException(source + ": no chat_template (a base model has no chat template; pick a jswift template instead)");
    } else if (ct.isTextual()) {
      templates.put("default", compile(ct.textValue(), source));
      single = true;
    } else if (ct.isArray()) {
      for (JsonNode t : ct) {
        if (!t.path("name").isTextual() || !t.path("template").isTextual()) {
          throw new IllegalArgumentException(source + ": chat_template list entries need a string 'name' and 'template'");
        }
        templates.put(t.get("name").textValue(), compile(t.get("template").textValue(), source + " (template '" + t.get("name").textValue() + "')"));
      }
      single = false;
    } else {
      throw new IllegalArgumentException(source + ": chat_template must be a string or a list of {name, template}");
    }
    Map<String, String> special = new LinkedHashMap<>();
    for (String name : SPECIAL_TOKENS) {
      JsonNode v = config.get(name);
      if (v != null && v.isObject()) v = v.get("content");
      if (v != null && v.isTextual() && !v.textValue().isEmpty()) special.put(name, v.textValue());
    }
    return new ChatTemplate(Collections.unmodifiableMap(templates), single, Collections.unmodifiableMap(special), source,
        Clock.systemDefaultZone());
  }

  /** One template string with the given special tokens (e.g. {@code bos_token}), for templates not stored in a model folder. */
  public static ChatTemplate of(String template, Map<String, String> specialTokens) {
    return new ChatTemplate(Map.of("default", compile(template, "chat template")), true, Map.copyOf(specialTokens),
        "chat template", Clock.systemDefaultZone());
  }

  private static Template compile(String text, String source) {
    try {
      return Template.compile(text);
    } catch (TemplateException e) {
      throw new TemplateException(e.kind(), source + ": " + e.detail(), e.line(), e.column());
    }
  }

  /** The same template with another clock for {@code strftime_now} (tests, reproducible datasets). */
  public ChatTemplate withClock(Clock newClock) {
    return new ChatTemplate(templates, singleTemplate, specialTokens, source, Objects.requireNonNull(newClock));
  }

  /** The names of the templates: "default" for a single-string {@code chat_template}. */
  public Set<String> templateNames() {
    return templates.keySet();
  }

  /** The special tokens given to the template, as set in the config. */
  public Map<String, String> specialTokens() {
    return specialTokens;
  }

  /** {@code apply_chat_template(messages, add_generation_prompt=...)} without tools or extra arguments. */
  public String render(List<? extends Map<String, ?>> messages, boolean addGenerationPrompt) {
    return render(messages, null, addGenerationPrompt, Map.of());
  }

  /**
   * {@code apply_chat_template(messages, tools=tools, add_generation_prompt=..., **kwargs)}.
   *
   * @param tools JSON-schema tool descriptions, or null for none (the template then sees None)
   * @param kwargs extra template variables such as {@code enable_thinking}; they override special tokens
   * @throws TemplateException when rendering fails, including the template's own {@code raise_exception}
   */
  public String render(List<? extends Map<String, ?>> messages, List<? extends Map<String, ?>> tools,
      boolean addGenerationPrompt, Map<String, ?> kwargs) {
    return render(pick(tools), messages, tools, addGenerationPrompt, kwargs);
  }

  /** As {@link #render(List, List, boolean, Map)} with the named template of a multi-template config. */
  public String render(String templateName, List<? extends Map<String, ?>> messages, List<? extends Map<String, ?>> tools,
      boolean addGenerationPrompt, Map<String, ?> kwargs) {
    Template t = templates.get(templateName);
    if (t == null) throw new IllegalArgumentException(source + ": no chat template named '" + templateName + "' (have " + templates.keySet() + ")");
    Objects.requireNonNull(messages, "messages");
    Map<String, Object> vars = new LinkedHashMap<>(specialTokens);
    for (Map.Entry<String, ?> e : kwargs.entrySet()) {
      if (RESERVED.contains(e.getKey())) throw new IllegalArgumentException("'" + e.getKey() + "' is set by the chat template call itself, not by kwargs");
      vars.put(e.getKey(), e.getValue());
    }
    vars.put("messages", messages);
    vars.put("tools", tools);
    vars.put("documents", null);
    vars.put("add_generation_prompt", addGenerationPrompt);
    return t.render(vars, clock);
  }

  /** transformers' choice: the only template, else "tool_use" when tools are given, else "default". */
  private String pick(List<?> tools) {
    if (singleTemplate) return "default";
    if (tools != null && templates.containsKey("tool_use")) return "tool_use";
    if (templates.containsKey("default")) return "default";
    throw new IllegalArgumentException(source + ": this model has several chat templates and none is named 'default'; "
        + "pick one by name among " + templates.keySet());
  }
}
