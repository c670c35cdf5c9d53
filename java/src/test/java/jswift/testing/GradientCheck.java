package jswift.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.DoubleSupplier;
import jswift.model.CausalLM;
import jswift.nn.Parameter;
import jswift.tuner.LoraConfig;
import jswift.tuner.LoraTuner;

/**
 * The directional-derivative check of a training loss's gradient: the gradient the backward accumulated in the
 * parameters, dotted with a random direction, against the central finite difference of the loss along that
 * direction (the weights moved by +-eps times it, then restored). One random direction catches a wrong or missing
 * gradient term as surely as all coordinates would, at the cost of two loss evaluations.
 */
public final class GradientCheck {
  private GradientCheck() {}

  /**
   * Checks the gradients held by {@code along} (the backward has run) against {@code loss} along a Gaussian direction
   * drawn from {@code r}: within 2% (+1e-5); the direction must change the loss by more than 1e-4 a unit.
   */
  public static void check(List<Parameter> along, Random r, DoubleSupplier loss, String what) {
    Map<Parameter, float[]> direction = new LinkedHashMap<>();
    double analytic = 0;
    // A direction nearly orthogonal to the gradient says nothing about it (its finite difference is then the loss's
    // rounding alone): draw again while g . v is under 5% of its typical size, |g| (its standard deviation for a
    // Gaussian v).
    for (int attempt = 0; attempt < 8; attempt++) {
      direction.clear();
      analytic = 0;
      double gradSq = 0;
      for (Parameter p : along) {
        float[] v = new float[(int) p.value().numel()], g = p.grad().toFloatArray();
        for (int i = 0; i < v.length; i++) {
          v[i] = (float) r.nextGaussian();
          analytic += (double) g[i] * v[i];
          gradSq += (double) g[i] * g[i];
        }
        direction.put(p, v);
      }
      if (Math.abs(analytic) >= 0.05 * Math.sqrt(gradSq)) break;
    }
    double eps = 1e-3;
    double numeric = (moved(direction, eps, loss) - moved(direction, -eps, loss)) / (2 * eps);
    assertTrue(Math.abs(numeric) > 1e-4, what + ": the direction changes the loss: " + numeric);
    assertEquals(numeric, analytic, 0.02 * Math.abs(numeric) + 1e-5, what);
  }

  /**
   * A trainable LoRA adapter "default" on every linear layer of {@code m}, without dropout (a training forward is then
   * the scoring forward), B still 0: the policy is the base until {@link #perturb}.
   */
  public static List<Parameter> zeroAdapter(CausalLM m) {
    List<Parameter> params = new java.util.ArrayList<>(LoraTuner.apply(m, "default",
        LoraConfig.defaults().withTargetModules(List.of("all-linear")).withLoraDropout(0), 3));
    params.forEach(p -> p.setTrainable(true));
    return params;
  }

  /** Moves every lora_B of the adapter off zero (seeded by its name), so the policy differs from the base. */
  public static void perturb(List<Parameter> adapter) {
    for (Parameter p : adapter)
      if (p.name().contains("lora_B")) p.value().copyFrom(Rand.normal(p.value().numel(), p.name().hashCode(), 0.05f));
  }

  /** {@code f} with every parameter of the direction moved by eps times it (then moved back). */
  public static double moved(Map<Parameter, float[]> direction, double eps, DoubleSupplier f) {
    Map<Parameter, float[]> saved = new HashMap<>();
    for (Map.Entry<Parameter, float[]> e : direction.entrySet()) {
      float[] w = e.getKey().value().toFloatArray();
      saved.put(e.getKey(), w.clone());
      for (int i = 0; i < w.length; i++) w[i] += (float) (eps * e.getValue()[i]);
      e.getKey().value().copyFrom(w);
    }
    try {
      return f.getAsDouble();
    } finally {
      saved.forEach((p, w) -> p.value().copyFrom(w));
    }
  }
}
