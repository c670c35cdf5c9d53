package jswift.train;

import java.util.List;

/**
 * The losses of embedding training ({@code --task_type embedding}), as ms-swift's loss plugins define them, over
 * L2-normalized last-token embeddings. Each micro-batch holds groups: an anchor, its positive and (InfoNCE) its
 * negatives.
 * <ul>
 *   <li>{@code infonce}: for each anchor, cross-entropy over its similarities / temperature to the candidates, whose
 *       target is its own positive; the candidates are the positives and negatives of every group of the batch
 *       ({@code INFONCE_USE_BATCH}, default) or of its own group only; with {@code INFONCE_MASK_FAKE_NEGATIVE} a
 *       candidate more similar than the positive by 0.1 is left out. Mean over the anchors.
 *   <li>{@code cosine_similarity}: mean of (cos(anchor, positive) - label)^2.
 *   <li>{@code contrastive}: with d = 1 - cos, mean of 0.5 (y d^2 + (1 - y) relu(0.5 - d)^2).
 *   <li>{@code online_contrastive}: the same on the hard pairs only (positives farther than the closest negative,
 *       negatives closer than the farthest positive), summed.
 * </ul>
 */
final class EmbeddingLoss {
  private EmbeddingLoss() {}

  enum Type {
    INFONCE, COSINE_SIMILARITY, CONTRASTIVE, ONLINE_CONTRASTIVE;

    static Type parse(String name) {
      for (Type t : values()) if (t.name().toLowerCase(java.util.Locale.ROOT).equals(name)) return t;
      throw new IllegalArgumentException("--loss_type " + name + " is not an embedding loss: infonce (default), "
          + "cosine_similarity, contrastive or online_contrastive");
    }

    String flag() {
      return name().toLowerCase(java.util.Locale.ROOT);
    }
  }

  /** InfoNCE's settings (ms-swift reads them from INFONCE_* environment variables). */
  record InfoNce(double temperature, boolean useBatch, boolean maskFakeNegatives) {}

  /** A group of sequence indices: anchor, positive, then the negatives; {@code label} the pair's label. */
  record Group(int anchor, int positive, int[] negatives, double label) {}

  /**
   * The loss of the groups over {@code e} (unit vectors, one per sequence), divided by {@code divisor}, with its
   * gradient dLoss/de; and, for InfoNCE, the summed similarity of each anchor to its positive, to its hardest negative
   * candidate and to all negatives (for the margin metrics).
   */
  record Scored(double loss, double[][] dE, double positiveSum, double hardestNegativeSum, double negativeSum,
      long negatives) {}

  static Scored score(Type type, InfoNce settings, double[][] e, List<Group> groups, double divisor) {
    double[][] d = new double[e.length][e[0].length];
    switch (type) {
      case INFONCE:
        return infoNce(settings, e, groups, divisor, d);
      default:
        return pairs(type, e, groups, divisor, d);
    }
  }

  private static double dot(double[] a, double[] b) {
    double s = 0;
    for (int i = 0; i < a.length; i++) s += a[i] * b[i];
    return s;
  }

  private static void addScaled(double[] into, double g, double[] x) {
    for (int i = 0; i < into.length; i++) into[i] += g * x[i];
  }

  private static Scored infoNce(InfoNce s, double[][] e, List<Group> groups, double divisor, double[][] d) {
    double loss = 0, pos = 0, hardest = 0, negSum = 0;
    long negCount = 0;
    for (Group g : groups) {
      // the candidates: every group's positive then negatives (in the batch's order), or this group's
      java.util.List<Integer> cand = new java.util.ArrayList<>();
      int target = -1;
      for (Group h : s.useBatch() ? groups : List.of(g)) {
        if (h == g) target = cand.size();
        cand.add(h.positive());
        for (int n : h.negatives()) cand.add(n);
      }
      double[] sim = new double[cand.size()];
      for (int j = 0; j < sim.length; j++) sim[j] = dot(e[g.anchor()], e[cand.get(j)]);
      double positive = sim[target], threshold = positive + 0.1, max = Double.NEGATIVE_INFINITY, hard = Double.NEGATIVE_INFINITY;
      boolean[] masked = new boolean[sim.length];
      for (int j = 0; j < sim.length; j++) {
        if (j != target) {
          hard = Math.max(hard, sim[j]);
          negSum += sim[j];
          negCount++;
        }
        masked[j] = s.maskFakeNegatives() && sim[j] > threshold;
        if (!masked[j]) max = Math.max(max, sim[j] / s.temperature());
      }
      double sum = 0;
      for (int j = 0; j < sim.length; j++) if (!masked[j]) sum += Math.exp(sim[j] / s.temperature() - max);
      double logSum = max + Math.log(sum);
      loss += (logSum - positive / s.temperature()) / groups.size() / divisor;
      pos += positive;
      if (hard > Double.NEGATIVE_INFINITY) hardest += hard;
      for (int j = 0; j < sim.length; j++) {
        double p = masked[j] ? 0 : Math.exp(sim[j] / s.temperature() - logSum);
        double g2 = (p - (j == target ? 1 : 0)) / s.temperature() / groups.size() / divisor;  // dLoss/dsim
        if (g2 == 0) continue;
        addScaled(d[g.anchor()], g2, e[cand.get(j)]);
        addScaled(d[cand.get(j)], g2, e[g.anchor()]);
      }
    }
    return new Scored(loss, d, pos, hardest, negSum, negCount);
  }

  private static final double MARGIN = 0.5;  // ms-swift's contrastive margin (sentence-transformers')

  private static Scored pairs(Type type, double[][] e, List<Group> groups, double divisor, double[][] d) {
    int n = groups.size();
    double[] dist = new double[n], y = new double[n];
    for (int i = 0; i < n; i++) {
      Group g = groups.get(i);
      dist[i] = 1 - dot(e[g.anchor()], e[g.positive()]);  // cosine distance; cos is the dot of unit vectors
      y[i] = g.label();
    }
    double loss = 0;
    double[] dDist = new double[n];
    if (type == Type.COSINE_SIMILARITY) {
      for (int i = 0; i < n; i++) {
        double c = 1 - dist[i], r = c - y[i];
        loss += r * r / n;
        dDist[i] = -2 * r / n;  // dLoss/dcos = 2 r / n; dcos/ddist = -1
      }
    } else if (type == Type.CONTRASTIVE) {
      for (int i = 0; i < n; i++) {
        double hinge = Math.max(0, MARGIN - dist[i]);
        loss += 0.5 * (y[i] * dist[i] * dist[i] + (1 - y[i]) * hinge * hinge) / n;
        dDist[i] = (y[i] * dist[i] - (1 - y[i]) * hinge) / n;
      }
    } else {  // online contrastive: the hard pairs, summed
      double posMax = Double.NEGATIVE_INFINITY, negMin = Double.POSITIVE_INFINITY, posMean = 0, negMean = 0;
      int p = 0, q = 0;
      for (int i = 0; i < n; i++) {
        if (y[i] == 1) {
          posMax = Math.max(posMax, dist[i]);
          posMean += dist[i];
          p++;
        } else if (y[i] == 0) {
          negMin = Math.min(negMin, dist[i]);
          negMean += dist[i];
          q++;
        }
      }
      if (p == 0 || q == 0)
        throw new IllegalArgumentException("--loss_type online_contrastive needs both labels 1 and 0 in every batch "
            + "(found " + p + " positive and " + q + " negative pairs): raise --per_device_train_batch_size");
      double negBound = p > 1 ? posMax : negMean / q, posBound = q > 1 ? negMin : posMean / p;
      for (int i = 0; i < n; i++) {
        if (y[i] == 1 && dist[i] > posBound) {
          loss += dist[i] * dist[i];
          dDist[i] = 2 * dist[i];
        } else if (y[i] == 0 && dist[i] < negBound) {
          double hinge = Math.max(0, MARGIN - dist[i]);
          loss += hinge * hinge;
          dDist[i] = -2 * hinge;
        }
      }
    }
    for (int i = 0; i < n; i++) {
      Group g = groups.get(i);
      double gd = -dDist[i] / divisor;  // ddist/de_a = -e_p, ddist/de_p = -e_a
      addScaled(d[g.anchor()], gd, e[g.positive()]);
      addScaled(d[g.positive()], gd, e[g.anchor()]);
    }
    return new Scored(loss / divisor, d, 0, 0, 0, 0);
  }

  /** Unit vectors of the last hidden states, and their norms (for the backward). */
  static double[][] normalize(float[][] h, double[] norms) {
    double[][] e = new double[h.length][];
    for (int s = 0; s < h.length; s++) {
      double n = 0;
      for (float x : h[s]) n += (double) x * x;
      n = Math.max(Math.sqrt(n), 1e-12);  // F.normalize's epsilon
      norms[s] = n;
      e[s] = new double[h[s].length];
      for (int i = 0; i < e[s].length; i++) e[s][i] = h[s][i] / n;
    }
    return e;
  }

  /** dLoss/dh from dLoss/de through e = h / |h|: (de - e (e . de)) / |h|. */
  static float[][] normalizeBackward(double[][] e, double[] norms, double[][] dE) {
    float[][] dh = new float[e.length][];
    for (int s = 0; s < e.length; s++) {
      double proj = dot(e[s], dE[s]);
      dh[s] = new float[e[s].length];
      for (int i = 0; i < dh[s].length; i++) dh[s][i] = (float) ((dE[s][i] - e[s][i] * proj) / norms[s]);
    }
    return dh;
  }
}
