package jswift.model;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import jswift.nn.Parameter;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Tensor;

/**
 * The head of transformers' *ForSequenceClassification, its {@code score}: a bias-free linear map from the last
 * token's final hidden state to one logit per label, logits = W h with W [labels, hidden]. A reward model has one
 * label (its score); a classifier ({@code --task_type seq_cls}) has {@code --num_labels}. It is trained in fp32 next
 * to a LoRA adapter and saved inside it as PEFT does for task_type SEQ_CLS ({@code modules_to_save}:
 * {@link #ADAPTER_KEY}), or in a whole model's safetensors ({@link #MODEL_KEY}). The products are a few thousand
 * multiply-adds a sequence, done on the host.
 */
public final class ScoreHead implements AutoCloseable {
  /** Where PEFT saves the head in adapter_model.safetensors. */
  public static final String ADAPTER_KEY = "base_model.model.score.weight";
  /** Where transformers' *ForSequenceClassification keeps it in a whole model's checkpoint (full training). */
  public static final String MODEL_KEY = "score.weight";
  /** The same, as the modules_to_save wrapper names it before saving (some files keep it). */
  private static final String WRAPPED_KEY = "base_model.model.score.modules_to_save.default.weight";

  private final Parameter weight;  // [labels, hidden] fp32
  private final int labels, hidden;

  private ScoreHead(Parameter weight) {
    this.weight = weight;
    this.labels = (int) weight.value().shape()[0];
    this.hidden = (int) weight.value().shape()[1];
  }

  /** A fresh one-label head (a reward model's), as {@link #create(int, int, long, Device, String)}. */
  public static ScoreHead create(int hidden, long seed, Device device, String name) {
    return create(hidden, 1, seed, device, name);
  }

  /**
   * A fresh head of {@code labels} rows named {@code name} ({@link #ADAPTER_KEY} beside an adapter, {@link #MODEL_KEY}
   * in a whole model): N(0, 0.02^2) entries, as transformers initialises a new score layer (initializer_range 0.02).
   */
  public static ScoreHead create(int hidden, int labels, long seed, Device device, String name) {
    if (labels < 1) throw new IllegalArgumentException("a score head needs at least one label, got " + labels);
    Random r = new Random(seed);
    float[] w = new float[labels * hidden];
    for (int i = 0; i < w.length; i++) w[i] = (float) (0.02 * r.nextGaussian());
    Tensor t = Tensor.allocate(DType.F32, device, labels, hidden);
    t.copyFrom(w);
    return new ScoreHead(new Parameter(name, t));
  }

  /**
   * The head of a whole sequence classifier's checkpoint ({@link #MODEL_KEY} in its safetensors); {@code labels} the
   * rows it must have, 0 for any.
   */
  public static ScoreHead loadFromModel(Path modelDir, int hidden, int labels, Device device) throws IOException {
    try (Checkpoint c = Checkpoint.open(modelDir)) {
      if (!c.contains(MODEL_KEY))
        throw new IOException(modelDir + " has no " + MODEL_KEY + ": not a sequence classifier (jswift sft --task_type "
            + "seq_cls or jswift rlhf --rlhf_type rm saves one)");
      long[] shape = c.file(MODEL_KEY).entry(MODEL_KEY).shape();
      checkShape(modelDir + ": " + MODEL_KEY, shape, hidden, labels);
      Tensor t = Tensor.allocate(DType.F32, device, shape[0], hidden);
      t.copyFrom(c.file(MODEL_KEY).floats(MODEL_KEY));
      return new ScoreHead(new Parameter(MODEL_KEY, t));
    }
  }

  /** The head saved in a sequence classifier's adapter folder (adapter_model.safetensors); labels as above. */
  public static ScoreHead load(Path adapterDir, int hidden, int labels, Device device) throws IOException {
    Path file = adapterDir.resolve("adapter_model.safetensors");
    if (!Files.exists(file))
      throw new IOException(file + " not found: is " + adapterDir + " a sequence classifier's adapter?");
    try (SafetensorsFile f = SafetensorsFile.open(file)) {
      String key = adapterKey(f);
      if (key == null)
        throw new IOException(file + " has no " + ADAPTER_KEY + ": not a sequence classifier (jswift sft --task_type "
            + "seq_cls and jswift rlhf --rlhf_type rm save one; an ordinary LoRA adapter has no score head)");
      long[] shape = f.entry(key).shape();
      checkShape(file + ": " + key, shape, hidden, labels);
      Tensor t = Tensor.allocate(DType.F32, device, shape[0], hidden);
      t.copyFrom(f.floats(key));
      return new ScoreHead(new Parameter(ADAPTER_KEY, t));
    }
  }

  private static void checkShape(String what, long[] shape, int hidden, int labels) throws IOException {
    if (shape.length != 2 || shape[0] < 1 || shape[1] != hidden || (labels > 0 && shape[0] != labels))
      throw new IOException(what + " has shape " + Arrays.toString(shape) + ", expected [" + (labels > 0 ? labels
          : "labels") + ", " + hidden + "] (" + (labels > 0 ? labels + " label(s)" : "its labels") + " on this "
          + "model's hidden size)");
  }

  /**
   * A causal LM's config.json made a sequence classifier's, as transformers writes one: architectures
   * *ForSequenceClassification, id2label / label2id for the {@code labels} (their size is num_labels) and
   * problem_type.
   */
  public static void classifierConfig(com.fasterxml.jackson.databind.node.ObjectNode config, int labels,
      ProblemType type) {
    String causal = config.path("architectures").path(0).asText("");
    config.putArray("architectures").add(causal.endsWith("ForCausalLM")
        ? causal.replace("ForCausalLM", "ForSequenceClassification") : causal + "ForSequenceClassification");
    com.fasterxml.jackson.databind.node.ObjectNode id2label = config.putObject("id2label");
    com.fasterxml.jackson.databind.node.ObjectNode label2id = config.putObject("label2id");
    for (int i = 0; i < labels; i++) {
      id2label.put(String.valueOf(i), "LABEL_" + i);
      label2id.put("LABEL_" + i, i);
    }
    config.put("problem_type", type.hfName());
  }

  /** The key of the head in a sequence classifier's adapter file, or null when it has none. */
  public static String adapterKey(SafetensorsFile f) {
    return f.contains(ADAPTER_KEY) ? ADAPTER_KEY : f.contains(WRAPPED_KEY) ? WRAPPED_KEY : null;
  }

  public Parameter weight() {
    return weight;
  }

  /** The number of labels (rows): 1 for a reward model. */
  public int labels() {
    return labels;
  }

  /** Each sequence's logits [labels] from its last hidden state. */
  public double[][] logits(float[][] lastHidden) {
    float[] w = weight.value().toFloatArray();
    double[][] out = new double[lastHidden.length][labels];
    for (int s = 0; s < out.length; s++)
      for (int l = 0; l < labels; l++) {
        double sum = 0;
        for (int i = 0; i < hidden; i++) sum += (double) w[l * hidden + i] * lastHidden[s][i];
        out[s][l] = sum;
      }
    return out;
  }

  /** The score of each sequence (a one-label head's logit). */
  public double[] scores(float[][] lastHidden) {
    if (labels != 1) throw new IllegalStateException("scores() reads a one-label head; this one has " + labels);
    double[][] l = logits(lastHidden);
    double[] r = new double[l.length];
    for (int s = 0; s < r.length; s++) r[s] = l[s][0];
    return r;
  }

  /** The backward of {@link #scores} for a one-label head; see {@link #backward(float[][], double[][])}. */
  public float[][] backward(float[][] lastHidden, double[] dScores) {
    double[][] d = new double[dScores.length][1];
    for (int s = 0; s < d.length; s++) d[s][0] = dScores[s];
    return backward(lastHidden, d);
  }

  /**
   * The backward of {@link #logits} for dLoss/d(logits) {@code dLogits}: adds dLoss/dW to the weight's gradient (when
   * it trains) and returns dLoss/dh of each sequence.
   */
  public float[][] backward(float[][] lastHidden, double[][] dLogits) {
    float[] w = weight.value().toFloatArray();
    float[][] dh = new float[lastHidden.length][hidden];
    double[] dw = new double[labels * hidden];
    for (int s = 0; s < lastHidden.length; s++) {
      double[] acc = new double[hidden];
      for (int l = 0; l < labels; l++) {
        double g = dLogits[s][l];
        if (g == 0) continue;
        for (int i = 0; i < hidden; i++) {
          acc[i] += g * w[l * hidden + i];
          dw[l * hidden + i] += g * lastHidden[s][i];
        }
      }
      for (int i = 0; i < hidden; i++) dh[s][i] = (float) acc[i];
    }
    if (weight.isTrainable()) {
      float[] g = weight.grad().toFloatArray();
      for (int i = 0; i < g.length; i++) g[i] += (float) dw[i];
      weight.grad().copyFrom(g);
    }
    return dh;
  }

  @Override
  public void close() {
    weight.close();
  }
}
