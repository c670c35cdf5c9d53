package jswift.template;

import java.util.ArrayList;
import java.util.List;
import jswift.tokenizer.Tokenizer;

/**
 * An Ollama {@code Modelfile} for a model folder and its ms-swift template (ms-swift's {@code export --to_ollama}):
 * {@code FROM} the folder, the template in Ollama's Go-template syntax ({@code {{ .System }}}, {@code {{ .Prompt }}}
 * and {@code {{ .Response }}} where the template has its system text, query and answer), the template's default
 * system prompt, a {@code stop} for the turn suffix, each stop word and the eos token, and the sampling defaults
 * given. No weights are converted: Ollama imports the safetensors folder itself ({@code ollama create}).
 */
public final class OllamaModelfile {
  private OllamaModelfile() {}

  /** Sampling defaults to write (null: leave Ollama's). */
  public record Sampling(Float temperature, Integer topK, Float topP, Float repetitionPenalty) {}

  /** The Modelfile's text. */
  public static String render(String modelDir, TemplateMeta meta, Tokenizer tokenizer, Sampling sampling) {
    StringBuilder sb = new StringBuilder("FROM ").append(modelDir).append('\n');
    String suffix = text(meta.suffix(), tokenizer, null, null);
    List<PromptPart> systemPrefix = meta.systemPrefix() != null ? meta.systemPrefix() : meta.prefix();
    sb.append("TEMPLATE \"\"\"{{ if .System }}").append(text(systemPrefix, tokenizer, TemplateMeta.SYSTEM, "{{ .System }}"))
        .append("{{ else }}").append(text(meta.prefix(), tokenizer, null, null)).append("{{ end }}")
        .append("{{ if .Prompt }}").append(text(meta.prompt(), tokenizer, TemplateMeta.QUERY, "{{ .Prompt }}"))
        .append("{{ end }}{{ .Response }}").append(suffix).append("\"\"\"\n");
    if (meta.defaultSystem() != null && !meta.defaultSystem().isEmpty())
      sb.append("SYSTEM \"\"\"").append(meta.defaultSystem()).append("\"\"\"\n");
    List<String> stops = new ArrayList<>();
    if (!suffix.strip().isEmpty()) stops.add(suffix.strip());
    for (String w : meta.stopWords()) if (!w.isEmpty() && !stops.contains(w)) stops.add(w);
    List<Integer> eos = tokenizer.eosTokenIds();
    for (int id : eos) {
      String e = tokenizer.decode(new int[] {id}, false);
      if (!e.isEmpty() && !stops.contains(e)) stops.add(e);
    }
    for (String s : stops) sb.append("PARAMETER stop \"").append(s.replace("\\", "\\\\").replace("\"", "\\\"")).append("\"\n");
    if (sampling.temperature() != null) sb.append("PARAMETER temperature ").append(sampling.temperature()).append('\n');
    if (sampling.topK() != null) sb.append("PARAMETER top_k ").append(sampling.topK()).append('\n');
    if (sampling.topP() != null) sb.append("PARAMETER top_p ").append(sampling.topP()).append('\n');
    if (sampling.repetitionPenalty() != null)
      sb.append("PARAMETER repeat_penalty ").append(sampling.repetitionPenalty()).append('\n');
    return sb.toString();
  }

  /** A prompt list as text: token ids decoded, {@code placeholder} replaced by {@code keyword}, round numbers dropped. */
  private static String text(List<PromptPart> parts, Tokenizer tokenizer, String placeholder, String keyword) {
    StringBuilder sb = new StringBuilder();
    for (PromptPart p : parts) {
      if (p instanceof PromptPart.Text t) {
        String s = t.text();
        if (placeholder != null) s = s.replace(placeholder, keyword);
        sb.append(s.replace("{{ROUND0}}", "").replace("{{ROUND1}}", ""));
      } else if (p instanceof PromptPart.Tokens k) {
        sb.append(tokenizer.decode(k.ids(), false));
      }
    }
    return sb.toString();
  }
}
