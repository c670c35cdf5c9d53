package jswift.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;

/**
 * What a sequence classifier's logits mean (transformers' {@code problem_type}, ms-swift's {@code --problem_type}),
 * how a dataset row's {@code label} reads for it, and what a prediction is:
 * <ul>
 *   <li>{@link #SINGLE_LABEL}: one class of {@code num_labels}; the label an integer 0..num_labels-1; trained with
 *       cross-entropy; the prediction the argmax.
 *   <li>{@link #MULTI_LABEL}: any set of the classes; the label a list of class indices (ms-swift one-hots it); trained
 *       with binary cross-entropy on each logit; the prediction the classes whose sigmoid is >= 0.5.
 *   <li>{@link #REGRESSION}: num_labels real values; the label a number (one label) or a list of numbers; trained
 *       with mean squared error; the prediction the logits themselves.
 * </ul>
 */
public enum ProblemType {
  SINGLE_LABEL("single_label_classification"),
  MULTI_LABEL("multi_label_classification"),
  REGRESSION("regression");

  private final String hfName;

  ProblemType(String hfName) {
    this.hfName = hfName;
  }

  /** transformers' (and ms-swift's) name. */
  public String hfName() {
    return hfName;
  }

  /**
   * {@code --problem_type} (or a config.json's problem_type); null gives ms-swift's default: regression for one label
   * (a reward model's score), single-label classification otherwise.
   */
  public static ProblemType parse(String name, int numLabels) {
    if (name == null || name.isEmpty()) return numLabels == 1 ? REGRESSION : SINGLE_LABEL;
    for (ProblemType p : values()) if (p.hfName.equals(name)) return p;
    throw new IllegalArgumentException("--problem_type " + name + " is not one of regression, "
        + "single_label_classification, multi_label_classification");
  }

  /**
   * A row's {@code label} as the loss reads it, [num_labels] values: the class index (single-label, one value), the
   * multi-hot vector (multi-label) or the targets (regression). Throws naming what is wrong.
   */
  public double[] target(JsonNode label, int numLabels) {
    if (label == null || label.isNull())
      throw new IllegalArgumentException("the row has no \"label\": --task_type seq_cls rows need one (" + example() + ")");
    label = fromText(label);
    switch (this) {
      case SINGLE_LABEL: {
        int c = classIndex(label, numLabels);
        return new double[] {c};
      }
      case MULTI_LABEL: {
        if (!label.isArray())
          throw new IllegalArgumentException("\"label\" must be a list of class indices for " + hfName + ", found "
              + label + " (" + example() + ")");
        double[] hot = new double[numLabels];
        for (JsonNode c : label) hot[classIndex(c, numLabels)] = 1;
        return hot;
      }
      default: {
        double[] v = new double[numLabels];
        if (label.isNumber() && numLabels == 1) {
          v[0] = label.asDouble();
        } else if (label.isArray() && label.size() == numLabels) {
          for (int i = 0; i < numLabels; i++) {
            if (!label.get(i).isNumber())
              throw new IllegalArgumentException("\"label\" has a non-number " + label.get(i) + " (" + example() + ")");
            v[i] = label.get(i).asDouble();
          }
        } else {
          throw new IllegalArgumentException("\"label\" " + label + " is not " + (numLabels == 1 ? "a number"
              : "a list of " + numLabels + " numbers") + " (" + example() + ")");
        }
        for (double x : v)
          if (!Double.isFinite(x)) throw new IllegalArgumentException("\"label\" " + label + " is not finite");
        return v;
      }
    }
  }

  /**
   * A label given as text (a CSV cell: "1", "0.75", "[0, 2]") as the number or list it spells, as pandas would read
   * the column; other text stays text (and is refused as a label by the caller).
   */
  private static JsonNode fromText(JsonNode label) {
    if (!label.isTextual()) return label;
    String t = label.asText().strip();
    if (t.isEmpty() || !(Character.isDigit(t.charAt(0)) || t.charAt(0) == '-' || t.charAt(0) == '[' || t.charAt(0) == '.'))
      return label;
    try {
      JsonNode parsed = new com.fasterxml.jackson.databind.ObjectMapper().readTree(t);
      return parsed != null && (parsed.isNumber() || parsed.isArray()) ? parsed : label;
    } catch (java.io.IOException e) {
      return label;
    }
  }

  private static int classIndex(JsonNode c, int numLabels) {
    if (!c.isIntegralNumber() && !(c.isNumber() && c.asDouble() == Math.rint(c.asDouble())))
      throw new IllegalArgumentException("the class " + c + " is not an integer index 0.." + (numLabels - 1));
    long i = c.asLong();
    if (i < 0 || i >= numLabels)
      throw new IllegalArgumentException("the class " + c + " is out of range: --num_labels " + numLabels
          + " allows 0.." + (numLabels - 1));
    return (int) i;
  }

  private String example() {
    switch (this) {
      case SINGLE_LABEL: return "e.g. {\"messages\": [{\"role\": \"user\", \"content\": \"...\"}], \"label\": 1}";
      case MULTI_LABEL: return "e.g. {\"messages\": [...], \"label\": [0, 2]}";
      default: return "e.g. {\"messages\": [...], \"label\": 0.75}";
    }
  }

  /** The prediction from one sequence's logits, as ms-swift's infer answers it: a class, a list of classes, or values. */
  public JsonNode predict(double[] logits) {
    JsonNodeFactory f = JsonNodeFactory.instance;
    switch (this) {
      case SINGLE_LABEL: {
        int best = 0;
        for (int i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
        return f.numberNode(best);
      }
      case MULTI_LABEL: {
        ArrayNode a = f.arrayNode();
        for (int i = 0; i < logits.length; i++) if (logits[i] >= 0) a.add(i);  // sigmoid(x) >= 0.5
        return a;
      }
      default: {
        if (logits.length == 1) return f.numberNode(logits[0]);
        ArrayNode a = f.arrayNode();
        for (double x : logits) a.add(x);
        return a;
      }
    }
  }

  /** Whether a prediction is exactly right (classification; regression has no accuracy). */
  public boolean correct(double[] logits, double[] target) {
    switch (this) {
      case SINGLE_LABEL:
        return predict(logits).asInt() == (int) target[0];
      case MULTI_LABEL:
        for (int i = 0; i < logits.length; i++) if ((logits[i] >= 0) != (target[i] == 1)) return false;
        return true;
      default:
        throw new IllegalStateException("regression has no accuracy");
    }
  }
}
