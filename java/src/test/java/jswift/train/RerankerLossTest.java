package jswift.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Map;
import java.util.Random;
import jswift.testing.Torch;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;

/**
 * The reranker losses against torch (binary_cross_entropy_with_logits over the batch; cross_entropy per group of a
 * positive and its negatives, scaled by the temperature, small groups left out) with autograd's gradients, and the
 * ranking metrics on a worked example.
 */
class RerankerLossTest {
  // three groups: sizes 3, 1 (no negative) and 4
  private static final double[] LABELS = {1, 0, 0, 1, 1, 0, 0, 0};

  private static float[] scores() {
    Random r = new Random(2);
    float[] z = new float[LABELS.length];
    for (int i = 0; i < z.length; i++) z[i] = (float) (2 * r.nextGaussian());
    return z;
  }

  private static double[] doubles(float[] z) {
    double[] d = new double[z.length];
    for (int i = 0; i < z.length; i++) d[i] = z[i];
    return d;
  }

  @Test
  void pointwiseIsBinaryCrossEntropyOverTheBatch() {
    float[] z = scores(), y = new float[LABELS.length];
    for (int i = 0; i < y.length; i++) y[i] = (float) LABELS[i];
    Tensor tz = Torch.param(z, z.length);
    Tensor loss = torch.binary_cross_entropy_with_logits(tz, Torch.tensor(y, y.length));
    loss.backward();
    RerankerLoss.Scored s = RerankerLoss.score(RerankerLoss.Type.POINTWISE, null, doubles(z), LABELS, 2);
    assertEquals(loss.item_double() / 2, s.loss(), 1e-9, "divided by the step's micro-batches");
    float[] g = Torch.floats(tz.grad());
    for (int i = 0; i < z.length; i++) assertEquals(g[i] / 2, s.dScores()[i], 1e-7);
  }

  @Test
  void listwiseIsCrossEntropyPerGroup() {
    for (int min : new int[] {2, 4}) {
      float[] z = scores();
      RerankerLoss.Listwise settings = new RerankerLoss.Listwise(0.5, min);
      Tensor tz = Torch.param(z, z.length);
      Tensor loss = null;
      int groups = 0;
      int[][] ranges = {{0, 3}, {3, 4}, {4, 8}};
      for (int[] r : ranges) {
        if (r[1] - r[0] < min) continue;
        Tensor ce = torch.cross_entropy(tz.slice(0, new org.bytedeco.pytorch.LongOptional(r[0]),
            new org.bytedeco.pytorch.LongOptional(r[1]), 1).div(Torch.scalar(0.5)).unsqueeze(0),
            Torch.longs(new long[] {0}, 1));
        loss = loss == null ? ce : loss.add(ce);
        groups++;
      }
      loss = loss.div(Torch.scalar(groups));
      loss.backward();
      RerankerLoss.Scored s = RerankerLoss.score(RerankerLoss.Type.LISTWISE, settings, doubles(z), LABELS, 1);
      assertEquals(loss.item_double(), s.loss(), 1e-9, "min group size " + min);
      float[] g = Torch.floats(tz.grad());
      for (int i = 0; i < z.length; i++) assertEquals(g[i], s.dScores()[i], 1e-7, "min " + min + ", score " + i);
    }
  }

  /**
   * ms-swift's generative losses on the LM head's (no, yes) logits: cross-entropy over the pair (pointwise), and per
   * group the cross-entropy of log(softmax(no, yes)[yes] + 1e-8) / T; jswift computes both on score = yes - no.
   */
  @Test
  void generativeLossesAreThoseOfTheYesNoLogits() {
    float[] yes = scores(), no = new float[yes.length];
    Random r = new Random(9);
    for (int i = 0; i < no.length; i++) no[i] = (float) r.nextGaussian();
    double[] score = new double[yes.length];
    for (int i = 0; i < yes.length; i++) score[i] = (double) yes[i] - no[i];
    long[] labels = new long[LABELS.length];
    for (int i = 0; i < labels.length; i++) labels[i] = (long) LABELS[i];
    RerankerLoss.Listwise settings = new RerankerLoss.Listwise(0.5, 2);
    for (RerankerLoss.Type type : new RerankerLoss.Type[] {RerankerLoss.Type.POINTWISE,
        RerankerLoss.Type.LISTWISE_GENERATIVE}) {
      Tensor ty = Torch.param(yes, yes.length), tn = Torch.param(no, no.length);
      Tensor logits = torch.stack(new org.bytedeco.pytorch.TensorVector(tn, ty), 1);  // [n, 2]: (no, yes)
      Tensor loss;
      if (type == RerankerLoss.Type.POINTWISE) {
        loss = torch.cross_entropy(logits, Torch.longs(labels, labels.length));
      } else {
        Tensor p = torch.softmax(logits, 1, new org.bytedeco.pytorch.ScalarTypeOptional()).select(1, 1);
        Tensor g = torch.log(p.add(Torch.scalar(1e-8))).div(Torch.scalar(0.5));
        loss = null;
        int groups = 0;
        for (int[] range : new int[][] {{0, 3}, {4, 8}}) {  // the group of one is left out
          Tensor ce = torch.cross_entropy(g.slice(0, new org.bytedeco.pytorch.LongOptional(range[0]),
              new org.bytedeco.pytorch.LongOptional(range[1]), 1).unsqueeze(0), Torch.longs(new long[] {0}, 1));
          loss = loss == null ? ce : loss.add(ce);
          groups++;
        }
        loss = loss.div(Torch.scalar(groups));
      }
      loss.backward();
      RerankerLoss.Scored s = RerankerLoss.score(type, settings, score, LABELS, 1);
      assertEquals(loss.item_double(), s.loss(), 1e-7, type.toString());
      float[] gy = Torch.floats(ty.grad()), gn = Torch.floats(tn.grad());
      for (int i = 0; i < yes.length; i++) {
        assertEquals(gy[i], s.dScores()[i], 1e-6, type + " dyes " + i);
        assertEquals(gn[i], -s.dScores()[i], 1e-6, type + " dno " + i);
      }
    }
  }

  @Test
  void ranksEachGroupsPositive() {
    // group 1: the positive second of three (rank 2); group 2 has no negative (skipped); group 3: first of four
    double[] z = {0.5, 0.9, 0.1, 3, 2, 1, 0, -1};
    RerankerLoss.Scored s = RerankerLoss.score(RerankerLoss.Type.POINTWISE, null, z, LABELS, 1);
    assertEquals(2, s.groups());
    assertEquals(0.5 + 1, s.mrrSum(), 1e-12);
    assertEquals(1 / (Math.log(3) / Math.log(2)) + 1, s.ndcgSum(), 1e-12);
  }

  @Test
  void settingsAndNames() {
    assertEquals(new RerankerLoss.Listwise(1.0, 2), TrainArguments.listwiseSettings(Map.of()));
    assertEquals(new RerankerLoss.Listwise(0.2, 3), TrainArguments.listwiseSettings(Map.of(
        "LISTWISE_RERANKER_TEMPERATURE", "0.2", "LISTWISE_RERANKER_MIN_GROUP_SIZE", "3")));
    assertThrows(IllegalArgumentException.class, () -> TrainArguments.listwiseSettings(Map.of(
        "LISTWISE_RERANKER_TEMPERATURE", "-1")));
    assertEquals(RerankerLoss.Type.POINTWISE, RerankerLoss.Type.parse(null));
    assertEquals(RerankerLoss.Type.POINTWISE, RerankerLoss.Type.parse("reranker"));
    assertEquals(RerankerLoss.Type.LISTWISE_GENERATIVE, RerankerLoss.Type.parse("listwise_generative_reranker", true));
    assertThrows(IllegalArgumentException.class, () -> RerankerLoss.Type.parse("listwise_reranker", true));
    assertThrows(IllegalArgumentException.class, () -> RerankerLoss.Type.parse("infonce"));
  }
}
