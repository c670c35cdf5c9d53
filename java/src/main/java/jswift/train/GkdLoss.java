package jswift.train;

/**
 * Generalized knowledge distillation (Agarwal et al. 2024, GKD; TRL's GKDTrainer, ms-swift's {@code --rlhf_type gkd}):
 * at every labelled token the student's next-token distribution s = softmax(z / T) is pulled towards the teacher's
 * t = softmax(z_teacher / T) by the generalised Jensen-Shannon divergence with mixture m = (1 - beta) s + beta t:
 * JSD_beta = beta KL(t || m) + (1 - beta) KL(s || m); beta 0 is the forward KL(t || s), beta 1 the reverse KL(s || t),
 * as TRL special-cases them. The loss is the mean over the step's labelled tokens.
 *
 * <p>Gradients in closed form, so no autograd is needed: with g_i = dL/ds_i, dL/dz_j = s_j (g_j - sum_i s_i g_i) / T,
 * where g_i = (1 - beta)(log s_i - log m_i) for the mixture (the terms in t cancel), log s_i - log t_i + 1 for the
 * reverse KL, and for the forward KL dL/dz = (s - t) / T directly.
 */
final class GkdLoss {
  private GkdLoss() {}

  /**
   * The divergence of one token's student logits from the teacher's (each {@code vocab} long, starting at
   * {@code studentAt} / {@code teacherAt}), with its gradient times {@code weight} added to {@code grad} (at
   * {@code studentAt}; null: no gradient): returns the divergence (unweighted).
   */
  static double row(float[] student, int studentAt, float[] teacher, int teacherAt, int vocab, double beta,
      double temperature, float[] grad, double weight) {
    double[] ls = logSoftmax(student, studentAt, vocab, temperature), lt = logSoftmax(teacher, teacherAt, vocab, temperature);
    double loss = 0;
    double[] g = new double[vocab];
    if (beta == 0) {  // KL(t || s)
      for (int i = 0; i < vocab; i++) {
        double t = Math.exp(lt[i]);
        if (t > 0) loss += t * (lt[i] - ls[i]);
        if (grad != null) grad[studentAt + i] += (float) (weight * (Math.exp(ls[i]) - t) / temperature);
      }
      return loss;
    }
    for (int i = 0; i < vocab; i++) {
      double s = Math.exp(ls[i]), t = Math.exp(lt[i]);
      if (beta == 1) {  // KL(s || t)
        if (s > 0) loss += s * (ls[i] - lt[i]);
        g[i] = ls[i] - lt[i] + 1;
      } else {
        double lm = logSumExp(ls[i] + Math.log1p(-beta), lt[i] + Math.log(beta));
        if (t > 0) loss += beta * t * (lt[i] - lm);
        if (s > 0) loss += (1 - beta) * s * (ls[i] - lm);
        g[i] = (1 - beta) * (ls[i] - lm);
      }
    }
    if (grad == null) return loss;
    double mean = 0;
    for (int i = 0; i < vocab; i++) mean += Math.exp(ls[i]) * g[i];
    for (int i = 0; i < vocab; i++)
      grad[studentAt + i] += (float) (weight * Math.exp(ls[i]) * (g[i] - mean) / temperature);
    return loss;
  }

  private static double[] logSoftmax(float[] z, int at, int n, double temperature) {
    double max = Double.NEGATIVE_INFINITY;
    for (int i = 0; i < n; i++) max = Math.max(max, z[at + i] / temperature);
    double sum = 0;
    for (int i = 0; i < n; i++) sum += Math.exp(z[at + i] / temperature - max);
    double lse = max + Math.log(sum);
    double[] out = new double[n];
    for (int i = 0; i < n; i++) out[i] = z[at + i] / temperature - lse;
    return out;
  }

  private static double logSumExp(double a, double b) {
    double m = Math.max(a, b);
    return m == Double.NEGATIVE_INFINITY ? m : m + Math.log(Math.exp(a - m) + Math.exp(b - m));
  }
}
