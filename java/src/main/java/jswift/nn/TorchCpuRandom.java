package jswift.nn;

/**
 * torch's CPU generator, bit for bit, for the few draws whose exact values make a checkpoint portable: an MT19937
 * seeded as {@code torch.Generator().manual_seed(seed)} seeds it (the low 32 bits), and {@code Tensor.uniform_(from,
 * to, generator=g)} of a float32 tensor, which draws one 32-bit output per element in memory order and maps its low
 * 24 bits to [from, to) (x = k / 2^24 in double, then x (to - from) + from with float bounds, rounded to float). PEFT draws VeRA's shared projections this way
 * ({@code _kaiming_init} with {@code projection_prng_key}), so jswift's VeRA projections are PEFT's and an adapter
 * saved without them (save_projection=False) can be rebuilt.
 */
public final class TorchCpuRandom {
  private static final int N = 624, M = 397;
  private final int[] state = new int[N];
  private int next = N;

  public TorchCpuRandom(long seed) {
    state[0] = (int) seed;  // torch's mt19937 keeps the low 32 bits
    for (int i = 1; i < N; i++) state[i] = 1812433253 * (state[i - 1] ^ (state[i - 1] >>> 30)) + i;
  }

  /** The next 32-bit output (as an unsigned value in a long). */
  public long nextUint32() {
    if (next == N) twist();
    int y = state[next++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y & 0xffffffffL;
  }

  private void twist() {
    for (int i = 0; i < N; i++) {
      int y = (state[i] & 0x80000000) | (state[(i + 1) % N] & 0x7fffffff);
      state[i] = state[(i + M) % N] ^ (y >>> 1) ^ ((y & 1) != 0 ? 0x9908b0df : 0);
    }
    next = 0;
  }

  /**
   * The first {@code count} values of {@code torch.randperm(n, generator=g)} (int64, on the CPU): torch's
   * Fisher-Yates, which swaps entry i with entry i + (next 32-bit output mod (n - i)) for i = 0, 1, ...; entry i is
   * final after step i, so only the first {@code count} steps are taken and the displaced entries kept in a map.
   * PEFT's FourierFT draws its spectral locations this way ({@code random_loc_seed}). Beyond 2^32 / 20 entries
   * torch switches to another algorithm (64-bit draws), which is refused here.
   */
  public long[] randpermPrefix(long n, int count) {
    if (n >= RANDPERM_32BIT_LIMIT)
      throw new IllegalArgumentException("randperm of " + n + " entries: torch draws permutations of 2^32 / 20 = "
          + RANDPERM_32BIT_LIMIT + " or more entries with 64-bit outputs, which jswift does not reproduce");
    if (count < 0 || count > n) throw new IllegalArgumentException("randperm prefix of " + count + " from " + n);
    java.util.Map<Long, Long> moved = new java.util.HashMap<>();
    long[] out = new long[count];
    for (int i = 0; i < count; i++) {
      if (i == n - 1) {  // torch stops at n - 2: the last entry stays where the swaps left it
        out[i] = moved.getOrDefault((long) i, (long) i);
        break;
      }
      long j = i + nextUint32() % (n - i);
      long vi = moved.getOrDefault((long) i, (long) i), vj = moved.getOrDefault(j, j);
      out[i] = vj;
      moved.put(j, vi);
      moved.remove((long) i);
    }
    return out;
  }

  /** torch's randperm takes 32-bit draws below this many entries (std::numeric_limits<uint32_t>::max() / 20). */
  public static final long RANDPERM_32BIT_LIMIT = 0xffffffffL / 20;

  /** {@code torch.empty(n).uniform_(from, to, generator=g)} for float32: from + u (to - from), u = k / 2^24. */
  public float[] uniform(int n, double from, double to) {
    float f = (float) from, t = (float) to, span = t - f;
    float[] out = new float[n];
    for (int i = 0; i < n; i++) {
      // torch: x = (bits & (2^24 - 1)) / 2^24 in the distribution's accumulate type (double), x (to - from) + from
      double x = (nextUint32() & 0xffffff) * 0x1p-24;
      out[i] = (float) (x * span + f);
    }
    return out;
  }
}
