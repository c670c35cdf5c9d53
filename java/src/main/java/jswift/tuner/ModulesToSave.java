package jswift.tuner;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import jswift.model.CausalLM;
import jswift.nn.Parameter;
import jswift.tensor.Tensor;

/**
 * PEFT's {@code modules_to_save}: whole modules trained in full next to a LoRA adapter. As PEFT's
 * ModulesToSaveWrapper does, each named module gets a trainable copy of its weight that the adapter carries (and
 * uses while active), the base weight staying frozen; the copy is saved inside the adapter as
 * {@code base_model.model.<module>.weight}. With tied word embeddings the copy unties them: a copied LM head
 * leaves the embedding on the shared base weight and vice versa (PEFT 0.21 with its default
 * ensure_weight_tying=false). jswift supports the embedding ({@code embed_tokens}) and the LM head
 * ({@code lm_head}), the modules these are used for; names match a module path as PEFT's target names do (equal,
 * or its last dotted components).
 */
public final class ModulesToSave {
  private ModulesToSave() {}

  /** The model's module paths the config's modules_to_save names select, in model order; unknown names fail. */
  public static List<String> modules(LoraConfig cfg) {
    Set<String> out = new LinkedHashSet<>();
    boolean seqCls = "SEQ_CLS".equals(cfg.fields().path("task_type").asText());
    for (String n : cfg.modulesToSave()) {
      if (seqCls && (n.equals("score") || n.equals("classifier"))) continue;  // a reward model's head: not a copy
      boolean found = false;
      for (String m : new String[] {CausalLM.EMBED_MODULE, CausalLM.LM_HEAD_MODULE}) {
        if (m.equals(n) || m.endsWith("." + n)) {
          out.add(m);
          found = true;
        }
      }
      if (!found)
        throw new IllegalArgumentException("--modules_to_save " + n + ": jswift trains embed_tokens and lm_head in full"
            + " beside an adapter; other modules are not supported");
    }
    return new ArrayList<>(out);
  }

  /** Gives adapter {@code adapterName} trainable copies of the selected modules; returns them. */
  static List<Parameter> apply(CausalLM model, String adapterName, LoraConfig cfg) {
    List<Parameter> out = new ArrayList<>();
    for (String module : modules(cfg)) {
      Tensor base = model.baseModuleWeight(module).value();
      Tensor copy = Tensor.allocate(base.dtype(), base.device(), base.shape());
      copy.copyFrom(base);
      Parameter p = new Parameter("base_model.model." + module + ".weight", copy);
      model.setModuleCopy(adapterName, module, p);
      p.setTrainable(true);
      out.add(p);
    }
    return out;
  }
}
