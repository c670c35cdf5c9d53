package jswift.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import jswift.model.Batch;
import jswift.model.CausalLM;
import jswift.nn.Parameter;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.testing.Fixtures;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * GKD: the generalised JSD against its definition worked out here, its closed-form gradient against finite
 * differences of the logits, and the whole backward (chunked LM head, then the model) against finite differences
 * along random directions of a LoRA adapter and the LM head, on the tiny Llama fixture.
 */
class GkdLossTest {
  private static double[] softmax(float[] z, double temperature) {
    double max = Double.NEGATIVE_INFINITY, sum = 0;
    for (float x : z) max = Math.max(max, x / temperature);
    double[] p = new double[z.length];
    for (int i = 0; i < z.length; i++) sum += p[i] = Math.exp(z[i] / temperature - max);
    for (int i = 0; i < z.length; i++) p[i] /= sum;
    return p;
  }

  private static double kl(double[] p, double[] q) {
    double d = 0;
    for (int i = 0; i < p.length; i++) d += p[i] * Math.log(p[i] / q[i]);
    return d;
  }

  @ParameterizedTest
  @ValueSource(doubles = {0.0, 0.3, 0.5, 1.0})
  void divergenceAndGradientFollowTheDefinition(double beta) {
    Random r = new Random(6);
    int vocab = 11;
    double temperature = 0.9;
    float[] student = new float[vocab], teacher = new float[vocab];
    for (int i = 0; i < vocab; i++) {
      student[i] = (float) r.nextGaussian();
      teacher[i] = (float) (2 * r.nextGaussian());
    }
    double[] s = softmax(student, temperature), t = softmax(teacher, temperature), m = new double[vocab];
    for (int i = 0; i < vocab; i++) m[i] = (1 - beta) * s[i] + beta * t[i];
    double expected = beta == 0 ? kl(t, s) : beta == 1 ? kl(s, t) : beta * kl(t, m) + (1 - beta) * kl(s, m);
    float[] grad = new float[vocab];
    assertEquals(expected, GkdLoss.row(student, 0, teacher, 0, vocab, beta, temperature, grad, 1), 1e-6);
    for (int i = 0; i < vocab; i++) {
      float[] plus = student.clone(), minus = student.clone();
      plus[i] += 1e-3f;
      minus[i] -= 1e-3f;
      double numeric = (GkdLoss.row(plus, 0, teacher, 0, vocab, beta, temperature, null, 0)
          - GkdLoss.row(minus, 0, teacher, 0, vocab, beta, temperature, null, 0)) / 2e-3;
      assertEquals(numeric, grad[i], 1e-4 + 1e-3 * Math.abs(numeric), "d/dz_" + i);
    }
    assertEquals(0, GkdLoss.row(teacher, 0, teacher, 0, vocab, beta, temperature, null, 0), 1e-9, "same distributions");
  }

  @ParameterizedTest
  @ValueSource(doubles = {0.0, 0.5})
  void chunkedBackwardIsTheDerivativeOfTheLoss(double beta) throws IOException {
    Random r = new Random(3);
    List<int[]> ids = new ArrayList<>(), labels = new ArrayList<>();
    for (int q = 0; q < 2; q++) {
      int[] seq = new int[6 + q], lab = new int[seq.length];
      for (int i = 0; i < seq.length; i++) {
        seq[i] = 3 + r.nextInt(500);
        lab[i] = i < 3 ? Batch.IGNORE : seq[i];
      }
      ids.add(seq);
      labels.add(lab);
    }
    Batch b = Batch.packed(ids, labels);
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU, DType.F32, CausalLM.Quantization.NONE)) {
      int vocab = m.config().vocabSize();
      float[] teacher = new float[b.tokens() * vocab];
      for (int i = 0; i < teacher.length; i++) teacher[i] = (float) (1.5 * r.nextGaussian());
      List<Parameter> params = jswift.testing.GradientCheck.zeroAdapter(m);
      jswift.testing.GradientCheck.perturb(params);
      Parameter head = m.parameters().containsKey("lm_head.weight") ? m.parameters().get("lm_head.weight")
          : m.parameters().get("model.embed_tokens.weight");
      params.add(head);
      params.forEach(p -> p.setTrainable(true));
      params.forEach(Parameter::zeroGrad);
      int targets = b.targetCount();
      m.forwardBackwardLogits(b, 1, 3, (from, n, logits) -> {  // chunks of 3 rows: several per sequence
        float[] g = new float[logits.length];
        for (int row = 0; row < n; row++)
          if (b.target(from + row) != Batch.IGNORE)
            GkdLoss.row(logits, row * vocab, teacher, (from + row) * vocab, vocab, beta, 0.9, g, 1.0 / targets);
        return g;
      });
      Random dir = new Random(9);
      for (List<Parameter> along : List.of(params.subList(0, params.size() - 1), List.of(head)))  // adapter, LM head
        jswift.testing.GradientCheck.check(along, dir, () -> loss(m, b, teacher, beta), along.size() + " parameters");
    }
  }

  /** The mean divergence over the batch's labelled tokens. */
  private static double loss(CausalLM m, Batch b, float[] teacher, double beta) {
    float[] logits = m.logits(b);
    int vocab = m.config().vocabSize();
    double sum = 0;
    for (int t = 0; t < b.tokens(); t++)
      if (b.target(t) != Batch.IGNORE) sum += GkdLoss.row(logits, t * vocab, teacher, t * vocab, vocab, beta, 0.9, null, 0);
    return sum / b.targetCount();
  }
}
