package jswift.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.module.SimpleModule;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.ser.std.ToStringSerializer;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import jswift.tensor.Device;
import jswift.tensor.Kernels;

/**
 * The run's record: {@code logging.jsonl} (one JSON object per logged step or evaluation, ms-swift's keys: loss,
 * grad_norm, learning_rate, epoch, global_step/max_steps, ...), and a progress line on the console with step,
 * loss, learning rate, tokens/s, memory and ETA. Losses are averaged over the steps since the last log line.
 */
final class TrainingLog implements AutoCloseable {
  static final ObjectMapper JSON = new ObjectMapper().registerModule(
      new SimpleModule().addSerializer(Path.class, ToStringSerializer.instance));

  private final BufferedWriter out;
  private final PrintWriter console;
  private final long totalSteps;
  private final int every;
  private final long start = System.nanoTime();
  private double lossSum;
  private int lossCount;
  private long tokens;
  private long correctTargets, countedTargets;  // the window's token accuracy
  private long windowStart = System.nanoTime();
  final List<ObjectNode> history = new ArrayList<>();

  TrainingLog(Path runDir, PrintWriter console, long totalSteps, int every) throws IOException {
    this.out = Files.newBufferedWriter(runDir.resolve("logging.jsonl"), StandardCharsets.UTF_8,
        StandardOpenOption.CREATE, StandardOpenOption.APPEND);
    this.console = console;
    this.totalSteps = totalSteps;
    this.every = Math.max(1, every);
  }

  /** args.json, written atomically. */
  static void writeArgs(Path file, TrainArguments args) throws IOException {
    Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
    // ms-swift's names (snake_case, as its args.json and its load_args read them): lora_rank, train_type, ...
    JSON.copy().setPropertyNamingStrategy(com.fasterxml.jackson.databind.PropertyNamingStrategies.SNAKE_CASE)
        .enable(SerializationFeature.INDENT_OUTPUT).writeValue(tmp.toFile(), args);
    Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
  }

  /** Whether {@link #step} writes a record for this step (the others only add to the window's averages). */
  boolean writes(long step) {
    return step % every == 0 || step == totalSteps || step == 1;
  }

  /**
   * A training step: its loss, gradient norm (-1: not read), learning rate, epoch progress, tokens, and its
   * token accuracy as {correct, targets} (targets whose logits' argmax is the target). Written every
   * logging_steps steps as the window's means (token_acc: correct over targets of the window).
   */
  private final java.util.Map<String, double[]> extra = new java.util.LinkedHashMap<>();  // name -> {sum, count}

  /** Step metrics beyond the loss (DPO's rewards/...): averaged over the logging window, written with the step. */
  void metric(String name, double value) {
    double[] a = extra.computeIfAbsent(name, k -> new double[2]);
    a[0] += value;
    a[1]++;
  }

  void step(long step, double loss, float gradNorm, double lr, double epoch, int stepTokens, long[] tokenAccuracy,
      Device device) throws IOException {
    lossSum += loss;
    lossCount++;
    tokens += stepTokens;
    correctTargets += tokenAccuracy[0];
    countedTargets += tokenAccuracy[1];
    if (!writes(step)) return;
    double seconds = (System.nanoTime() - windowStart) / 1e9, elapsed = (System.nanoTime() - start) / 1e9;
    ObjectNode n = JSON.createObjectNode();
    n.put("loss", round(lossSum / lossCount));
    if (countedTargets > 0) n.put("token_acc", round((double) correctTargets / countedTargets));
    if (gradNorm >= 0) n.put("grad_norm", round(gradNorm));
    n.put("learning_rate", lr);
    n.put("epoch", round(epoch));
    n.put("global_step/max_steps", step + "/" + totalSteps);
    n.put("percentage", String.format("%.2f%%", 100.0 * step / totalSteps));
    n.put("elapsed_time", duration(elapsed));
    n.put("remaining_time", duration(elapsed / step * (totalSteps - step)));
    n.put("tokens/s", round(tokens / Math.max(seconds, 1e-9)));
    long[] mem = Kernels.memoryStats(device);
    n.put("memory(GiB)", round(mem[2] / 1073741824.0));
    StringBuilder more = new StringBuilder();
    for (java.util.Map.Entry<String, double[]> e : extra.entrySet()) {
      if (e.getValue()[1] == 0) continue;  // not measured in this window (KTO: a window of one class only)
      double mean = e.getValue()[0] / e.getValue()[1];
      n.put(e.getKey(), round(mean));
      more.append(String.format("  %s %.4f", e.getKey().replaceFirst("^(rewards|completions)/", ""), mean));
      e.getValue()[0] = e.getValue()[1] = 0;  // the entry stays: metrics keep the order they first came in
    }
    write(n);
    console.printf("step %d/%d  loss %.4f%s  lr %.2e  %.0f tok/s  mem %.2f GiB  ETA %s%n", step, totalSteps,
        lossSum / lossCount, more, lr, tokens / Math.max(seconds, 1e-9), mem[2] / 1073741824.0,
        duration(elapsed / step * (totalSteps - step)));
    console.flush();
    lossSum = 0;
    lossCount = 0;
    tokens = 0;
    correctTargets = 0;
    countedTargets = 0;
    windowStart = System.nanoTime();
  }

  // The last evaluation's metric for the best checkpoint (transformers' metric_for_best_model: eval_loss, lower is
  // better; GRPO's eval_reward, higher is better) and its step.
  private long evalStep = -1;
  private double evalMetric;
  private boolean greaterIsBetter;

  private String metricForBest;   // --metric_for_best_model as logged (eval_acc, ...); null: the evaluation's own
  private Boolean greaterOverride;  // --greater_is_better; null: transformers' default for the metric
  private long evaluations, sinceImprovement;  // for --early_stop_interval
  private Double bestSoFar;

  /**
   * transformers' metric_for_best_model ("acc" is read as "eval_acc") and greater_is_better (null: false for a loss,
   * true otherwise, as transformers defaults it); a null metric keeps each evaluation's own (eval_loss, GRPO's
   * eval_reward).
   */
  void bestBy(String metric, Boolean greater) {
    metricForBest = metric == null ? null : metric.startsWith("eval_") ? metric : "eval_" + metric;
    greaterOverride = greater;
  }

  /**
   * Records an evaluation's metric for the best checkpoint: the configured one, read from the evaluation's logged
   * values {@code n}, or else {@code metric} (its own, better when {@code greater}).
   */
  private void evaluated(long step, double metric, boolean greater, ObjectNode n) {
    if (metricForBest != null) {
      if (!n.has(metricForBest)) {
        java.util.List<String> names = new java.util.ArrayList<>();
        n.fieldNames().forEachRemaining(f -> { if (f.startsWith("eval_")) names.add(f.substring(5)); });
        throw new IllegalArgumentException("--metric_for_best_model " + metricForBest.substring(5) + ": this run's "
            + "evaluation logs " + names + "; pick one of them");
      }
      metric = n.get(metricForBest).asDouble();
      greater = greaterOverride != null ? greaterOverride : !metricForBest.endsWith("loss");
    } else if (greaterOverride != null) {
      greater = greaterOverride;
    }
    evalStep = step;
    evalMetric = metric;
    greaterIsBetter = greater;
    evaluations++;
    if (bestSoFar == null || (greater ? metric > bestSoFar : metric < bestSoFar)) {
      bestSoFar = metric;
      sinceImprovement = 0;
    } else {
      sinceImprovement++;
    }
  }

  /** Evaluations in a row since the metric last improved (0 right after an improvement). */
  long evaluationsWithoutImprovement() {
    return sinceImprovement;
  }

  /** The metric of an evaluation at {@code step}, or null when there was none at that step. */
  Double evalMetricAt(long step) {
    return evalStep == step ? evalMetric : null;
  }

  /** Whether a larger evaluation metric is better (GRPO's reward) rather than a smaller one (a loss). */
  boolean greaterIsBetter() {
    return greaterIsBetter;
  }

  void eval(long step, double loss, double tokenAcc) throws IOException {
    eval(step, loss, tokenAcc, java.util.Map.of());
  }

  /** sft's evaluation, with further metrics (--predict_with_generate's eval_rouge-l, ...) after the loss's. */
  void eval(long step, double loss, double tokenAcc, java.util.Map<String, Double> more) throws IOException {
    ObjectNode n = JSON.createObjectNode();
    n.put("eval_loss", round(loss));
    n.put("eval_token_acc", round(tokenAcc));
    StringBuilder shown = new StringBuilder();
    for (java.util.Map.Entry<String, Double> e : more.entrySet()) {
      n.put(e.getKey(), round(e.getValue()));
      shown.append(String.format(", %s %.4f", e.getKey().replace("eval_", ""), e.getValue()));
    }
    n.put("global_step/max_steps", step + "/" + totalSteps);
    evaluated(step, loss, false, n);
    write(n);
    console.printf("eval at step %d: loss %.4f, token accuracy %.4f%s%n", step, loss, tokenAcc, shown);
  }

  /** A preference run's evaluation (rlhf): the loss and the reward accuracy and margin over the pairs. */
  void evalPreference(long step, double loss, double accuracy, double margin) throws IOException {
    ObjectNode n = JSON.createObjectNode();
    n.put("eval_loss", round(loss));
    n.put("eval_rewards/accuracies", round(accuracy));
    n.put("eval_rewards/margins", round(margin));
    n.put("global_step/max_steps", step + "/" + totalSteps);
    evaluated(step, loss, false, n);
    write(n);
    console.printf("eval at step %d: loss %.4f, reward accuracy %.4f, margin %.4f%n", step, loss, accuracy, margin);
  }

  /** An evaluation's metrics (GRPO's eval_reward; KTO's eval_loss and eval_rewards/...), in order. */
  void evalMetrics(long step, java.util.Map<String, Double> metrics) throws IOException {
    ObjectNode n = JSON.createObjectNode();
    StringBuilder shown = new StringBuilder();
    for (java.util.Map.Entry<String, Double> e : metrics.entrySet()) {
      n.put(e.getKey(), round(e.getValue()));
      shown.append(shown.length() == 0 ? "" : ", ").append(e.getKey().replace("eval_", "")).append(' ')
          .append(String.format("%.4f", e.getValue()));
    }
    n.put("global_step/max_steps", step + "/" + totalSteps);
    if (metrics.containsKey("eval_loss")) evaluated(step, metrics.get("eval_loss"), false, n);
    else if (metrics.containsKey("eval_reward")) evaluated(step, metrics.get("eval_reward"), true, n);
    write(n);
    console.printf("eval at step %d: %s%n", step, shown);
  }

  /** A --report_memory record: the split of the peak memory, in logging.jsonl (bytes) and on the console. */
  void memory(long step, MemoryReport r) throws IOException {
    ObjectNode n = JSON.createObjectNode();
    r.fields().forEach(n::put);
    n.put("global_step/max_steps", step + "/" + totalSteps);
    write(n);
    console.println("step " + step + " " + r.describe());
    console.flush();
  }

  void event(long step, String message) throws IOException {
    ObjectNode n = JSON.createObjectNode();
    n.put("event", message);
    n.put("global_step/max_steps", step + "/" + totalSteps);
    write(n);
    console.println("step " + step + ": " + message);
  }

  private void write(ObjectNode n) throws IOException {
    history.add(n);
    out.write(JSON.writeValueAsString(n));
    out.write('\n');
    out.flush();
  }

  private static double round(double v) {
    return Math.round(v * 1e8) / 1e8;
  }

  static String duration(double seconds) {
    long s = Math.round(seconds);
    return s >= 3600 ? String.format("%dh%02dm%02ds", s / 3600, s / 60 % 60, s % 60)
        : s >= 60 ? String.format("%dm%02ds", s / 60, s % 60) : s + "s";
  }

  @Override
  public void close() throws IOException {
    out.close();
  }
}
