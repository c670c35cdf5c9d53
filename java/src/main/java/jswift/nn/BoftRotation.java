package jswift.nn;

import java.util.SplittableRandom;
import jswift.tensor.Arena;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Tensor;

/**
 * The trained part of a BOFT adapter on one linear layer (PEFT's BOFT {@code Linear}, arXiv 2311.06243): the
 * orthogonal rotation R of the layer's input and a scale s of its outputs, y = s ⊙ (x R W^T) + b.
 *
 * <p>R = M_{N-1} ... M_1 M_0 is a product of N butterfly factors M_i = P_i diag(Q_i,0 .. Q_i,D-1) P_i^T: D
 * orthogonal blocks of size H (D H = in), each the Cayley transform Q = (I - S)(I + S)^-1 of S = (A - A^T) / 2 for
 * a trained A (PEFT's {@code boft_R} [N, D, H, H], zeros at the start, so R = I), and P_i the fixed permutation
 * of PEFT's {@code block_butterfly_perm}, which pairs the blocks of factor i at distance 2^i so that the product
 * mixes every input with every other (P_0 = I: one factor is OFT's block-diagonal rotation). s is PEFT's
 * {@code boft_s} [out, 1], ones at the start, kept here as f32 [out].
 *
 * <p>Multiplicative dropout (boft_dropout p): in a training forward, one factor chosen at random has int(p D) of
 * its blocks, chosen at random, replaced by the identity (PEFT's {@code MultiplicativeDropoutLayer}). The draw
 * comes from the layer's dropout seed and the device's dropout step, so a resumed run draws what it would have.
 */
public final class BoftRotation implements AutoCloseable {
  private final Parameter blocks;  // boft_R, f32 [factors, blockCount, blockSize, blockSize]
  private final Parameter scale;   // boft_s, f32 [out]
  private final Tensor[] permInv;  // per factor, i32 [in] (the inverse of PEFT's permutation), null for the identity
  private final int factors, blockCount, blockSize;
  private final float dropout;

  /**
   * A rotation from its trained tensors: {@code blocks} f32 [N, D, H, H] with D H = {@code in}, {@code scale} f32
   * [out]. The permutations follow from N, D and H; they are built on the blocks' device.
   */
  public BoftRotation(Parameter blocks, Parameter scale, long in, float dropout) {
    Tensor r = blocks.value(), s = scale.value();
    if (r.dtype() != DType.F32 || r.rank() != 4 || r.size(2) != r.size(3) || r.size(1) * r.size(2) != in)
      throw new IllegalArgumentException(blocks.name() + " must be float32 [factors, blocks, size, size] with blocks"
          + " x size = the layer's " + in + " inputs, got " + r);
    if (s.dtype() != DType.F32 || s.rank() != 1)
      throw new IllegalArgumentException(scale.name() + " must be a float32 vector (one scale per output), got " + s);
    if (dropout < 0 || dropout >= 1) throw new IllegalArgumentException("boft_dropout must be in [0, 1), got " + dropout);
    this.blocks = blocks;
    this.scale = scale;
    this.factors = (int) r.size(0);
    this.blockCount = (int) r.size(1);
    this.blockSize = (int) r.size(2);
    this.dropout = dropout;
    checkButterfly(in, blockSize, factors, blocks.name());
    this.permInv = new Tensor[factors];
    try {
      for (int i = 1; i < factors; i++) {  // factor 0's permutation is the identity
        int[] perm = butterflyPermutation((int) in, blockCount >> i, blockSize / 2);
        int[] inv = new int[perm.length];
        for (int k = 0; k < perm.length; k++) inv[perm[k]] = k;
        permInv[i] = Tensor.fromInts(inv, r.device(), inv.length);
      }
    } catch (RuntimeException e) {
      for (Tensor t : permInv) if (t != null) t.close();
      throw e;
    }
  }

  /**
   * N, D and H for a layer with {@code in} inputs from PEFT's config (exactly one of blockSize and blockNum set,
   * nButterflyFactor >= 1), with PEFT's checks, which name {@code module} when they fail.
   */
  public static int[] shape(String module, long in, int blockSize, int blockNum, int nButterflyFactor) {
    int m = nButterflyFactor - 1;  // PEFT counts the factors beyond the first
    if (m < 0) throw new IllegalArgumentException("boft_n_butterfly_factor must be a positive integer, got "
        + nButterflyFactor);
    if ((blockSize == 0) == (blockNum == 0))
      throw new IllegalArgumentException("set exactly one of boft_block_size (" + blockSize + ") and boft_block_num ("
          + blockNum + ")");
    if (blockSize == 0) {
      if (in % blockNum != 0)
        throw new IllegalArgumentException(module + ": in_features (" + in + ") must be divisible by boft_block_num ("
            + blockNum + ")");
      if (m > 0 && (m > 31 - Integer.numberOfLeadingZeros(blockNum) || blockNum % (1 << m) != 0))
        throw new IllegalArgumentException(module + ": boft_block_num (" + blockNum + ") must be a multiple of 2^"
            + m + " for boft_n_butterfly_factor " + nButterflyFactor);
      blockSize = (int) (in / blockNum);
    } else {
      if (in % blockSize != 0)
        throw new IllegalArgumentException(module + ": in_features (" + in + ") must be divisible by boft_block_size ("
            + blockSize + "); choose a block size that divides every target's input width");
      if (m > 0 && (m > 30 || in % ((long) blockSize << m) != 0))
        throw new IllegalArgumentException(module + ": in_features (" + in + ") must be a multiple of boft_block_size"
            + " x 2^(boft_n_butterfly_factor - 1) = " + blockSize + " x 2^" + m);
      blockNum = (int) (in / blockSize);
    }
    if (m > 0 && (blockNum % 2 != 0 || blockSize % 2 != 0))
      throw new IllegalArgumentException(module + ": with butterfly factors, the block count (" + blockNum
          + ") and the block size (" + blockSize + ") must be even");
    return new int[] {m + 1, blockNum, blockSize};
  }

  private static void checkButterfly(long in, int h, int n, String name) {
    if (n > 1 && ((long) h << (n - 1) > in || in % ((long) h << (n - 1)) != 0 || h % 2 != 0))
      throw new IllegalArgumentException(name + ": " + n + " butterfly factors of blocks of " + h + " do not fit "
          + in + " inputs (in must be a multiple of size x 2^(factors - 1), and the size even)");
  }

  /**
   * PEFT's {@code block_butterfly_perm(n, b, r)}: split 0..n-1 into b chunks of n / b; within each chunk, take its
   * runs of r in the order of the even runs, then the odd ones. P[i][perm[i]] = 1.
   */
  static int[] butterflyPermutation(int n, int b, int r) {
    if ((long) b * r * 2 > n) throw new IllegalArgumentException("invalid number of butterfly blocks: " + b + " x "
        + r + " x 2 > " + n);
    int chunk = n / b, runs = chunk / r;
    int[] order = new int[chunk];
    int at = 0;
    for (int parity = 0; parity < 2; parity++)
      for (int run = parity; run < runs; run += 2)
        for (int k = 0; k < r; k++) order[at++] = run * r + k;
    int[] perm = new int[n];
    for (int c = 0; c < n; c += chunk)
      for (int k = 0; k < chunk; k++) perm[c + k] = c + order[k];
    return perm;
  }

  /**
   * BOFT's multiplicative dropout for one training forward: i32 [N D] flags (in {@code arena}) with int(p D) blocks
   * of one random factor set, or null when nothing is dropped.
   */
  Tensor dropoutFlags(Arena arena, long seed, long step, Device device) {
    int dropped = (int) (dropout * blockCount);
    if (dropped == 0) return null;
    SplittableRandom rng = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + step);
    int factor = rng.nextInt(factors);
    int[] order = new int[blockCount];
    for (int i = 0; i < blockCount; i++) order[i] = i;
    int[] flags = new int[factors * blockCount];
    for (int i = 0; i < dropped; i++) {  // a partial Fisher-Yates shuffle picks the dropped blocks
      int j = i + rng.nextInt(blockCount - i), t = order[i];
      order[i] = order[j];
      order[j] = t;
      flags[factor * blockCount + order[i]] = 1;
    }
    Tensor t = arena.allocate(DType.I32, device, flags.length);
    t.copyFrom(flags);
    return t;
  }

  /**
   * rows R^T for rows [m, in], as a new tensor: W R^T, the rotated weight of PEFT's merge (each row through
   * M_0^T, M_1^T, ..., since R^T = M_0^T ... M_{N-1}^T).
   */
  public Tensor rotateRows(Tensor rows) {
    try (Arena tmp = new Arena()) {
      Tensor q = tmp.allocate(DType.F32, rows.device(), blocks.value().shape());
      jswift.tensor.Kernels.boftCayley(blocks.value(), null, q);
      Tensor cur = rows;
      for (int i = 0; i < factors; i++) {
        Tensor next = i == factors - 1 ? Tensor.allocate(rows.dtype(), rows.device(), rows.shape())
            : tmp.allocate(rows.dtype(), rows.device(), rows.shape());
        jswift.tensor.Kernels.butterflyRotate(cur, permInv[i], factor(q, i), true, next);
        cur = next;
      }
      return cur;
    }
  }

  /** Factor i's blocks [D, H, H] of a [N, D, H, H] tensor (boft_R, its Cayley transform or their gradients). */
  Tensor factor(Tensor all, int i) {
    return all.narrow(i, 1).view(blockCount, blockSize, blockSize);
  }

  /** boft_R [N, D, H, H]. */
  public Parameter blocks() {
    return blocks;
  }

  /** boft_s as f32 [out]. */
  public Parameter scale() {
    return scale;
  }

  /** The inverse permutation of factor i (i32 [in]), null for the identity. */
  Tensor permInv(int factor) {
    return permInv[factor];
  }

  public int factors() {
    return factors;
  }

  public int blockCount() {
    return blockCount;
  }

  public int blockSize() {
    return blockSize;
  }

  public float dropout() {
    return dropout;
  }

  @Override
  public void close() {
    blocks.close();
    scale.close();
    for (Tensor t : permInv) if (t != null) t.close();
  }
}
