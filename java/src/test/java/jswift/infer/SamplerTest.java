package jswift.infer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** The sampler's logits processing against hand-computed transformers semantics. */
class SamplerTest {
  @Test
  void greedyTakesTheFirstMaximum() {
    Sampler s = new Sampler(GenerationConfig.greedy(4, List.of()));
    assertEquals(2, s.next(new float[] {0f, 1f, 3f, 3f}, new int[0], 0));
  }

  @Test
  void repetitionPenaltyDividesPositiveAndMultipliesNegativeLogitsOnce() {
    float[] l = {2f, -2f, 1f, 5f};
    Sampler.applyRepetitionPenalty(l, new int[] {0, 1, 1, 0}, 4, 2f);
    assertArrayEquals(new float[] {1f, -4f, 1f, 5f}, l);
    // greedy after the penalty: token 3 was seen and its 5 -> 2.5 loses to token 2's 3
    Sampler s = new Sampler(new GenerationConfig(1, false, 1f, 0, 1f, 2f, 0, List.of(), List.of()));
    assertEquals(2, s.next(new float[] {0f, 0f, 3f, 5f}, new int[] {3}, 1));
  }

  @Test
  void topKOneAndTinyTopPAreGreedy() {
    float[] logits = {0.1f, 2f, 1.9f, -1f};
    for (int seed = 0; seed < 20; seed++) {
      assertEquals(1, new Sampler(GenerationConfig.sampling(1, 1f, 1, 1f, 1f, seed, List.of())).next(logits.clone(), new int[0], 0));
      assertEquals(1, new Sampler(GenerationConfig.sampling(1, 1f, 0, 1e-6f, 1f, seed, List.of())).next(logits.clone(), new int[0], 0));
    }
  }

  @Test
  void topPKeepsTheSmallestSetReachingTheMass() {
    // probabilities 0.5, 0.3, 0.2 (logits are their logs): top_p 0.7 keeps {0, 1} (0.5 < 0.7, 0.5 + 0.3 >= 0.7)
    float[] logits = {(float) Math.log(0.5), (float) Math.log(0.3), (float) Math.log(0.2)};
    int[] counts = new int[3];
    Sampler s = new Sampler(GenerationConfig.sampling(1, 1f, 0, 0.7f, 1f, 42, List.of()));
    for (int i = 0; i < 4000; i++) counts[s.next(logits.clone(), new int[0], 0)]++;
    assertEquals(0, counts[2], "token 2 lies outside the nucleus");
    // renormalised 0.625 / 0.375: 2500 +- 4 sigma (sigma ~ 31)
    assertTrue(Math.abs(counts[0] - 2500) < 125, "counts " + counts[0]);
  }

  @Test
  void samplingFollowsTheTemperedSoftmaxAndRepeatsWithASeed() {
    float[] logits = {1f, 0f, -1f};
    int n = 20000;
    int[] counts = new int[3];
    Sampler s = new Sampler(GenerationConfig.sampling(1, 2f, 0, 1f, 1f, 7, List.of()));
    for (int i = 0; i < n; i++) counts[s.next(logits.clone(), new int[0], 0)]++;
    double z = Math.exp(0.5) + 1 + Math.exp(-0.5);
    double[] p = {Math.exp(0.5) / z, 1 / z, Math.exp(-0.5) / z};
    for (int i = 0; i < 3; i++) {
      double sigma = Math.sqrt(n * p[i] * (1 - p[i]));
      assertTrue(Math.abs(counts[i] - n * p[i]) < 5 * sigma, "token " + i + ": " + counts[i] + " vs " + n * p[i]);
    }
    Sampler a = new Sampler(GenerationConfig.sampling(1, 1f, 0, 1f, 1f, 123, List.of()));
    Sampler b = new Sampler(GenerationConfig.sampling(1, 1f, 0, 1f, 1f, 123, List.of()));
    for (int i = 0; i < 100; i++) assertEquals(a.next(logits.clone(), new int[0], 0), b.next(logits.clone(), new int[0], 0));
  }

  @Test
  void rejectsNonsense() {
    assertThrows(IllegalArgumentException.class, () -> GenerationConfig.sampling(1, -1f, 0, 1f, 1f, 0, List.of()));
    assertThrows(IllegalArgumentException.class, () -> GenerationConfig.sampling(1, 1f, 0, 0f, 1f, 0, List.of()));
    assertThrows(IllegalArgumentException.class, () -> GenerationConfig.sampling(1, 1f, -3, 1f, 1f, 0, List.of()));
    assertThrows(IllegalArgumentException.class, () -> GenerationConfig.greedy(-1, List.of()));
  }
}
