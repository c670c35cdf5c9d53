package jswift.template;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * The text shape of a chat format, after ms-swift's {@code TemplateMeta}: {@code prefix} (what starts a
 * conversation without a system prompt), {@code systemPrefix} (the same with {@code {{SYSTEM}}}),
 * {@code prompt} (one user turn up to where the assistant answers, with {@code {{QUERY}}}), {@code chatSep}
 * (between a response and the next prompt; null when the format has no multi-turn), {@code suffix} (after the
 * last response in training: what the model learns to end with), {@code defaultSystem}, {@code autoAddBos}
 * (prepend the bos the tokenizer's post-processor would add), {@code stopWords} (extra strings that end
 * generation) and {@code agentTemplate} (how tools are written; see {@link AgentTemplate}).
 *
 * <p>Thinking fields, for reasoning models: {@code thinking} (earlier turns' reasoning is removed at inference
 * and with loss_scale last_round; see {@link ThinkingRules}), {@code thinkingPrefix} (opens reasoning at inference),
 * {@code nonThinkingPrefix} (an empty reasoning block: added to assistant turns written without one, for
 * hybrid models such as Qwen3) and {@code historyThinkingPrefix} (put in front of earlier turns whose
 * reasoning was removed).
 *
 * <p>As in ms-swift, a {@code {{SYSTEM}}} in the prefix makes the prefix the system prefix, and a
 * {@code {{SYSTEM}}} part in the prompt makes the system prompt go into the last user turn instead
 * ("post-system", Mistral Nemo).
 */
public final class TemplateMeta {
  static final String SYSTEM = "{{SYSTEM}}";
  static final String QUERY = "{{QUERY}}";

  private final String name;
  private final List<PromptPart> prefix;
  private final List<PromptPart> prompt;
  private final List<PromptPart> systemPrompt;  // post-system formats: the last turn's prompt, else null
  private final List<PromptPart> chatSep;
  private final List<PromptPart> suffix;
  private final List<PromptPart> systemPrefix;
  private final String defaultSystem;
  private final boolean autoAddBos;
  private final List<String> stopWords;
  private final String agentTemplate;
  private final boolean thinking;
  private final String thinkingPrefix;
  private final String nonThinkingPrefix;
  private final String historyThinkingPrefix;

  private TemplateMeta(Builder b) {
    name = Objects.requireNonNull(b.name, "name");
    if (b.prompt == null || b.suffix == null)
      throw new IllegalArgumentException("template '" + name + "' needs a prompt and a suffix");
    if (!mentions(b.prompt, QUERY)) throw new IllegalArgumentException("template '" + name + "': the prompt has no {{QUERY}}");
    List<PromptPart> pre = b.prefix == null ? List.of() : b.prefix;
    List<PromptPart> sysPre = b.systemPrefix;
    if (mentions(pre, SYSTEM)) {
      if (sysPre != null) throw new IllegalArgumentException("template '" + name + "': the prefix already holds {{SYSTEM}}");
      sysPre = pre;
      pre = replaceInText(pre, SYSTEM, "");
    }
    if (sysPre != null && !mentions(sysPre, SYSTEM))
      throw new IllegalArgumentException("template '" + name + "': the system prefix has no {{SYSTEM}}");
    List<PromptPart> pr = b.prompt;
    List<PromptPart> sysPrompt = null;
    if (mentions(pr, SYSTEM)) {
      sysPrompt = pr;
      List<PromptPart> kept = new ArrayList<>();
      for (PromptPart p : pr) if (!(p instanceof PromptPart.Text t && t.text().contains(SYSTEM))) kept.add(p);
      pr = kept;
    }
    prefix = List.copyOf(pre);
    prompt = List.copyOf(pr);
    systemPrompt = sysPrompt == null ? null : List.copyOf(sysPrompt);
    chatSep = b.chatSep == null ? null : List.copyOf(b.chatSep);
    suffix = List.copyOf(b.suffix);
    systemPrefix = sysPre == null ? null : List.copyOf(sysPre);
    defaultSystem = b.defaultSystem;
    autoAddBos = b.autoAddBos;
    stopWords = List.copyOf(b.stopWords);
    agentTemplate = b.agentTemplate;
    thinking = b.thinking;
    thinkingPrefix = b.thinkingPrefix;
    nonThinkingPrefix = b.nonThinkingPrefix;
    historyThinkingPrefix = b.historyThinkingPrefix;
    if (defaultSystem != null && !supportsSystem())
      throw new IllegalArgumentException("template '" + name + "' has a default system but no place for a system prompt");
  }

  public static Builder builder(String name) {
    return new Builder(name);
  }

  public String name() {
    return name;
  }

  public List<PromptPart> prefix() {
    return prefix;
  }

  public List<PromptPart> prompt() {
    return prompt;
  }

  /** The last user turn's prompt of a post-system format (it holds {@code {{SYSTEM}}}), else null. */
  public List<PromptPart> systemPrompt() {
    return systemPrompt;
  }

  public boolean postSystem() {
    return systemPrompt != null;
  }

  /** Null when the format has no multi-turn: only the last round is encoded then. */
  public List<PromptPart> chatSep() {
    return chatSep;
  }

  public List<PromptPart> suffix() {
    return suffix;
  }

  public List<PromptPart> systemPrefix() {
    return systemPrefix;
  }

  public boolean supportsSystem() {
    return systemPrefix != null || systemPrompt != null;
  }

  public boolean supportsMultiRound() {
    return chatSep != null;
  }

  public String defaultSystem() {
    return defaultSystem;
  }

  public boolean autoAddBos() {
    return autoAddBos;
  }

  /** The template's own stop words; {@link SwiftTemplate} adds the suffix's end and the tokenizer's eos. */
  public List<String> stopWords() {
    return stopWords;
  }

  public String agentTemplate() {
    return agentTemplate;
  }

  public boolean thinking() {
    return thinking;
  }

  public String thinkingPrefix() {
    return thinkingPrefix;
  }

  public String nonThinkingPrefix() {
    return nonThinkingPrefix;
  }

  public String historyThinkingPrefix() {
    return historyThinkingPrefix;
  }

  @Override
  public String toString() {
    return "TemplateMeta[" + name + "]";
  }

  static boolean mentions(List<PromptPart> parts, String placeholder) {
    for (PromptPart p : parts) if (p instanceof PromptPart.Text t && t.text().contains(placeholder)) return true;
    return false;
  }

  static List<PromptPart> replaceInText(List<PromptPart> parts, String placeholder, String value) {
    List<PromptPart> out = new ArrayList<>(parts.size());
    for (PromptPart p : parts) out.add(p instanceof PromptPart.Text t ? new PromptPart.Text(t.text().replace(placeholder, value)) : p);
    return out;
  }

  /** Settings of a {@link TemplateMeta}; strings stand for text parts. */
  public static final class Builder {
    private final String name;
    private List<PromptPart> prefix = List.of();
    private List<PromptPart> prompt;
    private List<PromptPart> chatSep;
    private List<PromptPart> suffix;
    private List<PromptPart> systemPrefix;
    private String defaultSystem;
    private boolean autoAddBos;
    private List<String> stopWords = new ArrayList<>();
    private String agentTemplate = "react_en";
    private boolean thinking;
    private String thinkingPrefix = "";
    private String nonThinkingPrefix = "";
    private String historyThinkingPrefix = "";

    private Builder(String name) {
      this.name = name;
    }

    public Builder prefix(String... text) {
      prefix = texts(text);
      return this;
    }

    public Builder prompt(String... text) {
      prompt = texts(text);
      return this;
    }

    /** No text means "no separator but multi-turn"; call {@link #noChatSep()} for a single-turn format. */
    public Builder chatSep(String... text) {
      chatSep = texts(text);
      return this;
    }

    public Builder noChatSep() {
      chatSep = null;
      return this;
    }

    public Builder suffix(String... text) {
      suffix = texts(text);
      return this;
    }

    public Builder systemPrefix(String... text) {
      systemPrefix = texts(text);
      return this;
    }

    public Builder noSystemPrefix() {
      systemPrefix = null;
      return this;
    }

    public Builder defaultSystem(String system) {
      defaultSystem = system;
      return this;
    }

    public Builder autoAddBos(boolean add) {
      autoAddBos = add;
      return this;
    }

    public Builder stopWords(String... words) {
      stopWords = new ArrayList<>(List.of(words));
      return this;
    }

    public Builder agentTemplate(String agent) {
      agentTemplate = Objects.requireNonNull(agent);
      return this;
    }

    /** A reasoning model: {@code thinking} true, with its reasoning prefixes (empty strings for none). */
    public Builder thinking(String thinking, String nonThinking, String history) {
      this.thinking = true;
      thinkingPrefix = Objects.requireNonNull(thinking);
      nonThinkingPrefix = Objects.requireNonNull(nonThinking);
      historyThinkingPrefix = Objects.requireNonNull(history);
      return this;
    }

    public TemplateMeta build() {
      return new TemplateMeta(this);
    }

    private static List<PromptPart> texts(String... text) {
      List<PromptPart> out = new ArrayList<>(text.length);
      for (String t : text) out.add(new PromptPart.Text(t));
      return out;
    }
  }
}
