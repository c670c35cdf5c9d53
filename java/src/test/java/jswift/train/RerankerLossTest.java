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
    assertThrows(IllegalArgumentException.class, () -> RerankerLoss.Type.parse("infonce"));
  }
}
