package jswift.tuner;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.regex.Pattern;
import jswift.model.CausalLM;
import jswift.nn.Linear;
import jswift.nn.LoraAdapter;
import jswift.nn.Parameter;
import jswift.tensor.Tensor;

/**
 * Adds a new, trainable LoRA adapter to a model's linear layers, as PEFT's {@code get_peft_model} does:
 * the targets are chosen by {@code target_modules} (module names matched on their last component, or
 * {@code all-linear}: every linear layer of the decoder, the LM head excluded) or by {@code target_regex} (a full
 * match of the module path); A is initialised Kaiming-uniform (a = sqrt(5), bound 1/sqrt(in)) or Gaussian (std
 * 1/rank), B with zeros, so the adapted model starts equal to the base model.
 */
public final class LoraTuner {
  private LoraTuner() {}

  /** The linear layers a config targets, in model order; an empty selection is an error naming what exists. */
  public static List<Linear> targets(CausalLM model, LoraConfig cfg) {
    Pattern regex = cfg.targetRegex() == null ? null : Pattern.compile(cfg.targetRegex());
    boolean all = cfg.targetModules().contains("all-linear");
    List<Linear> out = new ArrayList<>();
    for (Map.Entry<String, Linear> e : model.linears().entrySet()) {
      String path = e.getKey(), last = path.substring(path.lastIndexOf('.') + 1);
      boolean hit = all || cfg.targetModules().contains(last) || cfg.targetModules().contains(path)
          || (regex != null && regex.matcher(path).matches());
      if (hit) out.add(e.getValue());
    }
    if (out.isEmpty()) {
      List<String> names = new ArrayList<>();
      for (String p : model.linears().keySet()) {
        String last = p.substring(p.lastIndexOf('.') + 1);
        if (!names.contains(last)) names.add(last);
      }
      throw new IllegalArgumentException("target_modules " + cfg.targetModules()
          + (cfg.targetRegex() == null ? "" : " / target_regex " + cfg.targetRegex())
          + " match no linear layer; this model has " + names + " (or use all-linear)");
    }
    return out;
  }

  /** Adds adapter {@code name} to every target (trainable, seeded init), activates it, returns its parameters. */
  public static List<Parameter> apply(CausalLM model, String name, LoraConfig cfg, long seed) {
    List<Parameter> params = new ArrayList<>();
    SplittableRandom rng = new SplittableRandom(seed);
    for (Linear l : targets(model, cfg)) {
      int in = (int) l.inFeatures(), out = (int) l.outFeatures(), r = cfg.rank();
      float[] a = new float[r * in];
      float[] b = new float[out * r];
      switch (cfg.initWeights()) {
        case "gaussian":
          for (int i = 0; i < a.length; i++) a[i] = (float) (gaussian(rng) / r);
          break;
        case "false":  // PEFT's init_lora_weights=False: B random too, the adapter is not an identity
          kaimingUniform(rng, a, in);
          kaimingUniform(rng, b, r);
          break;
        default:
          kaimingUniform(rng, a, in);
      }
      String prefix = "base_model.model." + l.name();
      Tensor ta = Tensor.fromFloats(a, model.dtype(), model.device(), r, in);
      Tensor tb = Tensor.fromFloats(b, model.dtype(), model.device(), out, r);
      Parameter pa = new Parameter(prefix + ".lora_A.weight", ta), pb = new Parameter(prefix + ".lora_B.weight", tb);
      l.addAdapter(name, new LoraAdapter(pa, pb, cfg.scale(), cfg.dropout()));
      // The fp32 masters start from the fp32 draws, not from their bf16 rounding.
      pa.setTrainable(true);
      pb.setTrainable(true);
      if (pa.master() != pa.value()) {
        pa.master().copyFrom(a);
        pb.master().copyFrom(b);
      }
      params.add(pa);
      params.add(pb);
    }
    model.setActiveAdapter(name);
    return params;
  }

  /** torch.nn.init.kaiming_uniform_(w, a=sqrt(5)): U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
  private static void kaimingUniform(SplittableRandom rng, float[] w, int fanIn) {
    double bound = 1.0 / Math.sqrt(fanIn);
    for (int i = 0; i < w.length; i++) w[i] = (float) ((rng.nextDouble() * 2 - 1) * bound);
  }

  private static double gaussian(SplittableRandom rng) {
    double u = 1 - rng.nextDouble(), v = rng.nextDouble();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
}
