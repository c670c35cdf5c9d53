package jswift.train;

import java.io.PrintWriter;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;
import jswift.model.CausalLM;
import jswift.nn.Linear;
import jswift.nn.Parameter;

/**
 * Which weights Q-GaLore stores INT8: as its prepare_model_for_int8_training replaces the targeted nn.Linear
 * modules by QGaLoreLinear, the GaLore-projected weights that belong to a linear layer (an embedding projected
 * with {@code --galore_with_embedding} stays in floating point: the embedding lookup reads it directly).
 */
final class QGaLoreWeights {
  private QGaLoreWeights() {}

  /** Stores the projected linear weights INT8 (groups of {@link QGaLoreConfig#WEIGHT_GROUP_SIZE}); returns how many. */
  static int storeInt8(CausalLM model, List<Parameter> projected, PrintWriter console) {
    Set<Parameter> linear = Collections.newSetFromMap(new IdentityHashMap<>());
    for (Linear l : model.linears().values()) if (l.weight() != null) linear.add(l.weight());
    int n = 0;
    long before = model.weightBytes();
    for (Parameter p : projected) {
      if (!linear.contains(p)) continue;
      p.storeInt8(QGaLoreConfig.WEIGHT_GROUP_SIZE);
      n++;
    }
    console.printf("Q-GaLore: %d linear weights stored INT8 (groups of %d, stochastic rounding); weights %.2f -> %.2f "
        + "MiB%n", n, QGaLoreConfig.WEIGHT_GROUP_SIZE, before / 1048576.0, model.weightBytes() / 1048576.0);
    return n;
  }
}
