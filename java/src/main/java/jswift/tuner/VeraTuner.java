package jswift.tuner;

import java.util.ArrayList;
import java.util.List;
import jswift.model.CausalLM;
import jswift.nn.Linear;
import jswift.nn.LoraAdapter;
import jswift.nn.Parameter;
import jswift.nn.VeraProjections;
import jswift.tensor.DType;
import jswift.tensor.Tensor;

/**
 * Adds a new, trainable VeRA adapter (PEFT's {@code VeraModel}, ms-swift's {@code --train_type vera}) to the linear
 * layers a {@link LoraConfig} of peft_type VERA targets: one pair of frozen random projections A [r, max in],
 * B [max out, r] for the whole model ({@link VeraProjections}, drawn from projection_prng_key exactly as PEFT draws
 * them), and per layer two
 * trained f32 vectors, lambda_d [r] = d_initial and lambda_b [out] = 0, so the adapted model starts equal to the
 * base model. Each layer trains r + out numbers, where LoRA of rank r trains r (in + out).
 */
public final class VeraTuner {
  private VeraTuner() {}

  /** Adds adapter {@code name} (active, its vectors trainable) and returns the parameters to train. */
  public static List<Parameter> apply(CausalLM model, String name, LoraConfig cfg) {
    if (!cfg.isVera()) throw new IllegalArgumentException("not a VeRA config: " + cfg);
    if (!cfg.fields().path("init_weights").asBoolean(true))
      throw new IllegalArgumentException("VeRA init_weights false (random lambda vectors) is not supported: the adapter"
          + " would not start equal to the base model");
    List<Linear> targets = LoraTuner.targets(model, cfg);
    long maxIn = 0, maxOut = 0;
    for (Linear l : targets) {
      maxIn = Math.max(maxIn, l.inFeatures());
      maxOut = Math.max(maxOut, l.outFeatures());
    }
    int r = cfg.r();
    VeraProjections projections = VeraProjections.random(cfg.projectionPrngKey(), r, maxIn, maxOut, model.dtype(),
        model.device());
    model.setVeraProjections(name, projections);
    float dropout = (float) cfg.loraDropout();
    float[] d = new float[r];
    java.util.Arrays.fill(d, (float) cfg.dInitial());
    List<Parameter> params = new ArrayList<>();
    for (Linear l : targets) {
      String prefix = "base_model.model." + l.name();
      Parameter lambdaD = new Parameter(prefix + ".vera_lambda_d", Tensor.fromFloats(d, DType.F32, model.device(), r));
      Parameter lambdaB = new Parameter(prefix + ".vera_lambda_b", Tensor.zeros(DType.F32, model.device(),
          l.outFeatures()));
      l.addAdapter(name, LoraAdapter.vera(projections.sliceA(l.inFeatures()), projections.sliceB(l.outFeatures()),
          lambdaD, lambdaB, dropout));
      lambdaD.setTrainable(true);
      lambdaB.setTrainable(true);
      params.add(lambdaD);
      params.add(lambdaB);
    }
    params.addAll(ModulesToSave.apply(model, name, cfg));
    model.setActiveAdapter(name);
    return params;
  }

  /**
   * Gives adapter {@code name} a saved adapter's projections (a run that starts from that adapter: its vectors were
   * trained against those projections, which another generator may have drawn).
   */
  public static void useProjections(CausalLM model, String name, float[] a, float[] b) {
    VeraProjections p = model.veraProjections(name);
    if (p == null) throw new IllegalArgumentException("adapter '" + name + "' is not a VeRA adapter");
    p.overwrite(a, b);
  }
}
