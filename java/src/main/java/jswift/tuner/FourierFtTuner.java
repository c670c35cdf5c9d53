package jswift.tuner;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import jswift.model.CausalLM;
import jswift.nn.FourierBases;
import jswift.nn.Linear;
import jswift.nn.LoraAdapter;
import jswift.nn.Parameter;
import jswift.tensor.DType;
import jswift.tensor.Tensor;

/**
 * Adds a new, trainable FourierFT adapter (PEFT's {@code FourierFTModel}, ms-swift's {@code --train_type fourierft})
 * to the linear layers a {@link LoraConfig} of peft_type FOURIERFT targets: per layer n spectral coefficients
 * ({@code fourierft_spectrum}, f32 [n]) at PEFT's fixed random locations, over bases shared by the layers of one
 * shape ({@link FourierBases}). init_weights false (PEFT's and ms-swift's default) draws the coefficients from
 * N(0, 1), so the adapted model does not start equal to the base; true starts them at zero. A layer trains n
 * numbers; its forward costs 2n (in + out) multiply-adds a token beside the base's in x out.
 */
public final class FourierFtTuner {
  private FourierFtTuner() {}

  /** Adds adapter {@code name} (active, its coefficients trainable) and returns the parameters to train. */
  public static List<Parameter> apply(CausalLM model, String name, LoraConfig cfg, long seed) {
    if (!cfg.isFourierFt()) throw new IllegalArgumentException("not a FourierFT config: " + cfg);
    if (!cfg.bias().equals("none"))
      throw new IllegalArgumentException("FourierFT bias=" + cfg.bias() + " (trained biases) is not supported; use none");
    boolean zeros = cfg.fields().path("init_weights").asBoolean(false);
    List<Linear> targets = LoraTuner.targets(model, cfg);
    // Every target's n is checked before any adapter is added, so a bad n_frequency changes nothing.
    int[] n = new int[targets.size()];
    for (int t = 0; t < n.length; t++) {
      Linear l = targets.get(t);
      n[t] = cfg.nFrequencyFor(l.name(), l.outFeatures(), l.inFeatures());
      try {
        FourierBases.checkShape(l.outFeatures(), l.inFeatures(), n[t]);
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("FourierFT on " + l.name() + " [" + l.outFeatures() + ", "
            + l.inFeatures() + "]: " + e.getMessage(), e);
      }
    }
    FourierBases bases = new FourierBases(cfg.randomLocSeed(), model.dtype(), model.device());
    model.setSharedAdapterTensors(name, bases);
    SplittableRandom rng = new SplittableRandom(seed);
    List<Parameter> params = new ArrayList<>();
    for (int t = 0; t < n.length; t++) {
      Linear l = targets.get(t);
      float[] c = new float[n[t]];
      if (!zeros) for (int i = 0; i < c.length; i++) c[i] = (float) LoraTuner.gaussian(rng);
      Parameter spectrum = new Parameter("base_model.model." + l.name() + ".fourierft_spectrum",
          Tensor.fromFloats(c, DType.F32, model.device(), c.length));
      float scale = (float) FourierBases.scale(cfg.ifft2Norm(), cfg.fourierScaling(), l.outFeatures(), l.inFeatures());
      l.addAdapter(name, LoraAdapter.fourier(spectrum, bases.pair(l.outFeatures(), l.inFeatures(), n[t]), scale));
      spectrum.setTrainable(true);
      params.add(spectrum);
    }
    params.addAll(ModulesToSave.apply(model, name, cfg));
    model.setActiveAdapter(name);
    return params;
  }
}
