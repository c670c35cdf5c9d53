package jswift.model;

import jswift.nn.Parameter;
import jswift.tensor.Arena;
import jswift.tensor.DType;
import jswift.tensor.Kernels;
import jswift.tensor.Tensor;
import jswift.tokenizer.Tokenizer;

/**
 * A generative reranker's score (ms-swift's generative_reranker, Qwen3-Reranker): the LM head's logit of the
 * positive token ("yes") minus that of the negative token ("no") at the last position, z_yes - z_no = (W[yes] -
 * W[no]) . h. The rows are read from the LM head in use at every call (full training moves them); when the LM head
 * trains, its two rows get their gradient. Softmax over (no, yes) of these logits is the relevance: sigmoid(score).
 */
public final class YesNoHead implements SequenceScorer {
  private final CausalLM model;
  private final int yes, no;

  YesNoHead(CausalLM model, int yesId, int noId) {
    this.model = model;
    this.yes = yesId;
    this.no = noId;
  }

  /**
   * The ids of the positive and negative tokens (GENERATIVE_RERANKER_POSITIVE_TOKEN / _NEGATIVE_TOKEN, default "yes" /
   * "no"): each must be one token of the vocabulary.
   */
  public static YesNoHead create(CausalLM model, Tokenizer tokenizer, java.util.Map<String, String> env) {
    return new YesNoHead(model, tokenId(tokenizer, env.getOrDefault("GENERATIVE_RERANKER_POSITIVE_TOKEN", "yes")),
        tokenId(tokenizer, env.getOrDefault("GENERATIVE_RERANKER_NEGATIVE_TOKEN", "no")));
  }

  private static int tokenId(Tokenizer tokenizer, String token) {
    int[] ids = tokenizer.encode(token, false);
    if (ids.length != 1)
      throw new IllegalArgumentException("the generative reranker's token '" + token + "' is " + ids.length + " tokens "
          + "in this tokenizer, not one: set GENERATIVE_RERANKER_POSITIVE_TOKEN / _NEGATIVE_TOKEN to single tokens");
    return ids[0];
  }

  /** W[yes] - W[no] on the host, in fp32. */
  private float[] direction() {
    Parameter w = model.lmHeadWeight();
    try (Arena a = new Arena()) {
      Tensor ids = a.allocate(DType.I32, w.value().device(), 2);
      ids.copyFrom(new int[] {yes, no});
      Tensor rows = a.allocate(w.value().dtype(), w.value().device(), 2, w.value().size(1));
      Kernels.embeddingForward(ids, w.value(), rows);
      float[] r = rows.toFloatArray();
      int d = r.length / 2;
      float[] out = new float[d];
      for (int i = 0; i < d; i++) out[i] = r[i] - r[d + i];
      return out;
    }
  }

  /** The score (yes minus no logit) of each sequence from its last hidden state. */
  @Override
  public double[] scores(float[][] h) {
    float[] w = direction();
    double[] out = new double[h.length];
    for (int s = 0; s < h.length; s++) {
      double sum = 0;
      for (int i = 0; i < w.length; i++) sum += (double) w[i] * h[s][i];
      out[s] = sum;
    }
    return out;
  }

  @Override
  public float[][] backward(float[][] h, double[] d) {
    float[] w = direction();
    float[][] dh = new float[h.length][w.length];
    for (int s = 0; s < h.length; s++) for (int i = 0; i < w.length; i++) dh[s][i] = (float) (d[s] * w[i]);
    Parameter head = model.lmHeadWeight();
    if (head.isTrainable()) {  // dW[yes] += d h, dW[no] -= d h, scattered into the LM head's gradient
      int n = h.length, dim = w.length;
      int[] ids = new int[2 * n];
      float[] rows = new float[2 * n * dim];
      for (int s = 0; s < n; s++) {
        ids[s] = yes;
        ids[n + s] = no;
        for (int i = 0; i < dim; i++) {
          rows[s * dim + i] = (float) (d[s] * h[s][i]);
          rows[(n + s) * dim + i] = (float) (-d[s] * h[s][i]);
        }
      }
      try (Arena a = new Arena()) {
        Tensor tids = a.allocate(DType.I32, head.value().device(), 2L * n);
        tids.copyFrom(ids);
        Tensor trows = a.allocate(DType.F32, head.value().device(), 2L * n, dim);
        trows.copyFrom(rows);
        Kernels.embeddingBackward(tids, trows, head.grad());
      }
    }
    return dh;
  }

  @Override
  public void close() {}
}
