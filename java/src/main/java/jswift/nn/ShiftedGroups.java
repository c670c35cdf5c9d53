package jswift.nn;

import java.util.Arrays;
import jswift.tensor.Arena;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Kernels;
import jswift.tensor.Tensor;

/**
 * LongLoRA's shifted sparse attention (S²-Attn, arXiv 2309.12307), as ms-swift trains {@code --train_type
 * longlora}: during training the first half of the attention heads attend causally only within groups of
 * {@code g} tokens (positions [0, g), [g, 2g), ...), the second half within groups shifted by g/2 ([0, g/2),
 * [g/2, 3g/2), ...), so information still flows between neighbouring groups. Inference attends in full.
 *
 * <p>The groups run from each sequence's start and stop at its end (ms-swift's flash-attention path; its
 * eager path rolls the shifted half instead, which wraps a sequence's first tokens round to its end). Padding
 * runs form groups of their own, so no real token sees a padding key whichever side the padding is on.
 *
 * <p>On the device the two halves become one packed batch for the flash kernels: a token's query (key, value)
 * row [heads, dim] is two rows of [heads / 2, dim], so gathering rows 0, 2, 4, ... then 1, 3, 5, ... (one
 * embedding gather) lays out every token's first half, then every token's second half, and the groups are the
 * packed sequences of that layout. Query head i of a half reads kv head i / (heads / kvHeads) of the same
 * half, as in the full layout, when kvHeads is even.
 */
public final class ShiftedGroups {
  /** ms-swift's group_size_ratio: a group is a quarter of --max_length. */
  public static final double GROUP_SIZE_RATIO = 0.25;

  private final Tensor toGrouped, fromGrouped, cuSeqlens;
  private final long longest;

  private ShiftedGroups(Tensor toGrouped, Tensor fromGrouped, Tensor cuSeqlens, long longest) {
    this.toGrouped = toGrouped;
    this.fromGrouped = fromGrouped;
    this.cuSeqlens = cuSeqlens;
    this.longest = longest;
  }

  /** The group size for a --max_length: int(maxLength * ratio) as ms-swift computes it, at least 1. */
  public static int groupSize(int maxLength) {
    return Math.max(1, (int) (maxLength * GROUP_SIZE_RATIO));
  }

  /**
   * The plan on the host: {@code cu} the packed-sequence offsets of the grouped layout (2 * tokens rows), and
   * the two row permutations between it and the full layout viewed as [2 * tokens, heads / 2 * dim].
   */
  record Plan(int[] cu, int longest, int[] toGrouped, int[] fromGrouped) {}

  /**
   * Groups of a batch of {@code tokens} tokens: padded rows of {@code seqLen} (keyMask [rows * seqLen], 0 =
   * padding, or null) or packed sequences ({@code cuSeqlens}, keyMask null).
   */
  static Plan plan(int tokens, long seqLen, int[] keyMask, int[] cuSeqlens, int groupSize) {
    if (groupSize < 1) throw new IllegalArgumentException("S2-Attn: the group size must be >= 1, got " + groupSize);
    int[] runs = runs(tokens, seqLen, keyMask, cuSeqlens);
    int[] cu = new int[2 * tokens + 1];
    int count = 0, longest = 0, half = groupSize / 2;
    for (int shifted = 0; shifted < 2; shifted++) {
      int offset = shifted * tokens;
      for (int r = 0; r + 1 < runs.length; r++) {
        int start = runs[r], end = runs[r + 1];
        int first = shifted == 1 && half > 0 ? Math.min(end, start + half) : Math.min(end, start + groupSize);
        for (int s = start, e = first; s < end; s = e, e = Math.min(end, e + groupSize)) {
          cu[count++] = offset + s;
          longest = Math.max(longest, e - s);
        }
      }
    }
    cu[count] = 2 * tokens;
    int[] to = new int[2 * tokens], from = new int[2 * tokens];
    for (int t = 0; t < tokens; t++) {
      to[t] = 2 * t;  // the first half of token t's heads
      to[tokens + t] = 2 * t + 1;  // its second half
      from[2 * t] = t;
      from[2 * t + 1] = tokens + t;
    }
    return new Plan(Arrays.copyOf(cu, count + 1), longest, to, from);
  }

  /** The boundaries of the batch's runs: each packed sequence, or each stretch of real (or padding) tokens. */
  private static int[] runs(int tokens, long seqLen, int[] keyMask, int[] cuSeqlens) {
    if (cuSeqlens != null) return cuSeqlens;
    int[] out = new int[tokens + 1];
    int count = 0;
    for (int t = 0; t < tokens; t++) {
      boolean rowStart = t % seqLen == 0;
      if (rowStart || (keyMask != null && (keyMask[t] != 0) != (keyMask[t - 1] != 0))) out[count++] = t;
    }
    out[count++] = tokens;
    return Arrays.copyOf(out, count);
  }

  /** Uploads the plan of a batch to the device (tensors in {@code a}). */
  public static ShiftedGroups create(Arena a, Device device, int tokens, long seqLen, int[] keyMask, int[] cuSeqlens,
      int groupSize) {
    Plan p = plan(tokens, seqLen, keyMask, cuSeqlens, groupSize);
    return new ShiftedGroups(upload(a, device, p.toGrouped()), upload(a, device, p.fromGrouped()),
        upload(a, device, p.cu()), p.longest());
  }

  private static Tensor upload(Arena a, Device device, int[] v) {
    Tensor t = a.allocate(DType.I32, device, v.length);
    t.copyFrom(v);
    return t;
  }

  /** The packed-sequence offsets of the grouped layout, for the flash kernels. */
  public Tensor cuSeqlens() {
    return cuSeqlens;
  }

  /** The longest group (the kernels' seqLen). */
  public long longest() {
    return longest;
  }

  /** x [tokens, heads, dim] (heads even) -> [2 * tokens, heads / 2, dim]: first halves, then second halves. */
  public Tensor group(Arena a, Tensor x) {
    return move(a, x, toGrouped, x.size(0) * 2, x.size(1) / 2, x.size(2));
  }

  /** The inverse of {@link #group}: [2 * tokens, heads / 2, dim] -> [tokens, heads, dim]. */
  public Tensor ungroup(Arena a, Tensor grouped) {
    return move(a, grouped, fromGrouped, grouped.size(0) / 2, grouped.size(1) * 2, grouped.size(2));
  }

  private static Tensor move(Arena a, Tensor x, Tensor rows, long outRows, long outHeads, long dim) {
    long halfRow = x.numel() / rows.size(0);
    Tensor out = a.allocate(x.dtype(), x.device(), outRows, outHeads, dim);
    Kernels.embeddingForward(rows, x.view(rows.size(0), halfRow), out.view(rows.size(0), halfRow));
    return out;
  }
}
