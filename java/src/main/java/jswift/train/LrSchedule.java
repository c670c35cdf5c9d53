package jswift.train;

/**
 * Learning-rate schedules of transformers' {@code get_scheduler}, with linear warmup: {@code cosine} (half a
 * cosine from the peak to 0), {@code linear} (straight to 0) and {@code constant}. Steps count from 1 (the rate of
 * the first optimizer step is the rate at step 0 of transformers' LambdaLR, which it applies before stepping).
 */
public final class LrSchedule {
  private final String type;
  private final double peak;
  private final long warmup;
  private final long total;

  public LrSchedule(String type, double peak, long warmupSteps, long totalSteps) {
    if (!type.equals("cosine") && !type.equals("linear") && !type.equals("constant"))
      throw new IllegalArgumentException("lr_scheduler_type '" + type + "' is not supported (cosine, linear, constant)");
    if (totalSteps <= 0) throw new IllegalArgumentException("the run has no steps (total_steps " + totalSteps + ")");
    this.type = type;
    this.peak = peak;
    this.warmup = Math.max(0, warmupSteps);
    this.total = totalSteps;
  }

  /** Warmup steps from warmup_steps, else warmup_ratio of the total (rounded up, as transformers does). */
  public static long warmupSteps(long warmupSteps, double warmupRatio, long total) {
    return warmupSteps > 0 ? warmupSteps : (long) Math.ceil(warmupRatio * total);
  }

  /** The rate for optimizer step {@code step} (1-based). */
  public double rate(long step) {
    long s = step - 1;  // LambdaLR's current step when the optimizer steps
    if (s < warmup) return peak * (double) s / Math.max(1, warmup);
    switch (type) {
      case "constant":
        return peak;
      case "linear":
        return peak * Math.max(0.0, (double) (total - s) / Math.max(1, total - warmup));
      default:
        double progress = (double) (s - warmup) / Math.max(1, total - warmup);
        return peak * Math.max(0.0, 0.5 * (1.0 + Math.cos(Math.PI * progress)));
    }
  }
}
