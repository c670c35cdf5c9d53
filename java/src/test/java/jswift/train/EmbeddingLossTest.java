package jswift.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import jswift.testing.Torch;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;

/**
 * The embedding losses (and their gradients through the L2 normalization, down to the last hidden states) against
 * the same computation written with torch ops and differentiated by autograd, following ms-swift's loss plugins:
 * InfoNCE over the batch's candidates or each row's own, with rows of equal or unequal negatives, and the fake
 * negative mask; the cosine-similarity, contrastive and online-contrastive pair losses.
 */
class EmbeddingLossTest {
  private static final int DIM = 6;

  /** Rows: anchor, positive, then {@code negatives[i]} negatives; the sequences in that order. */
  private static List<EmbeddingLoss.Group> groups(int[] negatives, double[] labels) {
    List<EmbeddingLoss.Group> out = new ArrayList<>();
    int s = 0;
    for (int i = 0; i < negatives.length; i++) {
      int[] neg = new int[negatives[i]];
      for (int k = 0; k < neg.length; k++) neg[k] = s + 2 + k;
      out.add(new EmbeddingLoss.Group(s, s + 1, neg, labels == null ? 1 : labels[i]));
      s += 2 + neg.length;
    }
    return out;
  }

  private static float[] hidden(int sequences, long seed) {
    Random r = new Random(seed);
    float[] h = new float[sequences * DIM];
    for (int i = 0; i < h.length; i++) h[i] = (float) (3 * r.nextGaussian());
    return h;
  }

  /** jswift's loss and dLoss/dh of the hidden states h [sequences, DIM]. */
  private static double[] jswift(EmbeddingLoss.Type type, EmbeddingLoss.InfoNce s, float[] h, List<EmbeddingLoss.Group> g,
      float[] dh) {
    int n = h.length / DIM;
    float[][] rows = new float[n][DIM];
    for (int i = 0; i < n; i++) System.arraycopy(h, i * DIM, rows[i], 0, DIM);
    double[] norms = new double[n];
    double[][] e = EmbeddingLoss.normalize(rows, norms);
    EmbeddingLoss.Scored scored = EmbeddingLoss.score(type, s, e, g, 1);
    float[][] d = EmbeddingLoss.normalizeBackward(e, norms, scored.dE());
    for (int i = 0; i < n; i++) System.arraycopy(d[i], 0, dh, i * DIM, DIM);
    return new double[] {scored.loss()};
  }

  private static Tensor unit(Tensor h) {
    return h.div(torch.linalg_vector_norm(h, Torch.scalar(2), new long[] {1}, true,
        new org.bytedeco.pytorch.ScalarTypeOptional()));
  }

  private static Tensor row(Tensor e, int i) {
    return e.select(0, i);
  }

  /** ms-swift's infonce_loss, written with torch ops (one anchor at a time, the general path). */
  private static Tensor torchInfoNce(Tensor e, List<EmbeddingLoss.Group> groups, EmbeddingLoss.InfoNce s) {
    Tensor loss = null;
    for (EmbeddingLoss.Group g : groups) {
      List<Integer> cand = new ArrayList<>();
      int target = -1;
      for (EmbeddingLoss.Group h : s.useBatch() ? groups : List.of(g)) {
        if (h == g) target = cand.size();
        cand.add(h.positive());
        for (int n : h.negatives()) cand.add(n);
      }
      long[] idx = cand.stream().mapToLong(Integer::longValue).toArray();
      Tensor sim = torch.matmul(e.index_select(0, Torch.longs(idx, idx.length)), row(e, g.anchor()));
      if (s.maskFakeNegatives()) {  // similarities above the positive's + 0.1 (detached) are left out
        Tensor threshold = sim.select(0, target).detach().add(Torch.scalar(0.1));
        sim = sim.masked_fill(sim.gt(threshold), Torch.scalar(Double.NEGATIVE_INFINITY));
      }
      Tensor ce = torch.cross_entropy(sim.div(Torch.scalar(s.temperature())).unsqueeze(0),
          Torch.longs(new long[] {target}, 1));
      loss = loss == null ? ce : loss.add(ce);
    }
    return loss.div(Torch.scalar(groups.size()));
  }

  private static void check(EmbeddingLoss.Type type, EmbeddingLoss.InfoNce s, int[] negatives, double[] labels, long seed) {
    List<EmbeddingLoss.Group> g = groups(negatives, labels);
    int n = 0;
    for (int k : negatives) n += 2 + k;
    float[] h = hidden(n, seed);
    Tensor th = Torch.param(h, n, DIM);
    Tensor e = unit(th);
    Tensor loss;
    if (type == EmbeddingLoss.Type.INFONCE) {
      loss = torchInfoNce(e, g, s);
    } else {
      long[] a = g.stream().mapToLong(x -> x.anchor()).toArray(), p = g.stream().mapToLong(x -> x.positive()).toArray();
      Tensor cos = torch.cosine_similarity(e.index_select(0, Torch.longs(a, a.length)),
          e.index_select(0, Torch.longs(p, p.length)));
      float[] y = new float[g.size()];
      for (int i = 0; i < y.length; i++) y[i] = (float) g.get(i).label();
      Tensor ty = Torch.tensor(y, y.length);
      Tensor dist = cos.neg().add(Torch.scalar(1));
      if (type == EmbeddingLoss.Type.COSINE_SIMILARITY) {
        loss = torch.mse_loss(cos, ty);
      } else if (type == EmbeddingLoss.Type.CONTRASTIVE) {
        loss = ty.mul(dist.pow(Torch.scalar(2))).add(ty.neg().add(Torch.scalar(1)).mul(
            torch.relu(dist.neg().add(Torch.scalar(0.5))).pow(Torch.scalar(2)))).mul(Torch.scalar(0.5)).mean();
      } else {
        // the hard pairs, chosen on the detached distances as ms-swift selects them
        float[] d = Torch.floats(dist);
        double posMax = -1e9, negMin = 1e9, posMean = 0, negMean = 0;
        int np = 0, nn = 0;
        for (int i = 0; i < y.length; i++) {
          if (y[i] == 1) { posMax = Math.max(posMax, d[i]); posMean += d[i]; np++; }
          else { negMin = Math.min(negMin, d[i]); negMean += d[i]; nn++; }
        }
        double negBound = np > 1 ? posMax : negMean / nn, posBound = nn > 1 ? negMin : posMean / np;
        float[] hardPos = new float[y.length], hardNeg = new float[y.length];
        for (int i = 0; i < y.length; i++) {
          hardPos[i] = y[i] == 1 && d[i] > posBound ? 1 : 0;
          hardNeg[i] = y[i] == 0 && d[i] < negBound ? 1 : 0;
        }
        loss = Torch.tensor(hardPos, y.length).mul(dist.pow(Torch.scalar(2))).sum().add(Torch.tensor(hardNeg, y.length)
            .mul(torch.relu(dist.neg().add(Torch.scalar(0.5))).pow(Torch.scalar(2))).sum());
      }
    }
    loss.backward();
    float[] expected = Torch.floats(th.grad());
    float[] dh = new float[h.length];
    double got = jswift(type, s, h, g, dh)[0];
    String what = type + " " + s + " negatives " + java.util.Arrays.toString(negatives);
    assertEquals(loss.item_double(), got, 1e-6 * Math.max(1, Math.abs(got)), what);
    for (int i = 0; i < dh.length; i++) assertEquals(expected[i], dh[i], 1e-5, what + ": dh[" + i + "]");
  }

  @Test
  void infoNceMatchesTorch() {
    for (boolean batch : new boolean[] {true, false})
      for (boolean mask : new boolean[] {false, true})
        for (int[] negatives : new int[][] {{2, 2, 2}, {1, 3, 0}}) {
          EmbeddingLoss.InfoNce s = new EmbeddingLoss.InfoNce(0.05, batch, mask);
          check(EmbeddingLoss.Type.INFONCE, s, negatives, null, 3);
        }
    // ms-swift's default temperature (0.01): large logits stay finite
    check(EmbeddingLoss.Type.INFONCE, new EmbeddingLoss.InfoNce(0.01, true, false), new int[] {1, 1}, null, 5);
  }

  @Test
  void pairLossesMatchTorch() {
    double[] similarity = {0.9, -0.2, 0.4, 0.0}, binary = {1, 0, 1, 0};
    EmbeddingLoss.InfoNce unused = new EmbeddingLoss.InfoNce(0.01, true, false);
    check(EmbeddingLoss.Type.COSINE_SIMILARITY, unused, new int[4], similarity, 7);
    check(EmbeddingLoss.Type.CONTRASTIVE, unused, new int[4], binary, 7);
    check(EmbeddingLoss.Type.ONLINE_CONTRASTIVE, unused, new int[4], binary, 7);
    check(EmbeddingLoss.Type.ONLINE_CONTRASTIVE, unused, new int[6], new double[] {1, 0, 0, 1, 0, 1}, 9);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> check(
        EmbeddingLoss.Type.ONLINE_CONTRASTIVE, unused, new int[2], new double[] {1, 1}, 7));
    assertTrue(e.getMessage().contains("needs both labels"), e.getMessage());
  }

  @Test
  void settingsComeFromMsSwiftsEnvironmentVariables() {
    EmbeddingLoss.InfoNce d = TrainArguments.infoNceSettings(Map.of());
    assertEquals(new EmbeddingLoss.InfoNce(0.01, true, false), d);
    assertEquals(new EmbeddingLoss.InfoNce(0.05, false, true), TrainArguments.infoNceSettings(Map.of(
        "INFONCE_TEMPERATURE", "0.05", "INFONCE_USE_BATCH", "False", "INFONCE_MASK_FAKE_NEGATIVE", "true")));
    for (Map<String, String> bad : List.of(Map.of("INFONCE_TEMPERATURE", "0"), Map.of("INFONCE_USE_BATCH", "maybe"),
        Map.of("INFONCE_HARD_NEGATIVES", "4"))) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> TrainArguments.infoNceSettings(bad));
      assertTrue(e.getMessage().contains(bad.keySet().iterator().next()), e.getMessage());
    }
  }
}
