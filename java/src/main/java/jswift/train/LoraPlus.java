package jswift.train;

import java.util.ArrayList;
import java.util.List;
import jswift.nn.Parameter;

/**
 * LoRA+ (arXiv 2402.12354) as ms-swift 3.x groups the parameters for it ({@code --lorap_lr_ratio R}; the
 * optimizer plugin's {@code create_optimizer_param_groups} patched onto PEFT models): every trainable parameter
 * whose name contains {@code lora_B}, and every 1-D trainable parameter (DoRA magnitudes, biases), learns at R
 * times the scheduled rate, with or without weight decay as before (torch's group lr scales the decoupled decay
 * too); the rest (lora_A, 2-D trained modules) at the rate itself. ms-swift's fourth group, LoRA on embedding
 * layers at {@code --lorap_emb_lr}, cannot occur here: jswift puts adapters on linear layers only.
 */
public final class LoraPlus {
  private LoraPlus() {}

  /** The parameters that get lr x R, in the given order. */
  public static List<Parameter> groupB(List<Parameter> trainable) {
    List<Parameter> out = new ArrayList<>();
    for (Parameter p : trainable) if (p.name().contains("lora_B") || p.value().rank() == 1) out.add(p);
    return out;
  }
}
