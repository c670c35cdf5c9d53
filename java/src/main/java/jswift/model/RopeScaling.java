package jswift.model;

/**
 * {@code rope_scaling} of config.json: none ("default"), "linear" (positions divided by factor) or "llama3"
 * (Llama 3.1's wavelength-dependent blend).
 */
public record RopeScaling(String type, float factor, float lowFreqFactor, float highFreqFactor,
    long originalMaxPositionEmbeddings) {
  public static final RopeScaling NONE = new RopeScaling("default", 1f, 1f, 1f, 0);

  public boolean isDefault() {
    return type.equals("default");
  }
}
