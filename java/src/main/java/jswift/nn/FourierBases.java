package jswift.nn;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Tensor;

/**
 * FourierFT's fixed spectral bases (arXiv 2405.03003; PEFT's {@code FourierFTLayer}). PEFT keeps n trained
 * coefficients c at n fixed locations (u_k, v_k) of an [out, in] spectrum and adds
 *
 * <pre>
 *   ΔW = Re(ifft2(S)) * scaling,   S[u_k, v_k] = c_k, zero elsewhere
 *   ΔW[p, q] = s Σ_k c_k cos(2π (u_k p / out + v_k q / in))     s = scaling / (out in)  (ifft2_norm "backward")
 *            = s Σ_k c_k (cos a_kp cos b_kq - sin a_kp sin b_kq)
 * </pre>
 *
 * So ΔW = s B diag([c; c]) A with the fixed A [2n, in] (rows cos b_k and sin b_k over the inputs) and B [out, 2n]
 * (columns cos a_k and -sin a_k over the outputs): a low-rank update of rank 2n whose middle diagonal is trained,
 * which {@link ScaledLoraLinear} computes without ever forming ΔW ({@link FourierLinear}). The locations are the
 * first n entries of {@code torch.randperm(out * in, generator=manual_seed(random_loc_seed))}, row-major
 * (u = index / in, v = index % in), drawn bit for bit as torch draws them ({@link TorchCpuRandom#randpermPrefix}),
 * so an adapter saved here (PEFT saves only the coefficients) loads in PEFT, and PEFT's load here.
 *
 * <p>A and B depend only on the layer's shape, n and the seed, so one pair serves every layer of that shape: the
 * model owns this cache (per adapter), the adapters borrow its tensors.
 */
public final class FourierBases implements SharedAdapterTensors {
  private final long seed;
  private final DType dtype;
  private final Device device;
  private final Map<String, Pair> pairs = new HashMap<>();

  /**
   * One shape's bases. For the rank-2n path: A [2n, in] and B [out, 2n]. For forming ΔW: B's columns repeat
   * wherever two locations share a row u, so ΔW = rowsB M with rowsB [out, 2U] the cosine / -sine columns of the U
   * distinct rows and M [2U, in] the coefficient-weighted rows of A summed per row (a scatter-add by
   * {@code groupIds}: k -> its row's index g_k, n + k -> U + g_k); and A^T [in, 2n] for that path's backward
   * (dd_k = Σ_q (G^T rowsB)[q, group k] A^T[q, k]).
   */
  public record Pair(Parameter a, Parameter b, Parameter aT, Parameter rowsB, Tensor groupIds, int distinctRows)
      implements AutoCloseable {
    @Override
    public void close() {
      a.close();
      b.close();
      aT.close();
      rowsB.close();
      groupIds.close();
    }
  }

  public FourierBases(long seed, DType dtype, Device device) {
    this.seed = seed;
    this.dtype = dtype;
    this.device = device;
  }

  /** The random_loc_seed these bases were drawn with. */
  public long seed() {
    return seed;
  }

  /** The bases of a layer of that shape, in the compute dtype (made once, then shared). */
  public Pair pair(long out, long in, int n) {
    return pairs.computeIfAbsent(out + "x" + in + "/" + n, key -> {
      long[] loc = locations(out, in, n, seed);
      float[][] ab = factors(out, in, loc);
      // the distinct rows u, in order of first use, and each location's index among them
      Map<Long, Integer> rowIndex = new java.util.LinkedHashMap<>();
      int[] ids = new int[2 * n];
      for (int k = 0; k < n; k++) ids[k] = rowIndex.computeIfAbsent(loc[k] / in, u -> rowIndex.size());
      int rows = rowIndex.size();
      for (int k = 0; k < n; k++) ids[n + k] = rows + ids[k];
      float[] rowsB = new float[(int) (out * 2 * rows)];
      for (Map.Entry<Long, Integer> e : rowIndex.entrySet())
        for (long p = 0; p < out; p++) {
          double angle = 2 * Math.PI * ((e.getKey() * p) % out) / out;
          rowsB[(int) (p * 2 * rows + e.getValue())] = (float) Math.cos(angle);
          rowsB[(int) (p * 2 * rows + rows + e.getValue())] = (float) -Math.sin(angle);
        }
      float[] aT = new float[ab[0].length];
      for (int k = 0; k < 2 * n; k++)
        for (long q = 0; q < in; q++) aT[(int) (q * 2 * n + k)] = ab[0][(int) (k * in + q)];
      List<AutoCloseable> made = new java.util.ArrayList<>();
      try {
        Parameter a = track(made, new Parameter("fourierft_basis_A[" + key + "]",
            Tensor.fromFloats(ab[0], dtype, device, 2L * n, in)));
        Parameter b = track(made, new Parameter("fourierft_basis_B[" + key + "]",
            Tensor.fromFloats(ab[1], dtype, device, out, 2L * n)));
        Parameter at = track(made, new Parameter("fourierft_basis_A^T[" + key + "]",
            Tensor.fromFloats(aT, dtype, device, in, 2L * n)));
        Parameter rb = track(made, new Parameter("fourierft_rows_B[" + key + "]",
            Tensor.fromFloats(rowsB, dtype, device, out, 2L * rows)));
        Tensor g = track(made, Tensor.fromInts(ids, device, 2L * n));
        return new Pair(a, b, at, rb, g, rows);
      } catch (RuntimeException e) {
        for (AutoCloseable c : made)
          try {
            c.close();
          } catch (Exception ignored) {
            // freeing what was made before the failure
          }
        throw e;
      }
    });
  }

  private static <T extends AutoCloseable> T track(List<AutoCloseable> made, T t) {
    made.add(t);
    return t;
  }

  /**
   * PEFT's spectral locations for an [out, in] layer: the first n of torch's randperm(out * in) from
   * {@code seed}, as row-major indices u * in + v. PEFT requires 0 < n < out * in.
   */
  public static long[] locations(long out, long in, int n, long seed) {
    checkShape(out, in, n);
    return new TorchCpuRandom(seed).randpermPrefix(out * in, n);
  }

  /**
   * Refuses what {@link #locations} cannot draw, without drawing: n outside [1, out in) (PEFT's rule), or a layer of
   * 2^32 / 20 entries or more (torch then draws with another algorithm).
   */
  public static void checkShape(long out, long in, int n) {
    long size = out * in;
    if (n <= 0 || n >= size)
      throw new IllegalArgumentException("n_frequency must be in [1, " + (size - 1) + "] for a [" + out + ", " + in
          + "] layer (fewer than its " + size + " entries, as PEFT requires), got " + n);
    if (size >= TorchCpuRandom.RANDPERM_32BIT_LIMIT)
      throw new IllegalArgumentException("a layer of " + size + " entries: torch draws permutations of 2^32 / 20 = "
          + TorchCpuRandom.RANDPERM_32BIT_LIMIT + " or more entries with 64-bit outputs, which jswift does not reproduce");
  }

  /**
   * A [2n, in] and B [out, 2n] (row-major floats) with s B diag([c; c]) A = ΔW for the given locations: row k of A
   * is cos(2π v_k q / in), row n + k sin(2π v_k q / in); column k of B is cos(2π u_k p / out), column n + k
   * -sin(2π u_k p / out). The angles are reduced exactly in integers ((u p) mod out) before the double cosine.
   */
  public static float[][] factors(long out, long in, long[] locations) {
    int n = locations.length;
    if (2L * n * Math.max(out, in) > Integer.MAX_VALUE)
      throw new IllegalArgumentException("FourierFT bases of 2 x " + n + " x " + Math.max(out, in)
          + " values are too large for one array");
    float[] a = new float[(int) (2L * n * in)], b = new float[(int) (out * 2L * n)];
    for (int k = 0; k < n; k++) {
      long u = locations[k] / in, v = locations[k] % in;
      for (long q = 0; q < in; q++) {
        double angle = 2 * Math.PI * ((v * q) % in) / in;
        a[(int) (k * in + q)] = (float) Math.cos(angle);
        a[(int) ((n + k) * in + q)] = (float) Math.sin(angle);
      }
      for (long p = 0; p < out; p++) {
        double angle = 2 * Math.PI * ((u * p) % out) / out;
        b[(int) (p * 2 * n + k)] = (float) Math.cos(angle);
        b[(int) (p * 2 * n + n + k)] = (float) -Math.sin(angle);
      }
    }
    return new float[][] {a, b};
  }

  /**
   * s of ΔW = s Σ_k c_k cos(...): {@code scaling} times torch's ifft2 normalisation for ifft2_norm "backward" (1 /
   * (out in), PEFT's default), "ortho" (1 / sqrt(out in)) or "forward" (1).
   */
  public static double scale(String ifft2Norm, double scaling, long out, long in) {
    return switch (ifft2Norm) {
      case "backward" -> scaling / ((double) out * in);
      case "ortho" -> scaling / Math.sqrt((double) out * in);
      case "forward" -> scaling;
      default -> throw new IllegalArgumentException("ifft2_norm must be backward, ortho or forward (torch.fft's "
          + "norms), got '" + ifft2Norm + "'");
    };
  }

  @Override
  public void close() {
    pairs.values().forEach(Pair::close);
    pairs.clear();
  }
}
