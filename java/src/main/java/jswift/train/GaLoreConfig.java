package jswift.train;

import java.util.ArrayList;
import java.util.List;
import jswift.nn.Parameter;

/**
 * GaLore's settings (ms-swift's {@code --use_galore} flags: {@code galore_rank} 128, {@code galore_update_proj_gap}
 * 50, {@code galore_scale} 1.0, {@code galore_proj_type} std, {@code galore_target_modules}, {@code
 * galore_with_embedding}) and the rules that pick the weights it projects.
 *
 * <p>As ms-swift builds its GaLore param group: a weight is projected when its module name (the parameter name
 * without {@code .weight}) contains one of the target keys. With no keys given, the targets are every linear layer
 * of the decoder (ms-swift's {@code find_all_linears}, which leaves the output head out): here, the 2-D weights
 * under {@code .layers.}, where the only 2-D weights are the attention and MLP projections. {@code
 * galore_with_embedding} adds the embedding. Only 2-D weights are ever projected; the rest (norms, biases, the
 * head unless targeted) get plain AdamW.
 */
public record GaLoreConfig(int rank, int updateProjGap, float scale, List<String> targetModules, boolean withEmbedding) {
  public GaLoreConfig {
    if (rank <= 0) throw new IllegalArgumentException("--galore_rank must be > 0, got " + rank);
    if (updateProjGap <= 0)
      throw new IllegalArgumentException("--galore_update_proj_gap must be > 0, got " + updateProjGap);
    if (!(scale > 0) || Float.isInfinite(scale))
      throw new IllegalArgumentException("--galore_scale must be a positive number, got " + scale);
    targetModules = targetModules == null ? List.of() : List.copyOf(targetModules);
  }

  /** True when GaLore projects this weight's gradient. */
  public boolean targets(Parameter p) {
    if (p.value().rank() != 2) return false;
    String module = p.name().endsWith(".weight") ? p.name().substring(0, p.name().length() - 7) : p.name();
    if (withEmbedding && module.endsWith("embed_tokens")) return true;
    if (targetModules.isEmpty()) return module.contains(".layers.");
    for (String key : targetModules) if (module.contains(key)) return true;
    return false;
  }

  /** The projected weights among {@code params}, in their order. */
  public List<Parameter> select(List<Parameter> params) {
    List<Parameter> out = new ArrayList<>();
    for (Parameter p : params) if (targets(p)) out.add(p);
    return out;
  }

  /** The rank actually used for an m x n weight: galore-torch slices the top {@code rank} vectors of at most min(m, n). */
  public int effectiveRank(long m, long n) {
    return (int) Math.min(rank, Math.min(m, n));
  }

  /**
   * The shape of the projected gradient and of its Adam moments: "std" projects the smaller side, so a tall or
   * square weight (m >= n) keeps [m, r] (right projection, P = Vh[:r] is [r, n]) and a wide one [r, n] (left
   * projection, P = U[:, :r] is [m, r]).
   */
  public long[] lowRankShape(long m, long n) {
    int r = effectiveRank(m, n);
    return m >= n ? new long[] {m, r} : new long[] {r, n};
  }

  /** The projector's shape for an m x n weight. */
  public long[] projectorShape(long m, long n) {
    int r = effectiveRank(m, n);
    return m >= n ? new long[] {r, n} : new long[] {m, r};
  }

  /**
   * fp32 bytes of GaLore's optimizer state for an m x n weight: two low-rank moments and the projector (full AdamW
   * keeps 2 m n floats).
   */
  public long stateBytes(long m, long n) {
    long[] low = lowRankShape(m, n), proj = projectorShape(m, n);
    return 4L * (2 * low[0] * low[1] + proj[0] * proj[1]);
  }
}
