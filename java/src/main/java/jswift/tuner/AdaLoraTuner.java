package jswift.tuner;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import jswift.model.CausalLM;
import jswift.nn.Linear;
import jswift.nn.LoraAdapter;
import jswift.nn.Parameter;
import jswift.tensor.DType;
import jswift.tensor.Tensor;

/**
 * Adds a new, trainable AdaLoRA adapter (PEFT's {@code AdaLoraModel}, ms-swift's {@code --train_type adalora}) to
 * the linear layers a {@link LoraConfig} of peft_type ADALORA targets: per layer the SVD-shaped update
 * s B diag(E) A with A [init_r, in] and B [out, init_r] drawn from N(0, 0.02) and the singular values E [init_r] = 0,
 * so the adapted model starts equal to the base model; s = lora_alpha / (init_r + 1e-5). The parameters are named as
 * PEFT names them ({@code base_model.model.<module>.lora_A}, {@code .lora_B}, {@code .lora_E}, no {@code .weight}).
 * {@link AdaLoraAllocator} prunes the singular values while training.
 */
public final class AdaLoraTuner {
  private AdaLoraTuner() {}

  /** Adds adapter {@code name} (active, trainable) and returns its parameters, A, B and E per layer. */
  public static List<Parameter> apply(CausalLM model, String name, LoraConfig cfg, long seed) {
    if (!cfg.isAdaLora()) throw new IllegalArgumentException("not an AdaLoRA config: " + cfg);
    int r = cfg.initR();
    if (r <= 0 || cfg.targetR() <= 0 || cfg.targetR() > r)
      throw new IllegalArgumentException("AdaLoRA needs 0 < target_r <= init_r, got target_r " + cfg.targetR()
          + ", init_r " + r);
    SplittableRandom rng = new SplittableRandom(seed);
    List<Parameter> params = new ArrayList<>();
    for (Linear l : LoraTuner.targets(model, cfg)) {
      int in = (int) l.inFeatures(), out = (int) l.outFeatures();
      float[] a = normal(rng, r * in), b = normal(rng, out * r);
      String prefix = "base_model.model." + l.name();
      Parameter pa = new Parameter(prefix + ".lora_A", Tensor.fromFloats(a, model.dtype(), model.device(), r, in));
      Parameter pb = new Parameter(prefix + ".lora_B", Tensor.fromFloats(b, model.dtype(), model.device(), out, r));
      Parameter pe = new Parameter(prefix + ".lora_E", Tensor.zeros(DType.F32, model.device(), r));
      l.addAdapter(name, LoraAdapter.adaLora(pa, pb, pe, (float) cfg.scaleFor(l.name()), (float) cfg.loraDropout()));
      for (Parameter p : List.of(pa, pb, pe)) {
        p.setTrainable(true);
        params.add(p);
      }
      // The fp32 masters start from the fp32 draws, not from their bf16 rounding.
      if (pa.master() != pa.value()) {
        pa.master().copyFrom(a);
        pb.master().copyFrom(b);
      }
    }
    params.addAll(ModulesToSave.apply(model, name, cfg));
    model.setActiveAdapter(name);
    return params;
  }

  /** N(0, 0.02), PEFT's reset_lora_parameters for A and B. */
  private static float[] normal(SplittableRandom rng, int n) {
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      double u = 1 - rng.nextDouble(), w = rng.nextDouble();
      v[i] = (float) (0.02 * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * w));
    }
    return v;
  }
}
