package jswift.train;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import jswift.model.Batch;
import jswift.model.CausalLM;
import jswift.model.ScoreHead;
import jswift.template.Conversation;
import jswift.template.ConversationEncoder;
import jswift.template.Encoded;
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
  private final ConversationEncoder template;
  private final ScoreHead head;

  private RewardModelScorer(CausalLM model, Tokenizer tokenizer, ConversationEncoder template, ScoreHead head) {
    this.model = model;
    this.tokenizer = tokenizer;
    this.template = template;
    this.head = head;
  }

  /**
   * Loads the reward model saved in {@code dir}: an adapter (its base from adapter_config.json's
   * base_model_name_or_path) or a whole model with its score head (full training).
   */
  static RewardModelScorer load(Path dir, Device device, DType dtype) throws IOException {
    boolean adapter = java.nio.file.Files.exists(dir.resolve(LoraConfig.FILE));
    if (!adapter && java.nio.file.Files.exists(dir.resolve("config.json")))
      return open(dir, device, dtype, m -> ScoreHead.loadFromModel(dir, m.config().hiddenSize(), 1, device));
    LoraConfig cfg = LoraConfig.read(dir);
    if (!"SEQ_CLS".equals(cfg.fields().path("task_type").asText()))
      throw new IllegalArgumentException("--reward_model " + dir + ": its adapter_config.json has task_type "
          + cfg.fields().path("task_type").asText() + ", not SEQ_CLS: not a reward model (train one with jswift rlhf "
          + "--rlhf_type rm)");
    String base = cfg.baseModelNameOrPath();
    if (base == null || base.isEmpty())
      throw new IllegalArgumentException("--reward_model " + dir + ": adapter_config.json names no "
          + "base_model_name_or_path");
    return open(Path.of(base), device, dtype, m -> {
      m.loadAdapter("default", dir);
      m.setActiveAdapter("default");
      return ScoreHead.load(dir, m.config().hiddenSize(), 1, device);
    });
  }

  /** What a loaded model needs to become a reward model: its head (and, for an adapter, the adapter). */
  private interface HeadLoader {
    ScoreHead load(CausalLM model) throws IOException;
  }

  /** The model of {@code modelDir} with its tokenizer and template, and the head {@code head} gives it. */
  private static RewardModelScorer open(Path modelDir, Device device, DType dtype, HeadLoader head) throws IOException {
    CausalLM m = CausalLM.load(modelDir, device, dtype, CausalLM.Quantization.NONE);
    Tokenizer tok = null;
    ScoreHead h = null;
    try {
      h = head.load(m);
      tok = Tokenizer.load(modelDir);
      ConversationEncoder template = Templates.create(m.config().architecture().template(), tok, TemplateOptions.DEFAULT);
      return new RewardModelScorer(m, tok, template, h);
    } catch (IOException | RuntimeException e) {
      if (h != null) h.close();
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
      List<int[]> ids = new ArrayList<>(), labels = new ArrayList<>();
      for (Completion c : completions.subList(from, Math.min(out.length, from + BATCH))) {
        List<Message> messages = new ArrayList<>(c.prompt());
        messages.add(new Message(Role.ASSISTANT, c.text()));
        Encoded e = template.encode(Conversation.of(messages));
        ids.add(e.inputIds());
        labels.add(e.labels());
      }
      double[] s = head.scores(model.lastHiddenStates(Batch.packed(ids, labels)));
      System.arraycopy(s, 0, out, from, s.length);
    }
    return out;
  }

  /** Conversations scored per forward pass (packed, so memory grows with their total length). */
  static final int BATCH = 16;

  @Override
  public void close() {
    head.close();
    tokenizer.close();
    model.close();
  }
}
