package jswift.tuner;

import java.util.ArrayList;
import java.util.List;
import jswift.model.CausalLM;
import jswift.nn.Linear;
import jswift.nn.LoraAdapter;
import jswift.nn.Parameter;
import jswift.tensor.DType;
import jswift.tensor.Tensor;

/**
 * Adds a new, trainable (IA)^3 adapter (PEFT's {@code IA3Model}; ms-swift 2.x's {@code --sft_type ia3}) to the
 * linear layers an IA3 {@link LoraConfig} targets: per layer one f32 vector {@code ia3_l}, ones at the start (so the
 * adapted model is the base model), that rescales the outputs of the layer, or its inputs for the
 * feedforward_modules (which must be among the targets). Each layer trains out (or in) numbers.
 */
public final class Ia3Tuner {
  /** PEFT's defaults for Llama-family models: keys, values and the MLP's down projection (its input). */
  public static final List<String> DEFAULT_TARGETS = List.of("k_proj", "v_proj", "down_proj"),
      DEFAULT_FEEDFORWARD = List.of("down_proj");

  private Ia3Tuner() {}

  /** Adds adapter {@code name} (active, trainable) and returns its vectors. */
  public static List<Parameter> apply(CausalLM model, String name, LoraConfig cfg) {
    if (!cfg.isIa3()) throw new IllegalArgumentException("not an IA3 config: " + cfg);
    List<Linear> targets = LoraTuner.targets(model, cfg);
    for (Linear l : model.linears().values())
      if (cfg.feedforward(l.name()) && !cfg.targets(l.name()))
        throw new IllegalArgumentException("IA3 feedforward_modules must be among target_modules: " + l.name()
            + " is a feedforward module but not a target");
    List<Parameter> params = new ArrayList<>();
    for (Linear l : targets) {
      boolean ff = cfg.feedforward(l.name());
      long n = ff ? l.inFeatures() : l.outFeatures();
      float[] ones = new float[(int) n];
      java.util.Arrays.fill(ones, 1f);
      Parameter v = new Parameter("base_model.model." + l.name() + ".ia3_l",
          Tensor.fromFloats(ones, DType.F32, model.device(), n));
      l.addAdapter(name, LoraAdapter.ia3(v, ff));
      v.setTrainable(true);
      params.add(v);
    }
    params.addAll(ModulesToSave.apply(model, name, cfg));
    model.setActiveAdapter(name);
    return params;
  }
}
