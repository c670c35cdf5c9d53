package jswift.template;

/**
 * The encoding settings a user picks (ms-swift's template arguments), with ms-swift's defaults.
 *
 * @param lossScale {@code --loss_scale}: which pieces are trained on
 * @param maxLength {@code --max_length}; 0 or less for no limit
 * @param truncation {@code --truncation_strategy} for rows longer than maxLength
 * @param system {@code --system}: replaces the template's default system text ("" for none); null keeps it.
 *     A system message in the row still wins.
 * @param agentTemplate {@code --agent_template}; null uses the template's
 * @param addNonThinkingPrefix {@code --add_non_thinking_prefix}: add the empty reasoning block of hybrid
 *     reasoning models to answers written without one
 * @param enableThinking at inference, for reasoning models: true opens the reasoning ({@code thinkingPrefix}),
 *     false skips it ({@code nonThinkingPrefix}); null lets the model decide, as its own chat template does by
 *     default (a model that always reasons gets its thinking prefix)
 * @param responsePrefix {@code --response_prefix}: text the answer starts with at inference; wins over
 *     enableThinking; null for none
 */
public record TemplateOptions(LossScale lossScale, int maxLength, Truncation truncation, String system,
    String agentTemplate, boolean addNonThinkingPrefix, Boolean enableThinking, String responsePrefix) {
  public static final TemplateOptions DEFAULT =
      new TemplateOptions(LossScale.DEFAULT, 0, Truncation.DELETE, null, null, true, null, null);

  public TemplateOptions {
    if (lossScale == null) throw new IllegalArgumentException("lossScale is null");
    if (truncation == null) throw new IllegalArgumentException("truncation is null");
  }

  public TemplateOptions withLossScale(LossScale v) {
    return new TemplateOptions(v, maxLength, truncation, system, agentTemplate, addNonThinkingPrefix, enableThinking, responsePrefix);
  }

  public TemplateOptions withMaxLength(int v, Truncation t) {
    return new TemplateOptions(lossScale, v, t, system, agentTemplate, addNonThinkingPrefix, enableThinking, responsePrefix);
  }

  public TemplateOptions withSystem(String v) {
    return new TemplateOptions(lossScale, maxLength, truncation, v, agentTemplate, addNonThinkingPrefix, enableThinking, responsePrefix);
  }

  public TemplateOptions withAgentTemplate(String v) {
    return new TemplateOptions(lossScale, maxLength, truncation, system, v, addNonThinkingPrefix, enableThinking, responsePrefix);
  }

  public TemplateOptions withAddNonThinkingPrefix(boolean v) {
    return new TemplateOptions(lossScale, maxLength, truncation, system, agentTemplate, v, enableThinking, responsePrefix);
  }

  public TemplateOptions withEnableThinking(Boolean v) {
    return new TemplateOptions(lossScale, maxLength, truncation, system, agentTemplate, addNonThinkingPrefix, v, responsePrefix);
  }

  public TemplateOptions withResponsePrefix(String v) {
    return new TemplateOptions(lossScale, maxLength, truncation, system, agentTemplate, addNonThinkingPrefix, enableThinking, v);
  }
}
