package jswift.train;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import jswift.infer.SequenceClassifier;
import jswift.model.CausalLM;
import jswift.template.Conversation;
import jswift.template.Message;
import jswift.template.Role;
import jswift.template.TemplateOptions;
import jswift.template.Templates;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tokenizer.Tokenizer;
import jswift.tuner.LoraConfig;

/**
 * A trained reward model as a GRPO reward ({@code --reward_model}): the folder {@code jswift rlhf --rlhf_type rm}
 * saved (a PEFT adapter with task_type SEQ_CLS and its score head, on its base model; or, from full training, a
 * whole model with its score head). A completion's reward is the
 * head's score of the whole conversation, the prompt then the completion as the assistant's answer, encoded with the
 * reward model's own template, as in its training.
 */
final class RewardModelScorer implements RewardFunction, AutoCloseable {
  private final CausalLM model;
  private final Tokenizer tokenizer;
  private final SequenceClassifier classifier;

  private RewardModelScorer(CausalLM model, Tokenizer tokenizer, SequenceClassifier classifier) {
    this.model = model;
    this.tokenizer = tokenizer;
    this.classifier = classifier;
  }

  /**
   * Loads the reward model saved in {@code dir}: an adapter (its base from adapter_config.json's
   * base_model_name_or_path) or a whole model with its score head (full training, or a merged adapter).
   */
  static RewardModelScorer load(Path dir, Device device, DType dtype) throws IOException {
    boolean adapter = java.nio.file.Files.exists(dir.resolve(LoraConfig.FILE));
    Path base = dir;
    if (adapter || !java.nio.file.Files.exists(dir.resolve("config.json"))) {
      LoraConfig cfg = LoraConfig.read(dir);
      if (!"SEQ_CLS".equals(cfg.fields().path("task_type").asText()))
        throw new IllegalArgumentException("--reward_model " + dir + ": its adapter_config.json has task_type "
            + cfg.fields().path("task_type").asText() + ", not SEQ_CLS: not a reward model (train one with jswift rlhf "
            + "--rlhf_type rm)");
      String baseName = cfg.baseModelNameOrPath();
      if (baseName == null || baseName.isEmpty())
        throw new IllegalArgumentException("--reward_model " + dir + ": adapter_config.json names no "
            + "base_model_name_or_path");
      base = Path.of(baseName);
    }
    CausalLM m = CausalLM.load(base, device, dtype, CausalLM.Quantization.NONE);
    Tokenizer tok = null;
    SequenceClassifier c = null;
    try {
      if (adapter) {
        m.loadAdapter("default", dir);
        m.setActiveAdapter("default");
      }
      tok = Tokenizer.load(base);
      c = SequenceClassifier.detect(m, base, adapter ? dir : null,
          Templates.create(m.config().architecture().template(), tok, TemplateOptions.DEFAULT));
      if (c == null)
        throw new IOException(dir + " is not a reward model: no *ForSequenceClassification config.json (jswift rlhf "
            + "--rlhf_type rm saves one)");
      if (c.labels() != 1)
        throw new IllegalArgumentException("--reward_model " + dir + " is a classifier of " + c.labels() + " labels, "
            + "not a reward model (one score)");
      return new RewardModelScorer(m, tok, c);
    } catch (IOException | RuntimeException e) {
      if (c != null) c.close();
      if (tok != null) tok.close();
      m.close();
      throw e;
    }
  }

  @Override
  public String name() {
    return "reward_model";
  }

  @Override
  public double reward(Completion c) {
    return rewards(List.of(c))[0];
  }

  /** The scores of the completions, {@link #BATCH} conversations to a forward pass. */
  @Override
  public double[] rewards(List<Completion> completions) {
    double[] out = new double[completions.size()];
    for (int from = 0; from < out.length; from += BATCH) {
      List<Conversation> conversations = new ArrayList<>();
      for (Completion c : completions.subList(from, Math.min(out.length, from + BATCH))) {
        List<Message> messages = new ArrayList<>(c.prompt());
        messages.add(new Message(Role.ASSISTANT, c.text()));
        conversations.add(Conversation.of(messages));
      }
      double[][] s = classifier.logits(conversations);
      for (int i = 0; i < s.length; i++) out[from + i] = s[i][0];
    }
    return out;
  }

  /** Conversations scored per forward pass (packed, so memory grows with their total length). */
  static final int BATCH = 16;

  @Override
  public void close() {
    classifier.close();
    tokenizer.close();
    model.close();
  }
}
