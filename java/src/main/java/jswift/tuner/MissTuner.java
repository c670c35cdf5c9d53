package jswift.tuner;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import jswift.model.CausalLM;
import jswift.nn.Linear;
import jswift.nn.LoraAdapter;
import jswift.nn.MissTiles;
import jswift.nn.Parameter;
import jswift.tensor.Tensor;

/**
 * Adds a new, trainable MiSS adapter (PEFT's {@code MissModel}, formerly Bone; ms-swift's {@code --train_type bone})
 * to the linear layers a {@link LoraConfig} of peft_type MISS targets: per layer one block [r, out]
 * ({@code miss_block}) over the input summed in groups of r ({@link MissTiles}). init_weights true (the default)
 * starts the blocks at zero, so the adapted model starts equal to the base; false draws them Kaiming-uniform as
 * PEFT does (bound 1 / sqrt(out)). PEFT's other variants ("bat": blocks that multiply the weight's own [r, r]
 * tiles; "mini": a block shared along the outputs) are refused.
 */
public final class MissTuner {
  private MissTuner() {}

  /** Adds adapter {@code name} (active, its blocks trainable) and returns the parameters to train. */
  public static List<Parameter> apply(CausalLM model, String name, LoraConfig cfg, long seed) {
    if (!cfg.isMiss()) throw new IllegalArgumentException("not a MiSS config: " + cfg);
    boolean zeros = initWeights(cfg);
    if (!cfg.bias().equals("none"))
      throw new IllegalArgumentException("MiSS bias=" + cfg.bias() + " (trained biases) is not supported; use none");
    int r = cfg.r();
    List<Linear> targets = LoraTuner.targets(model, cfg);
    MissTiles tiles = new MissTiles(r, model.dtype(), model.device());
    model.setSharedAdapterTensors(name, tiles);
    SplittableRandom rng = new SplittableRandom(seed);
    List<Parameter> params = new ArrayList<>();
    for (Linear l : targets) {
      int out = (int) l.outFeatures();
      float[] b = new float[out * r];  // B [out, r] = miss_block^T, held transposed under PEFT's name (PeftLayout)
      if (!zeros) {  // PEFT: kaiming_uniform_(miss_block [r, out], a=sqrt(5)): bound 1 / sqrt(fan_in = out)
        double bound = 1 / Math.sqrt(out);
        for (int i = 0; i < b.length; i++) b[i] = (float) ((2 * rng.nextDouble() - 1) * bound);
      }
      Parameter pb = new Parameter("base_model.model." + l.name() + ".miss_block",
          Tensor.fromFloats(b, model.dtype(), model.device(), out, r));
      l.addAdapter(name, LoraAdapter.miss(tiles.forWidth(l.inFeatures()), pb, (float) cfg.loraDropout()));
      pb.setTrainable(true);
      if (pb.master() != pb.value()) pb.master().copyFrom(b);  // the fp32 master from the fp32 draws
      params.add(pb);
    }
    params.addAll(ModulesToSave.apply(model, name, cfg));
    model.setActiveAdapter(name);
    return params;
  }

  /** init_weights true (zero blocks) or false (Kaiming); PEFT's "bat" and "mini" variants are refused. */
  static boolean initWeights(LoraConfig cfg) {
    var v = cfg.fields().get("init_weights");
    if (v == null || v.isNull() || v.isBoolean()) return v == null || v.isNull() || v.asBoolean();
    throw new IllegalArgumentException("MiSS init_weights \"" + v.asText() + "\" is not supported: jswift trains "
        + "MiSS's default variant (init_weights true or false); \"bat\" and \"mini\" change what the block multiplies");
  }
}
