package jswift.model;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import jswift.model.Architecture.SlidingWindow;

/** model_type -> {@link Architecture}. The families jswift builds; others fail with the list of known ones. */
public final class ModelRegistry {
  private static final Map<String, Architecture> FAMILIES = new LinkedHashMap<>();

  static {
    register(new Architecture("llama", false, false, SlidingWindow.NONE, "llama3"));
    register(new Architecture("mistral", false, false, SlidingWindow.EVERY_LAYER, "mistral"));
    register(new Architecture("qwen2", true, false, SlidingWindow.LAYER_TYPES, "qwen"));
    register(new Architecture("qwen3", false, true, SlidingWindow.LAYER_TYPES, "qwen3"));
  }

  private ModelRegistry() {}

  public static synchronized void register(Architecture a) {
    FAMILIES.put(a.modelType(), a);
  }

  public static synchronized Architecture lookup(String modelType) {
    Architecture a = FAMILIES.get(modelType);
    if (a == null)
      throw new IllegalArgumentException("unknown model_type '" + modelType + "': jswift supports "
          + String.join(", ", FAMILIES.keySet()) + " (register more with ModelRegistry.register)");
    return a;
  }

  public static synchronized Map<String, Architecture> all() {
    return Collections.unmodifiableMap(new LinkedHashMap<>(FAMILIES));
  }
}
