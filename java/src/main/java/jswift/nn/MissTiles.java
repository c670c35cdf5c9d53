package jswift.nn;

import java.util.HashMap;
import java.util.Map;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Tensor;

/**
 * MiSS's (formerly Bone's) fixed input side (PEFT's {@code MissLinear}, default variant): the layer adds
 * {@code sum(pad(drop(x)).reshape(..., in / r, r), dim=-2) @ miss_block}, i.e. the input summed over its in / r
 * consecutive groups of r (zero-padded up to a multiple of r), times the trained block [r, out]. That is LoRA with
 * a frozen A [r, in] of tiled identities, A[j, q] = 1 where q mod r = j, and B = miss_block^T, scale 1, so the
 * LoRA kernels (and their dropout) compute it unchanged. One A per (r, in) serves every layer of that width: the
 * model owns this cache (per adapter), the adapters borrow its tensors.
 */
public final class MissTiles implements SharedAdapterTensors {
  private final DType dtype;
  private final Device device;
  private final Map<Long, Parameter> tiles = new HashMap<>();
  private final int r;

  public MissTiles(int r, DType dtype, Device device) {
    if (r <= 0) throw new IllegalArgumentException("MiSS r must be positive, got " + r);
    this.r = r;
    this.dtype = dtype;
    this.device = device;
  }

  /** A [r, in] of tiled identities, in the compute dtype (made once per width, then shared). */
  public Parameter forWidth(long in) {
    return tiles.computeIfAbsent(in, n -> new Parameter("miss_tiles[" + r + "x" + n + "]",
        Tensor.fromFloats(values(r, n), dtype, device, r, n)));
  }

  /** The tiled identities as row-major floats [r, in]. */
  public static float[] values(int r, long in) {
    if ((long) r * in > Integer.MAX_VALUE) throw new IllegalArgumentException("MiSS tiles [" + r + ", " + in + "] too large");
    float[] a = new float[(int) (r * in)];
    for (long q = 0; q < in; q++) a[(int) ((q % r) * in + q)] = 1f;
    return a;
  }

  @Override
  public void close() {
    tiles.values().forEach(Parameter::close);
    tiles.clear();
  }
}
