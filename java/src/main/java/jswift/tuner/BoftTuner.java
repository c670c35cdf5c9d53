package jswift.tuner;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import jswift.model.CausalLM;
import jswift.nn.BoftRotation;
import jswift.nn.Linear;
import jswift.nn.LoraAdapter;
import jswift.nn.Parameter;
import jswift.tensor.DType;
import jswift.tensor.Tensor;

/**
 * Adds a new, trainable BOFT adapter (PEFT's {@code BOFTModel}, ms-swift's {@code --train_type boft}) to the linear
 * layers a {@link LoraConfig} of peft_type BOFT targets: per layer the blocks of its butterfly factors, boft_R
 * [N, D, H, H] (zeros, so the rotation starts as the identity), and the output scale boft_s [out, 1] (ones), both
 * f32 ({@link BoftRotation}). With boft_block_size 4 and one factor (ms-swift's defaults) a layer trains 4 in + out
 * numbers, about LoRA rank 2's count, yet its update is a full-rank rotation of the weight's rows.
 */
public final class BoftTuner {
  private BoftTuner() {}

  /**
   * Adds adapter {@code name} (active, trainable) and returns its parameters. init_weights false draws boft_R from
   * N(0, 0.1) and boft_s from N(1, 0.1) (PEFT's test initialisation) with {@code seed}.
   */
  public static List<Parameter> apply(CausalLM model, String name, LoraConfig cfg, long seed) {
    if (!cfg.isBoft()) throw new IllegalArgumentException("not a BOFT config: " + cfg);
    if (!cfg.bias().equals("none"))
      throw new IllegalArgumentException("BOFT bias=" + cfg.bias() + " (trained biases) is not supported; use none");
    boolean identity = cfg.fields().path("init_weights").asBoolean(true);
    SplittableRandom rng = new SplittableRandom(seed);
    List<Linear> targets = LoraTuner.targets(model, cfg);
    // Every target's shape is checked before any adapter is added, so a bad block size changes nothing.
    List<int[]> shapes = new ArrayList<>();
    for (Linear l : targets)
      shapes.add(BoftRotation.shape(l.name(), l.inFeatures(), cfg.boftBlockSize(), cfg.boftBlockNum(),
          cfg.boftNButterflyFactor()));
    List<Parameter> params = new ArrayList<>();
    for (int t = 0; t < targets.size(); t++) {
      Linear l = targets.get(t);
      int[] s = shapes.get(t);
      int n = s[0], d = s[1], h = s[2], out = (int) l.outFeatures();
      float[] r = new float[n * d * h * h], scale = new float[out];
      java.util.Arrays.fill(scale, 1f);
      if (!identity) {
        for (int i = 0; i < r.length; i++) r[i] = (float) (0.1 * LoraTuner.gaussian(rng));
        for (int i = 0; i < out; i++) scale[i] = (float) (1 + 0.1 * LoraTuner.gaussian(rng));
      }
      String prefix = "base_model.model." + l.name();
      Parameter blocks = new Parameter(prefix + ".boft_R", Tensor.fromFloats(r, DType.F32, model.device(), n, d, h, h));
      Parameter sv = new Parameter(prefix + ".boft_s", Tensor.fromFloats(scale, DType.F32, model.device(), out));
      l.addAdapter(name, LoraAdapter.boft(new BoftRotation(blocks, sv, l.inFeatures(), (float) cfg.loraDropout())));
      blocks.setTrainable(true);
      sv.setTrainable(true);
      params.add(blocks);
      params.add(sv);
    }
    params.addAll(ModulesToSave.apply(model, name, cfg));
    model.setActiveAdapter(name);
    return params;
  }
}
