package jswift.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import jswift.testing.Rand;
import org.junit.jupiter.api.Test;

/**
 * PPO's arithmetic against TRL's PPOTrainer written out as TRL writes it (padded [N, G] tensors, INVALID_LOGPROB
 * fills, masked_whiten, the GAE loop), a hand-worked rollout, and the clipped value term's gradient against central
 * differences.
 */
class PpoLossTest {
  private static final double INVALID_LOGPROB = 1.0;

  /** TRL's rollout-to-advantages code, transcribed over padded arrays with its masks. */
  private static double[][][] trl(List<PpoLoss.Sample> samples, PpoLoss.Settings s) {
    int n = samples.size(), g = samples.stream().mapToInt(PpoLoss.Sample::length).max().orElseThrow();
    double[][] logprobs = new double[n][g], ref = new double[n][g], values = new double[n][g];
    boolean[][] paddingMask = new boolean[n][g], paddingMaskP1 = new boolean[n][g];
    int[] sequenceLengths = new int[n];
    for (int i = 0; i < n; i++) {
      PpoLoss.Sample x = samples.get(i);
      sequenceLengths[i] = x.length() - 1;  // first_true_indices(response == pad) - 1
      for (int t = 0; t < g; t++) {
        paddingMask[i][t] = t > sequenceLengths[i];
        paddingMaskP1[i][t] = t > sequenceLengths[i] + 1;
        logprobs[i][t] = paddingMask[i][t] ? INVALID_LOGPROB : x.logprobs()[t];
        ref[i][t] = paddingMask[i][t] ? INVALID_LOGPROB : x.refLogprobs()[t];
        values[i][t] = paddingMaskP1[i][t] ? 0 : x.values()[t];
      }
    }
    double[][] rewards = new double[n][g];
    for (int i = 0; i < n; i++) {
      for (int t = 0; t < g; t++) rewards[i][t] = -s.klCoef() * (logprobs[i][t] - ref[i][t]);
      int p1 = sequenceLengths[i] + 1, actualEnd = p1 < g ? p1 : sequenceLengths[i];
      double score = samples.get(i).score() - (s.missingEosPenalty() != null && !samples.get(i).stopped()
          ? s.missingEosPenalty() : 0);
      rewards[i][actualEnd] += score;
    }
    double[][] advantages = new double[n][g];
    for (int i = 0; i < n; i++) {
      double lastgaelam = 0;
      for (int t = g - 1; t >= 0; t--) {
        double nextvalues = t < g - 1 ? values[i][t + 1] : 0.0;
        double delta = rewards[i][t] + s.gamma() * nextvalues - values[i][t];
        lastgaelam = delta + s.gamma() * s.lam() * lastgaelam;
        advantages[i][t] = lastgaelam;
      }
    }
    double[][] returns = new double[n][g];
    for (int i = 0; i < n; i++) for (int t = 0; t < g; t++) returns[i][t] = advantages[i][t] + values[i][t];
    // masked_whiten(advantages, ~padding_mask), then masked_fill(padding_mask, 0)
    double sum = 0, count = 0;
    for (int i = 0; i < n; i++) for (int t = 0; t < g; t++) if (!paddingMask[i][t]) {
      sum += advantages[i][t];
      count++;
    }
    double mean = sum / count, sq = 0;
    for (int i = 0; i < n; i++) for (int t = 0; t < g; t++) if (!paddingMask[i][t])
      sq += (advantages[i][t] - mean) * (advantages[i][t] - mean);
    double variance = sq / count * (count / (count - 1));
    for (int i = 0; i < n; i++)
      for (int t = 0; t < g; t++)
        advantages[i][t] = paddingMask[i][t] ? 0 : (advantages[i][t] - mean) / Math.sqrt(variance + 1e-8);
    return new double[][][] {advantages, returns, values};
  }

  private static PpoLoss.Sample sample(int length, int gen, long seed, double score, boolean stopped) {
    return new PpoLoss.Sample(length, Rand.normal(length, seed, 1f), Rand.normal(length, seed + 1, 1f),
        Rand.normal(PpoLoss.valuePositions(length, gen), seed + 2, 1f), score, stopped);
  }

  @Test
  void advantagesAndReturnsAreTrls() {
    int gen = 6;
    List<PpoLoss.Sample> samples = List.of(sample(3, gen, 1, 0.7, true), sample(6, gen, 10, -1.2, false),
        sample(1, gen, 20, 2.5, true), sample(5, gen, 30, 0.1, true));
    for (PpoLoss.Settings s : List.of(PpoLoss.Settings.defaults(),
        new PpoLoss.Settings(0.3, 0.2, 0.1, 0.2, 0.9, 0.8, false, 1.5))) {
      PpoLoss.Rollout r = PpoLoss.rollout(samples, s);
      double[][][] want = trl(samples, s);
      assertEquals(gen, r.gen());
      for (int i = 0; i < samples.size(); i++)
        for (int t = 0; t < gen; t++) {
          assertEquals(want[0][i][t], r.advantages()[i][t], 1e-9, "advantage " + i + "," + t);
          // TRL's returns are only read where the value is (t <= s_i + 1); beyond, both are value 0 plus a tail
          if (t <= samples.get(i).length()) assertEquals(want[1][i][t], r.returns()[i][t], 1e-9, "return " + i + "," + t);
          assertEquals(want[2][i][t], r.values()[i][t], 0, "value " + i + "," + t);
        }
    }
  }

  @Test
  void aHandWorkedRollout() {
    // two one-token responses of a two-position rollout, values 0, no KL, gamma = lam = 1: the longest (length 2)
    // gets its score on its last token; the one-token response one past it (position 1)
    List<PpoLoss.Sample> samples = List.of(
        new PpoLoss.Sample(1, new float[] {-1f}, new float[] {-1f}, new float[] {0f, 0f}, 2.0, true),
        new PpoLoss.Sample(2, new float[] {-1f, -2f}, new float[] {-1f, -2f}, new float[] {0f, 0f}, -1.0, true));
    PpoLoss.Rollout r = PpoLoss.rollout(samples, new PpoLoss.Settings(0.05, 0.2, 0.1, 0.2, 1.0, 1.0, false, null));
    // raw advantages: response 0 [2 (reward at t = 1 flows back), 2]; response 1 [-1, -1]; policy positions:
    // (0,0), (1,0), (1,1): mean 0, unbiased variance (4 + 1 + 1) / 2 = 3
    assertEquals(2 / Math.sqrt(3 + 1e-8), r.advantages()[0][0], 1e-12);
    assertEquals(0, r.advantages()[0][1], 0, "past the response: masked");
    assertEquals(-1 / Math.sqrt(3 + 1e-8), r.advantages()[1][1], 1e-12);
    assertEquals(2, r.returns()[0][1], 1e-12, "the value position after the one-token response carries its score");
  }

  @Test
  void valueTermGradientMatchesFiniteDifferences() {
    double cv = 0.2, h = 1e-6;
    for (double[] c : new double[][] {{0.1, 0.0, 1.0}, {0.5, 0.0, 1.0}, {-0.5, 0.0, -1.0}, {0.25, 0.0, -3.0},
        {1.0, 0.9, 0.95}}) {
      double numeric = (PpoLoss.valueTerm(c[0] + h, c[1], c[2], cv)[0] - PpoLoss.valueTerm(c[0] - h, c[1], c[2], cv)[0])
          / (2 * h);
      assertEquals(numeric, PpoLoss.valueTerm(c[0], c[1], c[2], cv)[1], 1e-5, java.util.Arrays.toString(c));
    }
    // outside the clip with the clipped error the larger: the gradient stops (TRL: max picks the clipped term)
    assertEquals(3.0, PpoLoss.valueTerm(0.5, 0.0, -1.0, cv)[1], 1e-12, "return -1: the unclipped error (1.5^2) wins");
    assertEquals(0.0, PpoLoss.valueTerm(0.5, 0.0, 1.0, cv)[1], 0, "return 1: the clipped term (0.2) is larger");
    assertThrows(IllegalArgumentException.class, () -> PpoLoss.rollout(List.of(sample(1, 1, 1, 0, true)),
        PpoLoss.Settings.defaults()), "one token: no variance to whiten with");
  }
}
