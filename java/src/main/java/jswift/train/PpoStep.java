package jswift.train;

import java.util.ArrayList;
import java.util.List;
import jswift.infer.ChatCompletion;
import jswift.infer.GenerationConfig;
import jswift.model.Batch;
import jswift.model.CausalLM;
import jswift.template.ConversationEncoder;
import jswift.tokenizer.Tokenizer;

/**
 * One PPO update ({@code jswift rlhf --rlhf_type ppo}, TRL's PPOTrainer loop as ms-swift runs it): the policy answers
 * the update's prompts (one response each), the reference, the value model and the reward model read the responses,
 * {@link PpoLoss} turns that into advantages and returns, then num_ppo_epochs passes over the responses in shuffled
 * mini-batches, each an optimizer step of the policy's clipped surrogate plus vf_coef times the value model's
 * clipped value loss (one optimizer over both models' trained parameters). As TRL does, no dropout anywhere (the
 * trainer gives both adapters lora_dropout 0).
 */
final class PpoStep {
  /** The run's PPO settings. */
  record Settings(PpoLoss.Settings loss, int numPpoEpochs, int numMiniBatches, int perMicroBatch,
      int responseLength, float temperature, int topK, float topP, float repetitionPenalty) {}

  private final CausalLM policy;
  private final Tokenizer tokenizer;
  private final ConversationEncoder template;
  private final Settings s;
  private final String adapter;
  private final ReferenceModel reference;
  private final RewardModelScorer reward;
  private final ValueModel value;
  private long skippedTooLong;

  PpoStep(CausalLM policy, Tokenizer tokenizer, ConversationEncoder template, Settings s, String adapter,
      ReferenceModel reference, RewardModelScorer reward, ValueModel value) {
    this.policy = policy;
    this.tokenizer = tokenizer;
    this.template = template;
    this.s = s;
    this.adapter = adapter;
    this.reference = reference;
    this.reward = reward;
    this.value = value;
  }

  long skippedTooLong() {
    return skippedTooLong;
  }

  /** The next {@code count} prompts of the stream (prompts over max_length are skipped and counted). */
  List<RowPrompt> nextPrompts(SampleStream rows, int count) {
    return RowPrompt.next(rows, count, template, () -> skippedTooLong++);
  }

  /** A response: its prompt, its tokens and whether a stop token ended it. */
  record Response(RowPrompt prompt, ChatCompletion.Choice choice) {}

  /** An update's data: the responses and what {@link PpoLoss} made of them. */
  record Rollout(List<Response> responses, List<PpoLoss.Sample> samples, PpoLoss.Rollout values) {}

  /** Samples one response a prompt (prompt p seeded seed + p) and scores everything the update needs. */
  Rollout rollout(List<RowPrompt> prompts, long seed) {
    List<ChatCompletion.Request> requests = new ArrayList<>();
    for (int p = 0; p < prompts.size(); p++) {
      GenerationConfig gen = new GenerationConfig(s.responseLength(), s.temperature() > 0,
          s.temperature() > 0 ? s.temperature() : 1f, s.topK(), s.topP(), s.repetitionPenalty(), seed + p,
          tokenizer.eosTokenIds(), List.of());
      requests.add(new ChatCompletion.Request(prompts.get(p).encoded(), gen, 1, null));
    }
    policy.setActiveAdapter(adapter);
    List<ChatCompletion.Result> results = ChatCompletion.generate(policy, tokenizer, requests);
    List<Response> responses = new ArrayList<>();
    List<RewardFunction.Completion> completions = new ArrayList<>();
    int gen = 0;
    for (int p = 0; p < prompts.size(); p++) {
      ChatCompletion.Choice c = results.get(p).choices().get(0);
      if (c.tokens().length == 0)  // an empty answer still needs a position to carry the score
        throw new IllegalStateException("the policy sampled an empty response to " + prompts.get(p).row().location());
      responses.add(new Response(prompts.get(p), c));
      gen = Math.max(gen, c.tokens().length);
      completions.add(new RewardFunction.Completion(c.text(), c.tokens().length,
          c.finishReason() == ChatCompletion.FinishReason.LENGTH, prompts.get(p).messages(), prompts.get(p).row().extras()));
    }
    double[] scores = reward.rewards(completions);
    List<PpoLoss.Sample> samples = new ArrayList<>();
    for (int from = 0; from < responses.size(); from += s.perMicroBatch()) {
      int to = Math.min(responses.size(), from + s.perMicroBatch());
      Batch b = batch(responses, from, to);
      float[] logp = policy.targetLogProbs(b, logitTemperature());
      float[] ref = reference.targetLogProbs(b, logitTemperature());
      int[] rows = valueRows(b, responses, from, to, gen);
      double[] v = value.values(b, rows);
      int k = 0;
      for (int q = 0; q < to - from; q++) {
        Response r = responses.get(from + q);
        int length = r.choice().tokens().length, first = responseRow(b, q, r);
        float[] lp = new float[length], rf = new float[length];
        for (int t = 0; t < length; t++) {
          lp[t] = logp[first + t];
          rf[t] = ref[first + t];
        }
        float[] vals = new float[PpoLoss.valuePositions(length, gen)];
        for (int t = 0; t < vals.length; t++) vals[t] = (float) v[k++];
        samples.add(new PpoLoss.Sample(length, lp, rf, vals, scores[from + q],
            r.choice().finishReason() == ChatCompletion.FinishReason.STOP));
      }
    }
    return new Rollout(responses, samples, PpoLoss.rollout(samples, s.loss()));
  }

  /** The row of the batch that predicts response q's first token (its prompt's last token). */
  private static int responseRow(Batch b, int q, Response r) {
    return b.sequenceStart(q) + r.prompt().encoded().inputIds().length - 1;
  }

  /** The rows whose hidden states give the values of responses [from, to): positions 0 .. min(L, G - 1). */
  private static int[] valueRows(Batch b, List<Response> responses, int from, int to, int gen) {
    List<Integer> rows = new ArrayList<>();
    for (int q = 0; q < to - from; q++) {
      Response r = responses.get(from + q);
      int first = responseRow(b, q, r);
      for (int t = 0; t < PpoLoss.valuePositions(r.choice().tokens().length, gen); t++) rows.add(first + t);
    }
    return rows.stream().mapToInt(Integer::intValue).toArray();
  }

  /** Responses [from, to) as one packed batch: prompt (unlabelled) + response (labelled). */
  static Batch batch(List<Response> responses, int from, int to) {
    List<int[]> prompts = new ArrayList<>(), answers = new ArrayList<>();
    for (int i = from; i < to; i++) {
      prompts.add(responses.get(i).prompt().encoded().inputIds());
      answers.add(responses.get(i).choice().tokens());
    }
    return Batch.promptsAndAnswers(prompts, answers);
  }

  /** What one update measured, TRL's names. */
  record Metrics(double loss, double policyLoss, double valueLoss, double policyClipFrac, double valueClipFrac,
      double approxKl) {}

  /**
   * The update's num_ppo_epochs passes: each shuffles the responses (seeded by {@code seed} and the epoch), cuts them
   * into num_mini_batches mini-batches and runs {@code optimizerStep} after each; a mini-batch's gradient is the
   * mean of its micro-batches' (per_device_train_batch_size responses each).
   */
  Metrics update(Rollout r, long seed, Runnable optimizerStep) {
    int n = r.responses().size(), perMini = n / s.numMiniBatches();
    double loss = 0, pgLoss = 0, vfLoss = 0, pgClip = 0, vfClip = 0, approxKl = 0;
    int micro = 0;
    for (int epoch = 0; epoch < s.numPpoEpochs(); epoch++) {
      List<Integer> order = new ArrayList<>();
      for (int i = 0; i < n; i++) order.add(i);
      java.util.Collections.shuffle(order, new java.util.Random(seed * 31 + epoch));
      for (int m = 0; m < s.numMiniBatches(); m++) {
        List<Integer> mini = order.subList(m * perMini, (m + 1) * perMini);
        int micros = (mini.size() + s.perMicroBatch() - 1) / s.perMicroBatch();
        for (int from = 0; from < mini.size(); from += s.perMicroBatch()) {
          double[] d = microStep(r, mini.subList(from, Math.min(mini.size(), from + s.perMicroBatch())), micros, seed);
          loss += d[0] + s.loss().vfCoef() * d[1];
          pgLoss += d[0];
          vfLoss += d[1];
          pgClip += d[2];
          vfClip += d[3];
          approxKl += d[4];
          micro++;
        }
        optimizerStep.run();
      }
    }
    return new Metrics(loss / micro, pgLoss / micro, vfLoss / micro, pgClip / micro, vfClip / micro, approxKl / micro);
  }

  /**
   * One micro-batch's backward into both models, its gradient scaled by 1 / {@code micros}; returns its policy loss,
   * value loss, clipped fractions (policy, value) and approximate KL (0.5 mean (logp - logp_old)^2).
   */
  private double[] microStep(Rollout r, List<Integer> which, int micros, long seed) {
    List<Response> picked = new ArrayList<>();
    List<PpoLoss.Sample> samples = new ArrayList<>();
    for (int i : which) {
      picked.add(r.responses().get(i));
      samples.add(r.samples().get(i));
    }
    int gen = r.values().gen();
    Batch b = batch(picked, 0, picked.size());
    // the policy: its current log-probabilities give the ratios, then the weighted cross-entropy backward
    policy.setActiveAdapter(adapter);
    float[] logp = policy.targetLogProbs(b, logitTemperature());
    int count = 0;
    for (PpoLoss.Sample x : samples) count += x.length();
    float[] w = new float[b.tokens()];
    double pg = 0, clipped = 0, kl = 0;
    GrpoLoss.Clip clip = PpoLoss.clip(s.loss());
    for (int q = 0; q < picked.size(); q++) {
      int i = which.get(q), first = responseRow(b, q, picked.get(q));
      PpoLoss.Sample x = samples.get(q);
      for (int t = 0; t < x.length(); t++) {
        double lp = logp[first + t], old = x.logprobs()[t], a = r.values().advantages()[i][t];
        double ratio = Math.exp(lp - old);
        w[first + t] = (float) (GrpoLoss.tokenWeight(1.0 / count, a, 0, lp, 0, ratio, clip) / micros);
        pg += GrpoLoss.tokenLoss(1.0 / count, a, 0, lp, 0, ratio, clip);
        if (clip.clipped(ratio, a)) clipped++;
        kl += 0.5 * (lp - old) * (lp - old);
      }
    }
    policy.forwardBackward(b.withTargetWeights(w), seed, 1.0, logitTemperature());
    // the value model: 0.5 vf_coef mean over the value positions of the clipped squared error, and its gradient
    int[] rows = valueRows(b, picked, 0, picked.size(), gen);
    double[] vf = new double[2];
    value.forwardBackward(b, seed, rows, vpred -> {
      double[] g = new double[vpred.length];
      int k = 0;
      for (int q = 0; q < picked.size(); q++) {
        int i = which.get(q);
        for (int t = 0; t < PpoLoss.valuePositions(samples.get(q).length(), gen); t++, k++) {
          double[] term = PpoLoss.valueTerm(vpred[k], r.values().values()[i][t], r.values().returns()[i][t],
              s.loss().cliprangeValue());
          vf[0] += term[0];
          vf[1] += term[2];
          g[k] = term[1];
        }
      }
      for (int j = 0; j < g.length; j++) g[j] *= 0.5 * s.loss().vfCoef() / g.length / micros;
      return g;
    });
    return new double[] {pg, 0.5 * vf[0] / rows.length, clipped / count, vf[1] / rows.length, kl / count};
  }

  /** The rollout's reward metrics into the log, as TRL names them. */
  void logMetrics(TrainingLog log, Rollout r, Metrics m) {
    int n = r.responses().size();
    double score = 0, kl = 0, nonScore = 0, length = 0, eos = 0;
    for (int i = 0; i < n; i++) {
      score += r.values().scores()[i];
      kl += r.values().klSum()[i];
      nonScore += r.values().nonScoreReward()[i];
      length += r.samples().get(i).length();
      if (r.samples().get(i).stopped()) eos++;
    }
    log.metric("objective/scores", score / n);
    log.metric("objective/kl", kl / n);
    log.metric("objective/non_score_reward", nonScore / n);
    log.metric("objective/rlhf_reward", (score + nonScore) / n);
    log.metric("policy/approxkl_avg", m.approxKl());
    log.metric("policy/clipfrac_avg", m.policyClipFrac());
    log.metric("loss/policy_avg", m.policyLoss());
    log.metric("loss/value_avg", m.valueLoss());
    log.metric("val/clipfrac_avg", m.valueClipFrac());
    log.metric("val/num_eos_tokens", eos);
    log.metric("completions/mean_length", length / n);
  }

  /** The temperature log-probabilities are taken at: the sampling one (TRL divides the logits by it); 1 if greedy. */
  float logitTemperature() {
    return s.temperature() > 0 ? s.temperature() : 1f;
  }
}
