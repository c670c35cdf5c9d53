package jswift.quant;

import java.util.ArrayList;
import java.util.List;
import jswift.nn.Linear;
import jswift.nn.RmsNorm;
import jswift.tensor.Arena;
import jswift.tensor.Tensor;

/**
 * AWQ's activation-aware scale search and its folding, as AutoAWQ's {@code _search_best_scale} /
 * {@code apply_scale} do it. For a group of linears that read one input X (q/k/v after the input norm, o after v,
 * gate/up after the post-attention norm, down after up), with x_mean = mean |X| per input channel and w_mean the
 * per-channel mean of |W| / max|W| of its group (rows of all the group's weights), each alpha of the 20-point grid
 * {0, 0.05, ..., 0.95} gives s = x_mean^alpha / (w_mean^(1 - alpha) + 1e-4) ("duo scaling", AutoAWQ's default),
 * clamped to >= 1e-4 and normalised by sqrt(max(s) min(s)); the module that holds the group (the attention block,
 * the MLP, or the linear itself) runs on the calibration inputs with every weight replaced by Q(W diag(s))
 * diag(s)^-1, and the s with the lowest mean squared output error against the fp module wins. Folding multiplies
 * the group's weight columns by s and divides the preceding op's output by s (the norm's weight, or the previous
 * linear's rows and bias), so the fp model computes the same function while the quantized columns of the salient
 * channels get finer steps.
 */
final class AwqScales {
  static final int GRID = 20;

  private AwqScales() {}

  /** The module that holds a group: its output for the calibration input of block {@code b}. */
  interface Module {
    Tensor forward(Arena arena, Tensor x, int b);
  }

  /** The winning scales, their alpha and output error. */
  record Best(float[] scales, float alpha, double loss) {}

  /** Searches the scales of {@code linears} (which read {@code inputs}, one tensor per block) through {@code module}. */
  static Best search(List<Linear> linears, List<Tensor> inputs, Module module, long groupSize) {
    long in = linears.get(0).inFeatures();
    float[] xMean = meanAbs(inputs, in), wMean = weightMean(linears, groupSize);
    List<float[]> reference = new ArrayList<>();
    for (int b = 0; b < inputs.size(); b++) {
      try (Arena a = new Arena()) {
        reference.add(module.forward(a, inputs.get(b), b).toFloatArray());
      }
    }
    List<float[]> original = new ArrayList<>();
    for (Linear l : linears) original.add(l.weight().value().toFloatArray());
    Best best = null;
    try {
      for (int r = 0; r < GRID; r++) {
        float alpha = r / (float) GRID;
        float[] s = scales(xMean, wMean, alpha);
        for (int i = 0; i < linears.size(); i++) {
          Linear l = linears.get(i);
          l.weight().value().copyFrom(scaledQuantized(original.get(i), s, l.outFeatures(), in, groupSize));
        }
        double sq = 0;
        long n = 0;
        for (int b = 0; b < inputs.size(); b++) {
          try (Arena a = new Arena()) {
            float[] y = module.forward(a, inputs.get(b), b).toFloatArray(), ref = reference.get(b);
            for (int k = 0; k < y.length; k++) {
              double d = (double) y[k] - ref[k];
              sq += d * d;
            }
            n += y.length;
          }
        }
        double loss = sq / n;
        if (best == null || loss < best.loss()) best = new Best(s, alpha, loss);
      }
    } finally {
      for (int i = 0; i < linears.size(); i++) linears.get(i).weight().value().copyFrom(original.get(i));
    }
    return best;
  }

  /** s for one alpha (duo scaling), normalised; inf / NaN entries (an overflowing power) become 1, as AutoAWQ. */
  static float[] scales(float[] xMean, float[] wMean, float alpha) {
    float[] s = new float[xMean.length];
    float max = Float.NEGATIVE_INFINITY, min = Float.POSITIVE_INFINITY;
    for (int c = 0; c < s.length; c++) {
      s[c] = Math.max((float) (Math.pow(xMean[c], alpha) / (Math.pow(wMean[c], 1 - alpha) + 1e-4)), 1e-4f);
      max = Math.max(max, s[c]);
      min = Math.min(min, s[c]);
    }
    float norm = (float) Math.sqrt((double) max * min);
    for (int c = 0; c < s.length; c++) {
      s[c] /= norm;
      if (!Float.isFinite(s[c])) s[c] = 1f;
    }
    return s;
  }

  /** Q(W diag(s)) diag(s)^-1: what the module computes with for these scales. */
  static float[] scaledQuantized(float[] w, float[] s, long out, long in, long groupSize) {
    float[] ws = new float[w.length];
    for (int c = 0; c < out; c++)
      for (int k = 0; k < in; k++) ws[(int) (c * in + k)] = w[(int) (c * in + k)] * s[k];
    float[] q = AwqQuantizer.pseudoQuantize(ws, out, in, groupSize);
    for (int c = 0; c < out; c++)
      for (int k = 0; k < in; k++) q[(int) (c * in + k)] /= s[k];
    return q;
  }

  /** mean |x| per input channel over every calibration token. */
  static float[] meanAbs(List<Tensor> inputs, long in) {
    double[] sum = new double[(int) in];
    long tokens = 0;
    for (Tensor x : inputs) {
      float[] v = x.toFloatArray();
      for (int i = 0; i < v.length; i++) sum[(int) (i % in)] += Math.abs(v[i]);
      tokens += v.length / in;
    }
    float[] mean = new float[(int) in];
    for (int c = 0; c < in; c++) mean[c] = (float) (sum[c] / tokens);
    return mean;
  }

  /** Per input channel, the mean over all rows of the group's weights of |w| / (max |w| of its quant group + 1e-6). */
  static float[] weightMean(List<Linear> linears, long groupSize) {
    long in = linears.get(0).inFeatures();
    double[] sum = new double[(int) in];
    long rows = 0;
    for (Linear l : linears) {
      float[] w = l.weight().value().toFloatArray();
      long out = l.outFeatures();
      for (int c = 0; c < out; c++)
        for (long g0 = 0; g0 < in; g0 += groupSize) {
          float max = 0;
          for (long k = g0; k < g0 + groupSize; k++) max = Math.max(max, Math.abs(w[(int) (c * in + k)]));
          for (long k = g0; k < g0 + groupSize; k++) sum[(int) k] += Math.abs(w[(int) (c * in + k)]) / (max + 1e-6f);
        }
      rows += out;
    }
    float[] mean = new float[(int) in];
    for (int k = 0; k < in; k++) mean[k] = (float) (sum[k] / rows);
    return mean;
  }

  /** Folds s into a norm and the linears it feeds: norm weight / s, weight columns * s. */
  static void foldIntoNorm(RmsNorm norm, List<Linear> linears, float[] s) {
    float[] g = norm.weight().value().toFloatArray();
    for (int c = 0; c < g.length; c++) g[c] /= s[c];
    norm.weight().value().copyFrom(g);
    scaleColumns(linears, s);
  }

  /** Folds s into a linear and the one it feeds: previous rows (and bias) / s, next columns * s. */
  static void foldIntoLinear(Linear prev, List<Linear> linears, float[] s) {
    float[] w = prev.weight().value().toFloatArray();
    long in = prev.inFeatures();
    for (int r = 0; r < s.length; r++)
      for (int k = 0; k < in; k++) w[(int) (r * in + k)] /= s[r];
    prev.weight().value().copyFrom(w);
    if (prev.bias() != null) {
      float[] b = prev.bias().value().toFloatArray();
      for (int r = 0; r < s.length; r++) b[r] /= s[r];
      prev.bias().value().copyFrom(b);
    }
    scaleColumns(linears, s);
  }

  private static void scaleColumns(List<Linear> linears, float[] s) {
    for (Linear l : linears) {
      float[] w = l.weight().value().toFloatArray();
      long in = l.inFeatures();
      for (int c = 0; c < l.outFeatures(); c++)
        for (int k = 0; k < in; k++) w[(int) (c * in + k)] *= s[k];
      l.weight().value().copyFrom(w);
    }
  }
}
