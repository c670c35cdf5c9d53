package jswift.bench;

import java.util.Arrays;
import java.util.List;
import jswift.model.Batch;
import jswift.model.CausalLM;
import jswift.nn.Parameter;
import jswift.tensor.Kernels;
import jswift.train.AdamW;
import jswift.train.GraphedMicroSteps;
import jswift.tuner.LoraConfig;
import jswift.tuner.LoraTuner;

/**
 * The timed LoRA SFT step the whole-model training benchmarks share ({@link SftStepBench} on the CPU,
 * {@link QloraStepBench} on the GPU), mirroring their Python peers: LoRA of the given rank and alpha, dropout 0.05, on all
 * linear layers, one {@code seq}-token row with every token labelled, forward + backward + AdamW (clip 1.0, lr 1e-4);
 * the median of {@code steps} steps after 2 warm-up steps. Optionally the same step again from a captured graph
 * ({@link GraphedMicroSteps}, the trainer's {@code --cuda_graphs}), timed the same way.
 */
final class LoraStepTimer {
  /**
   * The median step time, the last step's loss, the profiled steps' per-op table (null without them), and the
   * median step time replayed from a graph (NaN without graphed steps); the device's peak memory (bytes) after the
   * eager steps and after the graphed ones.
   */
  record Timing(double medianSeconds, double loss, String profile, double graphMedianSeconds, long eagerPeakBytes,
      long graphPeakBytes) {}

  private LoraStepTimer() {}

  static Timing run(CausalLM m, int rank, int alpha, int seq, int steps) {
    return run(m, rank, alpha, seq, steps, 0, 0);
  }

  /**
   * As {@link #run(CausalLM, int, int, int, int)}, then {@code profiledSteps} more steps under the per-op profiler
   * ({@link Kernels#profileStart}), whose table goes to stderr; they are not part of the timing. Then, if
   * {@code graphedSteps > 0}, that many more steps replayed from a graph after 2 warm-ups (one eager, one captured).
   */
  static Timing run(CausalLM m, int rank, int alpha, int seq, int steps, int profiledSteps, int graphedSteps) {
    List<Parameter> trainable = LoraTuner.apply(m, "default", LoraConfig.defaults().withR(rank).withLoraAlpha(alpha)
        .withLoraDropout(0.05).withTargetModules(List.of("all-linear")), 42);
    int vocab = m.config().vocabSize();
    int[] ids = new int[seq];
    for (int i = 0; i < seq; i++) ids[i] = (1000 + i * 7919) % vocab;
    Batch batch = Batch.packed(List.of(ids), List.of(ids));
    double[] seconds = new double[steps];
    double loss = 0, graphMedian = Double.NaN;
    long eagerPeak = 0;
    String profile = null;
    try (AdamW opt = new AdamW(trainable, 0.9f, 0.999f, 1e-8f, 0.1f, 1f)) {
      for (int s = -2; s < steps + profiledSteps; s++) {
        if (s == steps) Kernels.profileStart();
        long t0 = System.nanoTime();
        loss = m.forwardBackward(batch, s + 2);
        opt.step(1e-4f);
        Kernels.synchronize(m.device());  // the GPU's queued work belongs to this step
        double took = (System.nanoTime() - t0) / 1e9;
        if (s >= 0 && s < steps) seconds[s] = took;
        // progress on stderr: on a lease, a run cut short still shows how far it got
        String kind = s < 0 ? "warm-up" : s < steps ? "timed" : "profiled";
        System.err.printf("%s step %d: %.3f s, loss %.4f%n", kind, s < 0 ? s + 3 : s < steps ? s + 1 : s - steps + 1,
            took, loss);
      }
      if (profiledSteps > 0) {
        String label = profiledSteps + " LoRA training steps (seq " + seq + ")";
        profile = Kernels.profileTable(label);
        Kernels.profileStop(label);
      }
      eagerPeak = Kernels.memoryStats(m.device())[2];
      if (graphedSteps > 0) {
        double[] graphed = new double[graphedSteps];
        java.io.PrintWriter err = new java.io.PrintWriter(System.err, true);
        try (GraphedMicroSteps g = new GraphedMicroSteps(m, seq, seq, err)) {
          for (int s = -2; s < graphedSteps; s++) {
            long t0 = System.nanoTime();
            loss = g.forwardBackward(batch, 42, s + 3, batch.targetWeight());
            opt.enqueueStepAndZeroGrad(1e-4f);  // the update from a graph too (and the gradients zeroed)
            Kernels.synchronize(m.device());
            double took = (System.nanoTime() - t0) / 1e9;
            if (s >= 0) graphed[s] = took;
            System.err.printf("graph %s step %d: %.3f s, loss %.4f%n", s < 0 ? "warm-up" : "timed", s < 0 ? s + 3 : s + 1,
                took, loss);
          }
          if (g.replays() < graphedSteps) System.err.println("!! the graphed steps ran eagerly (see above)");
        }
        Arrays.sort(graphed);
        graphMedian = graphed[graphedSteps / 2];
      }
    }
    Arrays.sort(seconds);
    return new Timing(seconds[steps / 2], loss, profile, graphMedian, eagerPeak, Kernels.memoryStats(m.device())[2]);
  }
}
