package jswift.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Arrays;
import java.util.Random;
import jswift.model.ProblemType;
import jswift.testing.Torch;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The classifier's losses against torch's own (cross_entropy, binary_cross_entropy_with_logits, mse_loss, each a
 * mean as transformers' *ForSequenceClassification calls them) and their autograd gradients, with the batch split
 * into two micro-batches as gradient accumulation splits it.
 */
class ClassificationLossTest {
  @ParameterizedTest
  @EnumSource(ProblemType.class)
  void matchesTorchAcrossMicroBatches(ProblemType type) {
    int n = 5, labels = type == ProblemType.REGRESSION ? 1 : 3;
    for (int trial = 0; trial < 2; trial++) {
      if (type == ProblemType.REGRESSION && trial == 1) labels = 2;  // several regression targets
      Random r = new Random(11 + trial);
      float[] z = new float[n * labels];
      for (int i = 0; i < z.length; i++) z[i] = (float) (2 * r.nextGaussian());
      double[][] logits = new double[n][labels], targets = new double[n][];
      long[] classes = new long[n];
      float[] dense = new float[n * labels];  // multi-hot or regression targets, for torch
      for (int s = 0; s < n; s++) {
        for (int l = 0; l < labels; l++) logits[s][l] = z[s * labels + l];
        if (type == ProblemType.SINGLE_LABEL) {
          classes[s] = r.nextInt(labels);
          targets[s] = new double[] {classes[s]};
        } else {
          targets[s] = new double[labels];
          for (int l = 0; l < labels; l++) {
            dense[s * labels + l] = type == ProblemType.MULTI_LABEL ? r.nextInt(2) : (float) r.nextGaussian();
            targets[s][l] = dense[s * labels + l];
          }
        }
      }
      org.bytedeco.pytorch.Tensor tz = Torch.param(z, n, labels);
      org.bytedeco.pytorch.Tensor loss = type == ProblemType.SINGLE_LABEL
          ? torch.cross_entropy(tz, Torch.longs(classes, n))
          : type == ProblemType.MULTI_LABEL ? torch.binary_cross_entropy_with_logits(tz, Torch.tensor(dense, n, labels))
          : labels == 1 ? torch.mse_loss(tz.squeeze(), Torch.tensor(dense, n)) : torch.mse_loss(tz, Torch.tensor(dense, n, labels));
      loss.backward();
      double expected = loss.item_double();
      float[] grad = Torch.floats(tz.grad());

      double normalizer = ClassificationLoss.elements(type, n, labels);
      ClassificationLoss.Scored a = ClassificationLoss.score(type, Arrays.copyOfRange(logits, 0, 2),
          Arrays.copyOfRange(targets, 0, 2), normalizer);
      ClassificationLoss.Scored b = ClassificationLoss.score(type, Arrays.copyOfRange(logits, 2, n),
          Arrays.copyOfRange(targets, 2, n), normalizer);
      assertEquals(expected, a.loss() + b.loss(), 1e-6 * Math.abs(expected) + 1e-9, type + " loss");
      for (int s = 0; s < n; s++)
        for (int l = 0; l < labels; l++)
          assertEquals(grad[s * labels + l], (s < 2 ? a.dLogits()[s] : b.dLogits()[s - 2])[l], 1e-6,
              type + " dLoss/dlogit[" + s + "][" + l + "]");
      if (type != ProblemType.REGRESSION) {
        int correct = 0;
        for (int s = 0; s < n; s++) if (type.correct(logits[s], targets[s])) correct++;
        assertEquals(correct, a.correct() + b.correct());
      }
    }
  }

  @ParameterizedTest
  @EnumSource(value = ProblemType.class, names = {"SINGLE_LABEL", "MULTI_LABEL"})
  void countsExactPredictions(ProblemType type) {
    double[][] logits = {{2, -1, 0.5}, {-3, 4, -1}};
    double[][] targets = type == ProblemType.SINGLE_LABEL ? new double[][] {{0}, {2}}
        : new double[][] {{1, 0, 1}, {0, 1, 1}};
    ClassificationLoss.Scored s = ClassificationLoss.score(type, logits, targets, 2);
    assertEquals(1, s.correct(), "the first row is right, the second wrong");
    assertArrayEquals(new int[] {0, 1}, new int[] {type.correct(logits[1], targets[1]) ? 1 : 0,
        type.correct(logits[0], targets[0]) ? 1 : 0});
  }

  /** The whole gradient (head, then the model's backward from the last hidden states) against finite differences. */
  @ParameterizedTest
  @EnumSource(ProblemType.class)
  void gradientThroughTheModelIsTheDerivativeOfTheLoss(ProblemType type) throws java.io.IOException {
    int labels = type == ProblemType.REGRESSION ? 2 : 3;
    Random r = new Random(4);
    java.util.List<int[]> ids = new java.util.ArrayList<>(), none = new java.util.ArrayList<>();
    double[][] targets = new double[3][];
    for (int s = 0; s < 3; s++) {
      int[] seq = new int[4 + 2 * s];
      for (int i = 0; i < seq.length; i++) seq[i] = 3 + r.nextInt(500);
      ids.add(seq);
      int[] l = new int[seq.length];
      Arrays.fill(l, jswift.model.Batch.IGNORE);
      none.add(l);
      targets[s] = type == ProblemType.SINGLE_LABEL ? new double[] {s % labels}
          : type == ProblemType.MULTI_LABEL ? new double[] {1, s % 2, 0} : new double[] {0.5, -s};
    }
    jswift.model.Batch b = jswift.model.Batch.packed(ids, none).withSequenceTargets(targets);
    try (jswift.model.CausalLM m = jswift.model.CausalLM.load(jswift.testing.Fixtures.llamaGqa(),
            jswift.tensor.Device.CPU, jswift.tensor.DType.F32, jswift.model.CausalLM.Quantization.NONE);
        jswift.model.ScoreHead head = jswift.model.ScoreHead.create(m.config().hiddenSize(), labels, 5,
            jswift.tensor.Device.CPU, jswift.model.ScoreHead.ADAPTER_KEY)) {
      java.util.List<jswift.nn.Parameter> params = jswift.testing.GradientCheck.zeroAdapter(m);
      jswift.testing.GradientCheck.perturb(params);
      head.weight().setTrainable(true);
      params.add(head.weight());
      params.forEach(p -> p.setTrainable(true));
      params.forEach(jswift.nn.Parameter::zeroGrad);
      double norm = ClassificationLoss.elements(type, 3, labels);
      m.forwardBackwardLastHidden(b, 1, h -> head.backward(h,
          ClassificationLoss.score(type, head.logits(h), b.sequenceTargets(), norm).dLogits()));
      jswift.testing.GradientCheck.check(params, new Random(8), () -> ClassificationLoss.score(type,
          head.logits(m.lastHiddenStates(b)), b.sequenceTargets(), norm).loss(), type + ": adapter and head");
    }
  }
}
