package jswift.train;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import jswift.model.Batch;
import jswift.model.CausalLM;
import jswift.model.ScoreHead;
import jswift.nn.Parameter;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tuner.LoraConfig;
import jswift.tuner.LoraTuner;

/**
 * PPO's critic as ms-swift builds it: the reward model (a sequence classifier) read per token, its one-label score
 * head applied to every position's final hidden state, V_t = w . h_t, and trained beside the policy with a LoRA
 * adapter of the policy's settings on its decoder and its score head trainable (PEFT's SEQ_CLS modules_to_save).
 * A reward model saved as an adapter is merged first into a scratch folder (a second adapter cannot sit on top of
 * the first in jswift's layers). Owns its model and head.
 */
final class ValueModel implements AutoCloseable {
  private final CausalLM model;
  private final ScoreHead head;
  private final List<Parameter> trainable;

  private ValueModel(CausalLM model, ScoreHead head, List<Parameter> trainable) {
    this.model = model;
    this.head = head;
    this.trainable = trainable;
  }

  /**
   * The value model of {@code rewardModel} (a classifier folder, or a SEQ_CLS adapter merged into {@code scratch}),
   * with a fresh adapter of {@code lora}'s settings (seeded) and its head trainable.
   */
  static ValueModel load(Path rewardModel, Path scratch, Device device, DType dtype, LoraConfig lora, long seed)
      throws IOException {
    Path dir = rewardModel;
    if (Files.exists(rewardModel.resolve(LoraConfig.FILE))) {
      LoraConfig cfg = LoraConfig.read(rewardModel);
      if (!"SEQ_CLS".equals(cfg.fields().path("task_type").asText()) || cfg.baseModelNameOrPath() == null)
        throw new IllegalArgumentException("--reward_model " + rewardModel + " is not a reward model's adapter "
            + "(task_type SEQ_CLS with a base_model_name_or_path): train one with jswift rlhf --rlhf_type rm");
      dir = scratch.resolve("value-model");
      jswift.tuner.LoraMerge.merge(Path.of(cfg.baseModelNameOrPath()), rewardModel, dir,
          jswift.tuner.LoraMerge.Options.on(device));
    }
    CausalLM m = CausalLM.load(dir, device, dtype, CausalLM.Quantization.NONE);
    ScoreHead head = null;
    try {
      head = ScoreHead.loadFromModel(dir, m.config().hiddenSize(), 1, device);
      List<Parameter> params = new ArrayList<>(LoraTuner.apply(m, "default", lora.with("task_type",
          com.fasterxml.jackson.databind.node.NullNode.getInstance()).with("modules_to_save",
          com.fasterxml.jackson.databind.node.JsonNodeFactory.instance.arrayNode()), seed));
      params.forEach(p -> p.setTrainable(true));
      head.weight().setTrainable(true);
      params.add(head.weight());
      return new ValueModel(m, head, params);
    } catch (IOException | RuntimeException e) {
      if (head != null) head.close();
      m.close();
      throw e;
    }
  }

  CausalLM model() {
    return model;
  }

  /** The adapter's parameters and the score head, trained with the policy's. */
  List<Parameter> parameters() {
    return trainable;
  }

  /** V at the given token rows of {@code b} (forward only, no dropout). */
  double[] values(Batch b, int[] rows) {
    return head.scores(model.hiddenStates(b, rows));
  }

  /** Dropout-on forward, the values at {@code rows} to {@code loss}, whose dLoss/dV goes back into the parameters. */
  void forwardBackward(Batch b, long seed, int[] rows, java.util.function.Function<double[], double[]> loss) {
    model.forwardBackwardHidden(b, seed, rows, hidden -> head.backward(hidden, loss.apply(head.scores(hidden))));
  }

  @Override
  public void close() {
    head.close();
    model.close();
  }
}
