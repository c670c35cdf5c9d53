package jswift.train;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.Comparator;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;
import jswift.nn.Parameter;

/**
 * Which weights {@code --train_type full} trains, with ms-swift's rules ({@code freeze_parameters} then
 * {@code activate_parameters} in its tuner setup): every weight starts trainable; {@code --freeze_parameters_ratio r}
 * freezes the leading weights, in the model's {@code parameters()} order, whose cumulative size stays within
 * {@code r} of the total; {@code --freeze_parameters PREFIX...} freezes names starting with a prefix and
 * {@code --freeze_parameters_regex} names the pattern finds (a search, not a full match); then
 * {@code --trainable_parameters PREFIX...} and {@code --trainable_parameters_regex} make matching weights
 * trainable again. A tied lm_head is the embedding (one weight, counted once, as torch counts it).
 */
final class FullTrainingSelection {
  private FullTrainingSelection() {}

  /** True when any of the selection flags is set (they only apply to full training). */
  static boolean requested(TrainArguments a) {
    return !a.freezeParameters.isEmpty() || a.freezeParametersRegex != null || a.freezeParametersRatio > 0
        || !a.trainableParameters.isEmpty() || a.trainableParametersRegex != null;
  }

  /** The trainable weights, in the model's order; the others stay frozen. */
  static List<Parameter> select(Collection<Parameter> modelParameters, TrainArguments a, PrintWriter console) {
    Set<Parameter> seen = Collections.newSetFromMap(new IdentityHashMap<>());
    List<Parameter> all = new ArrayList<>();
    for (Parameter p : modelParameters) if (seen.add(p)) all.add(p);
    Set<Parameter> frozen = Collections.newSetFromMap(new IdentityHashMap<>());
    if (a.freezeParametersRatio > 0) {
      // torch's model.parameters() order, so the ratio freezes the same weights as in ms-swift
      List<Parameter> ordered = new ArrayList<>(all);
      ordered.sort(Comparator.comparing(p -> torchOrder(p.name())));
      long total = ordered.stream().mapToLong(Parameter::numel).sum();
      long budget = (long) (total * a.freezeParametersRatio), cumulative = 0;
      for (Parameter p : ordered) {
        cumulative += p.numel();
        if (cumulative > budget) break;   // bisect_right over the cumulative sizes
        frozen.add(p);
      }
    }
    for (Parameter p : all)
      for (String prefix : a.freezeParameters) if (p.name().startsWith(prefix)) frozen.add(p);
    if (a.freezeParametersRegex != null) {
      Pattern re = compile(a.freezeParametersRegex, "--freeze_parameters_regex");
      for (Parameter p : all) if (re.matcher(p.name()).find()) frozen.add(p);
    }
    boolean activated = false;
    for (Parameter p : all)
      for (String prefix : a.trainableParameters)
        if (p.name().startsWith(prefix)) {
          frozen.remove(p);
          activated = true;
        }
    if (!a.trainableParameters.isEmpty() && !activated)
      console.println("warning: --trainable_parameters " + String.join(" ", a.trainableParameters)
          + " matches no weight (names look like " + all.get(0).name() + ")");
    if (a.trainableParametersRegex != null) {
      Pattern re = compile(a.trainableParametersRegex, "--trainable_parameters_regex");
      boolean any = false;
      for (Parameter p : all)
        if (re.matcher(p.name()).find()) {
          frozen.remove(p);
          any = true;
        }
      if (!any) console.println("warning: --trainable_parameters_regex " + a.trainableParametersRegex + " matches no weight");
    }
    List<Parameter> trainable = new ArrayList<>();
    for (Parameter p : all) if (!frozen.contains(p)) trainable.add(p);
    if (trainable.isEmpty())
      throw new IllegalArgumentException("--freeze_parameters* froze every weight: nothing is left to train");
    return trainable;
  }

  private static Pattern compile(String regex, String flag) {
    try {
      return Pattern.compile(regex);
    } catch (PatternSyntaxException e) {
      throw new IllegalArgumentException(flag + " " + regex + " is not a valid regular expression: "
          + e.getDescription());
    }
  }

  /**
   * A sort key giving the order in which a transformers decoder registers its weights: the embedding, then each
   * layer's attention (q, k, v, o, q_norm, k_norm), MLP (gate, up, down) and its two norms, then the final norm
   * and an untied lm_head. jswift registers a layer's norms first; the ratio must count in torch's order.
   */
  static String torchOrder(String name) {
    if (name.startsWith("model.embed_tokens.")) return "0";
    if (name.startsWith("model.layers.")) {
      String rest = name.substring("model.layers.".length());
      int dot = rest.indexOf('.');
      int layer = Integer.parseInt(rest.substring(0, dot));
      String inLayer = rest.substring(dot + 1);
      String[] order = {"self_attn.q_proj.", "self_attn.k_proj.", "self_attn.v_proj.", "self_attn.o_proj.",
          "self_attn.q_norm.", "self_attn.k_norm.", "mlp.gate_proj.", "mlp.up_proj.", "mlp.down_proj.",
          "input_layernorm.", "post_attention_layernorm."};
      int rank = order.length;
      for (int i = 0; i < order.length; i++) if (inLayer.startsWith(order[i])) rank = i;
      // weight before bias, as nn.Linear registers them
      return String.format("1.%09d.%02d.%s", layer, rank, inLayer.endsWith(".weight") ? "0" : "1" + inLayer);
    }
    if (name.startsWith("model.norm.")) return "2";
    return "3" + name;   // lm_head and anything else, after the decoder
  }
}
