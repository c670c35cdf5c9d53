package jswift.train;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import jswift.data.Row;
import jswift.infer.ChatCompletion;
import jswift.infer.GenerationConfig;
import jswift.model.Batch;
import jswift.model.CausalLM;
import jswift.template.ConversationEncoder;
import jswift.template.Message;
import jswift.tokenizer.Tokenizer;

/**
 * One GRPO step's data: the prompts' completions sampled from the policy (the model with its adapter, no dropout),
 * scored by the reward functions, turned into advantages ({@link GrpoLoss}), then into micro-batches of
 * prompt + completion sequences (only the completion labelled) whose per-token cross-entropy weights make the
 * ordinary weighted backward the GRPO gradient.
 */
final class GrpoStep {
  /** The run's GRPO settings ({@code jswift rlhf --rlhf_type grpo}). */
  record Settings(int numGenerations, int maxCompletionLength, float temperature, int topK, float topP,
      float repetitionPenalty, double beta, GrpoLoss.Normalization normalization, boolean scaleRewards,
      List<RewardFunction> rewards, double[] rewardWeights, int numIterations, GrpoLoss.Clip clip) {}

  private final CausalLM model;
  private final Tokenizer tokenizer;
  private final ConversationEncoder template;
  private final Settings s;
  private final String adapter;  // the trained adapter (null: full training), active while sampling
  private final ReferenceModel reference;  // the KL term's reference; null when beta is 0
  private final Path completionsLog;  // --log_completions: completions.jsonl of the run, or null
  private long skippedTooLong;

  GrpoStep(CausalLM model, Tokenizer tokenizer, ConversationEncoder template, Settings s, String adapter,
      ReferenceModel reference, Path completionsLog) {
    if (s.beta() > 0 && reference == null)
      throw new IllegalArgumentException("GRPO's KL term (--beta " + s.beta() + ") needs a reference model");
    if (s.rewardWeights().length != s.rewards().size())
      throw new IllegalArgumentException("--reward_weights has " + s.rewardWeights().length + " weights for "
          + s.rewards().size() + " --reward_funcs");
    this.model = model;
    this.tokenizer = tokenizer;
    this.template = template;
    this.s = s;
    this.adapter = adapter;
    this.reference = reference;
    this.completionsLog = completionsLog;
  }

  /** Prompts whose encoding was longer than max_length, skipped. */
  long skippedTooLong() {
    return skippedTooLong;
  }

  /** The next {@code count} prompts of the stream (prompts over max_length are skipped and counted). */
  List<RowPrompt> nextPrompts(SampleStream rows, int count) {
    return RowPrompt.next(rows, count, template, () -> skippedTooLong++);
  }

  /** The row's prompt ({@link RowPrompt}), or null (counted) when it is longer than max_length. */
  RowPrompt encode(Row row) {
    RowPrompt p = RowPrompt.encode(row, template);
    if (p == null) skippedTooLong++;
    return p;
  }

  /** One sampled completion, scored. */
  record Sample(RowPrompt prompt, ChatCompletion.Choice choice, double[] rewards, double reward) {}

  /**
   * A generation: the samples (groups of num_generations per prompt, in order), their advantages and loss weights,
   * and (num_iterations > 1) the sampling policy's per-token log-probabilities of each micro-batch of
   * {@code perBatch} completions, against which later iterations' ratios are taken (null: ratio 1).
   */
  record Rollout(List<Sample> samples, GrpoLoss.Advantages advantages, double[] completionWeights, int perBatch,
      float[][] oldLogProbs) {
    Rollout(List<Sample> samples, GrpoLoss.Advantages advantages, double[] completionWeights) {
      this(samples, advantages, completionWeights, 0, null);
    }

    int tokens(int i) {
      return samples.get(i).choice().tokens().length;
    }
  }

  /**
   * Samples num_generations completions of each prompt (completion j of prompt p seeded seed + p * G + j) and scores
   * them; with num_iterations > 1 also records the sampling policy's log-probabilities for micro-batches of
   * {@code perBatch} completions (0: not needed, as for evaluation).
   */
  Rollout rollout(List<RowPrompt> prompts, long seed, int perBatch) {
    List<ChatCompletion.Request> requests = new ArrayList<>();
    int g = s.numGenerations();
    for (int p = 0; p < prompts.size(); p++) {
      GenerationConfig gen = new GenerationConfig(s.maxCompletionLength(), s.temperature() > 0,
          s.temperature() > 0 ? s.temperature() : 1f, s.topK(), s.topP(), s.repetitionPenalty(), seed + (long) p * g,
          tokenizer.eosTokenIds(), List.of());
      requests.add(new ChatCompletion.Request(prompts.get(p).encoded(), gen, g, null));
    }
    model.setActiveAdapter(adapter);
    List<ChatCompletion.Result> results = ChatCompletion.generate(model, tokenizer, requests);
    List<RewardFunction.Completion> completions = new ArrayList<>();
    for (int p = 0; p < prompts.size(); p++) {
      RowPrompt prompt = prompts.get(p);
      List<Message> promptMessages = prompt.messages();
      for (ChatCompletion.Choice c : results.get(p).choices())
        completions.add(new RewardFunction.Completion(c.text(), c.tokens().length,
            c.finishReason() == ChatCompletion.FinishReason.LENGTH, promptMessages, prompt.row().extras()));
    }
    double[][] byFunction = new double[s.rewards().size()][];
    for (int f = 0; f < byFunction.length; f++) {
      RewardFunction fn = s.rewards().get(f);
      try {
        byFunction[f] = fn.rewards(completions);
      } catch (RewardFunction.Failure e) {
        throw new IllegalArgumentException(prompts.get(e.index() / g).row().location() + ": reward " + fn.name() + ": "
            + e.getMessage(), e);
      } catch (RuntimeException e) {
        throw new IllegalArgumentException("reward " + fn.name() + ": " + e.getMessage(), e);
      }
    }
    List<Sample> samples = new ArrayList<>();
    double[] total = new double[completions.size()];
    int[] tokens = new int[total.length];
    for (int i = 0; i < total.length; i++) {
      ChatCompletion.Choice c = results.get(i / g).choices().get(i % g);
      double[] r = new double[byFunction.length];
      double sum = 0;
      for (int f = 0; f < r.length; f++) {
        r[f] = byFunction[f][i];
        if (!Double.isNaN(r[f])) sum += s.rewardWeights()[f] * r[f];  // NaN: no reward from this function
      }
      total[i] = sum;
      tokens[i] = c.tokens().length;
      samples.add(new Sample(prompts.get(i / g), c, r, sum));
    }
    Rollout r = new Rollout(samples, GrpoLoss.advantages(total, g, s.scaleRewards()),
        GrpoLoss.completionWeights(tokens, s.normalization(), s.maxCompletionLength()));
    if (s.numIterations() <= 1 || perBatch <= 0) return r;
    float[][] old = new float[(samples.size() + perBatch - 1) / perBatch][];
    for (int i = 0; i < old.length; i++)
      old[i] = model.targetLogProbs(batch(r, i * perBatch, Math.min(samples.size(), (i + 1) * perBatch)),
          logitTemperature());
    return new Rollout(r.samples(), r.advantages(), r.completionWeights(), perBatch, old);
  }

  /** Completions [from, to) of the rollout as one packed batch: prompt (unlabelled) + completion (labelled). */
  static Batch batch(Rollout r, int from, int to) {
    List<int[]> prompts = new ArrayList<>(), answers = new ArrayList<>();
    for (int i = from; i < to; i++) {
      prompts.add(r.samples().get(i).prompt().encoded().inputIds());
      answers.add(r.samples().get(i).choice().tokens());
    }
    return Batch.promptsAndAnswers(prompts, answers);
  }

  /**
   * A micro-batch's part of the step: its loss, its summed KL, its completion tokens and how many of them were
   * clipped, and the weighted batch to backward.
   */
  record Scored(double loss, double klSum, int tokens, int clipped, Batch weighted) {}

  /**
   * The loss terms of completions [from, to) of the rollout and the batch weighted for their gradient; the policy's
   * and (beta > 0) the reference's per-token log-probabilities are computed here, without dropout.
   */
  Scored score(Rollout r, int from, int to) {
    Batch b = batch(r, from, to);
    float[] logp = null, ref = null, old = r.oldLogProbs() == null ? null : r.oldLogProbs()[from / r.perBatch()];
    if (s.beta() > 0) ref = reference.targetLogProbs(b, logitTemperature());
    if (s.beta() > 0 || old != null) logp = model.targetLogProbs(b, logitTemperature());
    return score(r, from, b, logp, ref, old, s.beta(), s.clip());
  }

  /**
   * The arithmetic of {@link #score(Rollout, int, int)} on given per-token log-probabilities: the policy's (null when
   * neither beta nor a ratio needs it), the reference's (null when beta is 0) and the sampling policy's (null: ratio 1).
   */
  static Scored score(Rollout r, int from, Batch b, float[] logp, float[] ref, float[] old, double beta,
      GrpoLoss.Clip clip) {
    float[] w = new float[b.tokens()];
    double loss = 0, kl = 0;
    int tokens = 0, clipped = 0;
    for (int q = 0; q < b.sequences(); q++) {
      int i = from + q;
      double a = r.advantages().advantage()[i], si = r.completionWeights()[i];
      for (int t = b.sequenceStart(q); t < b.sequenceEnd(q); t++) {
        if (b.target(t) == Batch.IGNORE) continue;
        double lp = logp == null ? 0 : logp[t], rf = ref == null ? 0 : ref[t];
        double ratio = old == null ? 1 : Math.exp(lp - old[t]);
        w[t] = (float) GrpoLoss.tokenWeight(si, a, beta, lp, rf, ratio, clip);
        loss += GrpoLoss.tokenLoss(si, a, beta, lp, rf, ratio, clip);
        if (clip != null && clip.clipped(ratio, a)) clipped++;
        if (beta > 0) kl += GrpoLoss.kl(lp, rf);
        tokens++;
      }
    }
    return new Scored(loss, kl, tokens, clipped, b.withTargetWeights(w));
  }

  /** The step's reward metrics into the log, as TRL names them. */
  void logMetrics(TrainingLog log, Rollout r) {
    int n = r.samples().size(), g = s.numGenerations();
    double reward = 0, length = 0, clipped = 0;
    double[] perFunction = new double[s.rewards().size()];
    int[] perFunctionCount = new int[perFunction.length];
    for (Sample x : r.samples()) {
      reward += x.reward();
      length += x.choice().tokens().length;
      if (x.choice().finishReason() == ChatCompletion.FinishReason.LENGTH) clipped++;
      for (int f = 0; f < perFunction.length; f++) {
        if (Double.isNaN(x.rewards()[f])) continue;
        perFunction[f] += x.rewards()[f];
        perFunctionCount[f]++;
      }
    }
    double std = 0, zeroStd = 0;
    for (double sd : r.advantages().groupStd()) {
      std += sd;
      if (sd == 0) zeroStd++;
    }
    log.metric("reward", reward / n);
    log.metric("reward_std", std / (n / g));
    for (int f = 0; f < perFunction.length; f++)
      if (perFunctionCount[f] > 0) log.metric("rewards/" + s.rewards().get(f).name() + "/mean", perFunction[f] / perFunctionCount[f]);
    log.metric("frac_reward_zero_std", zeroStd / (n / g));
    log.metric("completions/mean_length", length / n);
    log.metric("completions/clipped_ratio", clipped / n);
  }

  /** --log_completions: each completion of the step with its rewards and advantage, appended to completions.jsonl. */
  void logCompletions(long step, Rollout r) throws IOException {
    if (completionsLog == null) return;
    try (BufferedWriter out = Files.newBufferedWriter(completionsLog, StandardCharsets.UTF_8, StandardOpenOption.CREATE,
        StandardOpenOption.APPEND)) {
      for (int i = 0; i < r.samples().size(); i++) {
        Sample x = r.samples().get(i);
        ObjectNode n = TrainingLog.JSON.createObjectNode();
        n.put("step", step);
        n.set("prompt", x.prompt().messagesJson());  // the dataset's own answer is not what was asked
        n.put("completion", x.choice().text());
        ObjectNode rewards = n.putObject("rewards");
        for (int f = 0; f < x.rewards().length; f++) {
          if (Double.isNaN(x.rewards()[f])) rewards.putNull(s.rewards().get(f).name());  // no reward: JSON has no NaN
          else rewards.put(s.rewards().get(f).name(), x.rewards()[f]);
        }
        n.put("reward", x.reward());
        n.put("advantage", r.advantages().advantage()[i]);
        out.write(TrainingLog.JSON.writeValueAsString(n));
        out.write('\n');
      }
    }
  }

  double beta() {
    return s.beta();
  }

  /**
   * The temperature the policy's, the old policy's and the reference's log-probabilities (and the loss's gradient)
   * are taken at: the sampling temperature, as TRL divides the logits by it ("the N implementation details of RLHF
   * with PPO"); 1 for greedy sampling.
   */
  float logitTemperature() {
    return s.temperature() > 0 ? s.temperature() : 1f;
  }
}
