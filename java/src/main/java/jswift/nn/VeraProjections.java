package jswift.nn;

import java.util.HashMap;
import java.util.Map;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Tensor;

/**
 * VeRA's one pair of frozen random projections shared by every adapted layer of a model (PEFT's
 * {@code base_model.vera_A} [r, max in] and {@code base_model.vera_B} [max out, r], fp32): a layer of shape
 * [out, in] uses A[:, :in] and B[:out, :]. The pair is kept in fp32 as saved; each distinct slice is made once, in
 * the compute dtype and contiguous, for the kernels ({@link #sliceA}, {@link #sliceB}), and shared by the layers of
 * that size. The model owns this object; the adapters only borrow the slices.
 */
public final class VeraProjections implements SharedAdapterTensors {
  public static final String A_KEY = "base_model.vera_A", B_KEY = "base_model.vera_B";

  private final Parameter a, b;
  private final DType dtype;
  private final Map<Long, Parameter> aSlices = new HashMap<>(), bSlices = new HashMap<>();

  private VeraProjections(Parameter a, Parameter b, DType dtype) {
    this.a = a;
    this.b = b;
    this.dtype = dtype;
  }

  /**
   * The pair PEFT draws for {@code seed} (projection_prng_key), bit for bit: its {@code _kaiming_init} fills A, then
   * B, from one {@code torch.Generator().manual_seed(seed)}, uniform on ±sqrt(3) sqrt(2) / sqrt(fan_in), fan_in the
   * second dimension (max in for A, r for B); {@link TorchCpuRandom} is that generator. So jswift's projections are
   * PEFT's, and an adapter saved without them (save_projection=False) can be rebuilt.
   */
  public static VeraProjections random(long seed, int rank, long maxIn, long maxOut, DType dtype, Device device) {
    float[][] ab = draw(seed, rank, maxIn, maxOut);
    return of(ab[0], ab[1], rank, maxIn, maxOut, dtype, device);
  }

  /** {@link #random}'s values: A [rank, maxIn] and B [maxOut, rank], row-major. */
  public static float[][] draw(long seed, int rank, long maxIn, long maxOut) {
    TorchCpuRandom rng = new TorchCpuRandom(seed);
    float[] a = kaiming(rng, rank * maxIn, maxIn);
    return new float[][] {a, kaiming(rng, maxOut * rank, rank)};
  }

  private static float[] kaiming(TorchCpuRandom rng, long n, long fanIn) {
    if (n > Integer.MAX_VALUE) throw new IllegalArgumentException("VeRA projection of " + n + " values is too large");
    double bound = Math.sqrt(3.0) * (Math.sqrt(2) / Math.sqrt(fanIn));  // PEFT's gain / sqrt(fan), times sqrt(3)
    return rng.uniform((int) n, -bound, bound);
  }

  /** The pair from given values (a saved adapter's): A [rank, maxIn], B [maxOut, rank], row-major. */
  public static VeraProjections of(float[] a, float[] b, int rank, long maxIn, long maxOut, DType dtype, Device device) {
    if (a.length != rank * maxIn || b.length != maxOut * rank)
      throw new IllegalArgumentException("VeRA projections of " + a.length + " / " + b.length + " values do not form"
          + " A [" + rank + ", " + maxIn + "] / B [" + maxOut + ", " + rank + "]");
    Parameter pa = new Parameter(A_KEY, Tensor.fromFloats(a, DType.F32, device, rank, maxIn));
    try {
      return new VeraProjections(pa, new Parameter(B_KEY, Tensor.fromFloats(b, DType.F32, device, maxOut, rank)), dtype);
    } catch (RuntimeException e) {
      pa.close();
      throw e;
    }
  }

  public int rank() {
    return (int) a.value().size(0);
  }

  public long maxIn() {
    return a.value().size(1);
  }

  public long maxOut() {
    return b.value().size(0);
  }

  /** vera_A and vera_B (fp32), under PEFT's keys. */
  public Parameter a() {
    return a;
  }

  public Parameter b() {
    return b;
  }

  /** Replaces the values of the pair and of every slice made (same shapes: another draw of the same projections). */
  public void overwrite(float[] newA, float[] newB) {
    if (newA.length != a.value().numel() || newB.length != b.value().numel())
      throw new IllegalArgumentException("VeRA projections of " + newA.length + " / " + newB.length + " values do not"
          + " fit " + a.value() + " / " + b.value());
    a.value().copyFrom(newA);
    b.value().copyFrom(newB);
    for (Map.Entry<Long, Parameter> e : aSlices.entrySet()) e.getValue().value().copyFrom(columns(e.getKey()));
    for (Map.Entry<Long, Parameter> e : bSlices.entrySet())
      try (Tensor rows = b.value().narrow(0, e.getKey()).to(dtype)) {
        e.getValue().value().copyFrom(rows);
      }
  }

  /** A[:, :n] as floats. */
  private float[] columns(long n) {
    float[] full = a.value().toFloatArray(), s = new float[(int) (rank() * n)];
    for (int i = 0; i < rank(); i++) System.arraycopy(full, (int) (i * maxIn()), s, (int) (i * n), (int) n);
    return s;
  }

  /** A[:, :in] in the compute dtype, [rank, in]. */
  public Parameter sliceA(long in) {
    if (in > maxIn())
      throw new IllegalArgumentException("vera_A " + a.value() + " has " + maxIn() + " columns, a layer with " + in
          + " inputs needs more (was the adapter made for another model?)");
    return aSlices.computeIfAbsent(in, n -> new Parameter(A_KEY + "[:, :" + n + "]",
        Tensor.fromFloats(columns(n), dtype, a.value().device(), rank(), n)));
  }

  /** B[:out, :] in the compute dtype, [out, rank]. */
  public Parameter sliceB(long out) {
    if (out > maxOut())
      throw new IllegalArgumentException("vera_B " + b.value() + " has " + maxOut() + " rows, a layer with " + out
          + " outputs needs more (was the adapter made for another model?)");
    return bSlices.computeIfAbsent(out, n -> new Parameter(B_KEY + "[:" + n + "]", b.value().narrow(0, n).to(dtype)));
  }

  @Override
  public void close() {
    aSlices.values().forEach(Parameter::close);
    bSlices.values().forEach(Parameter::close);
    aSlices.clear();
    bSlices.clear();
    a.close();
    b.close();
  }
}
