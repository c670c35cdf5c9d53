package jswift.nn;

import java.util.Map;
import java.util.TreeMap;

/**
 * The pointwise activations of the native engine (jswift.h's JSW_ACT_* codes), under transformers' ACT2CLS names
 * (what ms-swift's {@code --adapter_act} takes).
 */
public enum Activation {
  GELU(0), GELU_TANH(1), RELU(2), SILU(3), QUICK_GELU(4), TANH(5), SIGMOID(6);

  private final int code;

  Activation(int code) {
    this.code = code;
  }

  /** The kind code of jsw_activation_fwd / _bwd. */
  public int code() {
    return code;
  }

  private static final Map<String, Activation> NAMES = new TreeMap<>(Map.ofEntries(
      Map.entry("gelu", GELU), Map.entry("gelu_python", GELU), Map.entry("gelu_new", GELU_TANH),
      Map.entry("gelu_pytorch_tanh", GELU_TANH), Map.entry("gelu_fast", GELU_TANH),
      Map.entry("gelu_accurate", GELU_TANH), Map.entry("relu", RELU), Map.entry("silu", SILU),
      Map.entry("swish", SILU), Map.entry("quick_gelu", QUICK_GELU), Map.entry("tanh", TANH),
      Map.entry("sigmoid", SIGMOID)));

  /** By its transformers name (gelu, gelu_new, relu, silu, ...); an unknown name lists the known ones. */
  public static Activation parse(String name) {
    Activation a = NAMES.get(name);
    if (a == null)
      throw new IllegalArgumentException("activation '" + name + "' is not supported; use one of " + NAMES.keySet());
    return a;
  }
}
