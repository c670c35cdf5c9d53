package jswift.tuner;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;

/**
 * The LoRA initialisations that move the adapter's starting point out of the base weight, as PEFT 0.21's
 * {@code pissa_init} / {@code olora_init} compute them (fp32, W [out, in]):
 * <ul>
 *   <li>{@code pissa}: W = U S V^T (thin SVD), S_r = S[:r] / s, A = diag(sqrt(S_r)) V^T[:r] [r, in],
 *       B = U[:, :r] diag(sqrt(S_r)) [out, r];
 *   <li>{@code pissa_niter_N}: the same from torch.svd_lowrank(W, r, niter=N), a randomized approximation;
 *   <li>{@code olora}: W = Q R (thin QR), B = Q[:, :r], A = R[:r] (no rescaling);
 * </ul>
 * and in every case the frozen base becomes W_res = W - s B A, so the model still computes W at step 0.
 *
 * <p>Because the trained A, B are relative to W_res, the adapter alone does not fit the original base. ms-swift
 * therefore saves the initial A0, B0 once ({@code <run>/initial_model}, with init_lora_weights true) and, next to
 * every checkpoint, {@code checkpoint-K/converted/default}: PEFT's {@code save_pretrained(...,
 * path_initial_model_for_weight_conversion=...)} output, a plain rank-2r LoRA with A' = [A; A0], B' = [B, -B0]
 * and alpha doubled (x sqrt 2 with rsLoRA) so the scale is unchanged, giving W + s B' A' = W_res + s B A.
 * {@link #forOriginalBase} picks that folder when such a checkpoint is loaded onto the original base.
 */
public final class ResidualInit {
  /** ms-swift's names: the run-level folder with A0, B0, and the converted adapter inside a checkpoint. */
  public static final String INITIAL_MODEL = "initial_model";
  public static final Path CONVERTED = Path.of("converted", "default");

  private ResidualInit() {}

  /** The factors of one layer: A [r, in], B [out, r], and the residual base W - s B A [out, in], all fp32. */
  record Factors(float[] a, float[] b, float[] residual) {}

  /** Whether init_lora_weights (a config value) is one of the base-changing methods jswift computes. */
  static boolean supported(String init) {
    return init.equals("pissa") || init.equals("olora") || niter(init) >= 0;
  }

  /**
   * Whether an adapter with this init_lora_weights is relative to a changed base (PEFT's list of methods
   * convertible with path_initial_model_for_weight_conversion: PiSSA, CorDA, OLoRA, LoRA-GA).
   */
  public static boolean changesBase(JsonNode init) {
    if (init == null || !init.isTextual()) return false;
    String s = init.asText().toLowerCase(java.util.Locale.ROOT);
    return s.startsWith("pissa") || s.startsWith("olora") || s.startsWith("corda") || s.startsWith("lora_ga")
        || s.startsWith("lora-ga");
  }

  /** N of pissa_niter_N (PEFT: split on "_niter_", an int after it), or -1. */
  static int niter(String init) {
    String[] parts = init.split("_niter_", -1);
    if (parts.length != 2 || !parts[0].equals("pissa")) return -1;
    try {
      int n = Integer.parseInt(parts[1]);
      return n >= 0 ? n : -1;
    } catch (NumberFormatException e) {
      return -1;
    }
  }

  /** A, B and W_res for one [out, in] weight. {@code rng} drives pissa_niter_N's random sketch only. */
  static Factors compute(String init, float[] w, int out, int in, int r, double scale, SplittableRandom rng) {
    if (r > Math.min(out, in))
      throw new IllegalArgumentException("init_weights " + init + " takes the top r=" + r + " components of a [" + out
          + ", " + in + "] weight, which has only " + Math.min(out, in) + "; lower --lora_rank");
    float[] a = new float[r * in], b = new float[out * r];
    if (init.equals("olora")) {
      Factorizations.Qr qr = Factorizations.qr(w, out, in);
      for (int i = 0; i < out; i++) System.arraycopy(qr.q(), i * qr.k(), b, i * r, r);
      System.arraycopy(qr.r(), 0, a, 0, r * in);
    } else {
      int n = niter(init);
      Factorizations.Svd svd = init.equals("pissa") ? Factorizations.svd(w, out, in)
          : Factorizations.svdLowRank(w, out, in, r, n, rng);
      for (int j = 0; j < r; j++) {
        // fp32 as PEFT: Sr /= scaling, then sqrt.
        float root = (float) Math.sqrt((float) (svd.s()[j] / (float) scale));
        for (int c = 0; c < in; c++) a[j * in + c] = root * svd.vt()[j * in + c];
        for (int i = 0; i < out; i++) b[i * r + j] = svd.u()[i * svd.k() + j] * root;
      }
    }
    float[] ba = Factorizations.product(b, out, r, a, in);
    float[] residual = new float[w.length];
    for (int i = 0; i < w.length; i++) residual[i] = (float) (w[i] - scale * ba[i]);
    return new Factors(a, b, residual);
  }

  /**
   * The adapter folder to apply to the ORIGINAL base model: {@code dir} itself for an ordinary adapter; for one
   * trained from a base-changing init, its {@code converted/default} folder (ms-swift and jswift write it beside
   * every such checkpoint). Without that folder the adapter cannot be applied to the original weights, which is
   * an error naming the way out.
   */
  public static Path forOriginalBase(Path dir) throws IOException {
    if (SwiftAdapterFolder.isSwiftTuner(dir)) return dir;  // ms-swift's own tuners: relative to the base as it is
    LoraConfig c = LoraConfig.read(dir);
    JsonNode init = c.fields().get("init_lora_weights");
    if (!changesBase(init)) return dir;
    Path converted = dir.resolve(CONVERTED);
    if (Files.exists(converted.resolve(LoraConfig.FILE))) return converted;
    throw new IOException(dir.resolve(LoraConfig.FILE) + ": init_lora_weights=" + init + " means the adapter's"
        + " lora_A / lora_B are relative to the residual base W - s B0 A0, not to the original weights, and " + dir
        + " has no " + CONVERTED + " folder with the plain-LoRA conversion (ms-swift and jswift write one beside"
        + " every checkpoint). Convert it with PEFT: save_pretrained(..., path_initial_model_for_weight_conversion="
        + "<the run's initial_model>)");
  }
}
