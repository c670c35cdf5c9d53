package jswift.model;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import jswift.nn.Parameter;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Tensor;

/**
 * A reward model's head, transformers' {@code score} of *ForSequenceClassification with one label: a bias-free linear
 * map from the last token's final hidden state to a scalar, r = w . h. It is trained in fp32 next to a LoRA adapter
 * and saved inside it as PEFT does for task_type SEQ_CLS ({@code modules_to_save}: {@link #ADAPTER_KEY}). The
 * products are a few thousand multiply-adds a sequence, done on the host.
 */
public final class ScoreHead implements AutoCloseable {
  /** Where PEFT saves the head in adapter_model.safetensors. */
  public static final String ADAPTER_KEY = "base_model.model.score.weight";
  /** Where transformers' *ForSequenceClassification keeps it in a whole model's checkpoint (full training). */
  public static final String MODEL_KEY = "score.weight";
  /** The same, as the modules_to_save wrapper names it before saving (some files keep it). */
  private static final String WRAPPED_KEY = "base_model.model.score.modules_to_save.default.weight";

  private final Parameter weight;  // [1, hidden] fp32

  private ScoreHead(Parameter weight) {
    this.weight = weight;
  }

  /**
   * A fresh head named {@code name} ({@link #ADAPTER_KEY} beside an adapter, {@link #MODEL_KEY} in a whole model):
   * N(0, 0.02^2) entries, as transformers initialises a new score layer (initializer_range 0.02).
   */
  public static ScoreHead create(int hidden, long seed, Device device, String name) {
    Random r = new Random(seed);
    float[] w = new float[hidden];
    for (int i = 0; i < hidden; i++) w[i] = (float) (0.02 * r.nextGaussian());
    Tensor t = Tensor.allocate(DType.F32, device, 1, hidden);
    t.copyFrom(w);
    return new ScoreHead(new Parameter(name, t));
  }

  /** The head of a whole reward model's checkpoint ({@link #MODEL_KEY} in its safetensors). */
  public static ScoreHead loadFromModel(Path modelDir, int hidden, Device device) throws IOException {
    try (Checkpoint c = Checkpoint.open(modelDir)) {
      if (!c.contains(MODEL_KEY))
        throw new IOException(modelDir + " has no " + MODEL_KEY + ": not a reward model (jswift rlhf --rlhf_type rm "
            + "saves one)");
      long[] shape = c.file(MODEL_KEY).entry(MODEL_KEY).shape();
      if (shape.length != 2 || shape[0] != 1 || shape[1] != hidden)
        throw new IOException(modelDir + ": " + MODEL_KEY + " has shape " + java.util.Arrays.toString(shape)
            + ", expected [1, " + hidden + "]");
      Tensor t = Tensor.allocate(DType.F32, device, 1, hidden);
      t.copyFrom(c.file(MODEL_KEY).floats(MODEL_KEY));
      return new ScoreHead(new Parameter(MODEL_KEY, t));
    }
  }

  /** The head saved in a reward model's adapter folder (adapter_model.safetensors). */
  public static ScoreHead load(Path adapterDir, int hidden, Device device) throws IOException {
    Path file = adapterDir.resolve("adapter_model.safetensors");
    if (!Files.exists(file)) throw new IOException(file + " not found: is " + adapterDir + " a reward model adapter?");
    try (SafetensorsFile f = SafetensorsFile.open(file)) {
      String key = f.contains(ADAPTER_KEY) ? ADAPTER_KEY : f.contains(WRAPPED_KEY) ? WRAPPED_KEY : null;
      if (key == null)
        throw new IOException(file + " has no " + ADAPTER_KEY + ": not a reward model (jswift rlhf --rlhf_type rm saves"
            + " one; an ordinary LoRA adapter has no score head)");
      long[] shape = f.entry(key).shape();
      if (shape.length != 2 || shape[0] != 1 || shape[1] != hidden)
        throw new IOException(file + ": " + key + " has shape " + java.util.Arrays.toString(shape) + ", expected [1, "
            + hidden + "] (one label on this model's hidden size)");
      Tensor t = Tensor.allocate(DType.F32, device, 1, hidden);
      t.copyFrom(f.floats(key));
      return new ScoreHead(new Parameter(ADAPTER_KEY, t));
    }
  }

  public Parameter weight() {
    return weight;
  }

  /** The score of each sequence from its last hidden state. */
  public double[] scores(float[][] lastHidden) {
    float[] w = weight.value().toFloatArray();
    double[] r = new double[lastHidden.length];
    for (int s = 0; s < r.length; s++) {
      double sum = 0;
      for (int i = 0; i < w.length; i++) sum += (double) w[i] * lastHidden[s][i];
      r[s] = sum;
    }
    return r;
  }

  /**
   * The backward of {@link #scores} for dLoss/d(score) {@code dScores}: adds dLoss/dw to the weight's gradient (when
   * it trains) and returns dLoss/dh of each sequence.
   */
  public float[][] backward(float[][] lastHidden, double[] dScores) {
    float[] w = weight.value().toFloatArray();
    float[][] dh = new float[lastHidden.length][w.length];
    double[] dw = new double[w.length];
    for (int s = 0; s < lastHidden.length; s++) {
      for (int i = 0; i < w.length; i++) {
        dh[s][i] = (float) (dScores[s] * w[i]);
        dw[i] += dScores[s] * lastHidden[s][i];
      }
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
