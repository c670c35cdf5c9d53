package jswift.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import jswift.model.Batch;
import jswift.model.CausalLM;
import jswift.model.YesNoHead;
import jswift.nn.Parameter;
import jswift.tensor.Device;
import jswift.testing.GradientCheck;
import jswift.testing.TinyModels;
import jswift.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The generative reranker's score, the LM head's "yes" minus "no" logit at the last token: equal to the logits the
 * model computes, and its gradient (into the adapter and, when it trains, the LM head's two rows) the derivative of
 * the loss.
 */
class YesNoHeadTest {
  @Test
  void scoreIsTheLogitDifferenceAndItsGradientIsExact(@TempDir Path dir) throws Exception {
    Path model = TinyModels.qwen3(dir.resolve("tiny"), 4);
    try (CausalLM m = CausalLM.load(model, Device.CPU); Tokenizer tok = Tokenizer.load(model)) {
      YesNoHead head = YesNoHead.create(m, tok, Map.of());
      int yes = tok.encode("yes", false)[0], no = tok.encode("no", false)[0];
      List<int[]> ids = new ArrayList<>(), none = new ArrayList<>();
      Random r = new Random(3);
      for (int s = 0; s < 3; s++) {
        int[] seq = new int[5 + s];
        for (int i = 0; i < seq.length; i++) seq[i] = 100 + r.nextInt(5000);
        ids.add(seq);
        int[] l = new int[seq.length];
        java.util.Arrays.fill(l, Batch.IGNORE);
        none.add(l);
      }
      Batch b = Batch.packed(ids, none);
      List<Parameter> params = GradientCheck.zeroAdapter(m);
      GradientCheck.perturb(params);
      // the logits of the model's own LM head, at each sequence's last token
      double[] scores = head.scores(m.lastHiddenStates(b));
      for (int s = 0; s < 3; s++) {
        float[] logits = m.logits(Batch.packed(List.of(ids.get(s)), List.of(none.get(s))));
        int vocab = m.config().vocabSize(), last = ids.get(s).length - 1;
        assertEquals(logits[last * vocab + yes] - logits[last * vocab + no], scores[s], 1e-4, "sequence " + s);
      }
      Parameter lmHead = m.lmHeadWeight();  // tied: the embedding, which then trains on both ends
      lmHead.setTrainable(true);
      params.add(lmHead);
      params.forEach(Parameter::zeroGrad);
      double[] labels = {1, 0, 0};
      m.forwardBackwardLastHidden(b, 1, h -> head.backward(h, RerankerLoss.score(RerankerLoss.Type.POINTWISE, null,
          head.scores(h), labels, 1).dScores()));
      GradientCheck.check(params, new Random(5), () -> RerankerLoss.score(RerankerLoss.Type.POINTWISE, null,
          head.scores(m.lastHiddenStates(b)), labels, 1).loss(), "adapter and LM head");
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> YesNoHead.create(m, tok,
          Map.of("GENERATIVE_RERANKER_POSITIVE_TOKEN", "absolutely relevant")));
      assertTrue(e.getMessage().contains("not one"), e.getMessage());
    }
  }
}
