package jswift.nn;

import jswift.tensor.Arena;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Kernels;
import jswift.tensor.Tensor;

/**
 * A frozen linear weight [out, in] stored in bitsandbytes' NF4 layout: 4-bit codes of blocks of 64 consecutive
 * values (two per byte, high nibble first) and one absmax per block, optionally double-quantized (the absmax
 * values as 8-bit codes of the signed dynamic map, per 256 blocks one fp32 scale, plus one offset). The layer
 * asks for the dense weight only while one op runs ({@link #dequantize}), so the model's weights stay at ~4.1-4.5
 * bits per value between ops.
 */
public final class Nf4Weight implements QuantizedWeight {
  public static final int BLOCKSIZE = 64;

  private final long[] shape;
  private final DType computeDtype;
  private final Tensor packed;
  private final Tensor absmax;          // f32 [blocks], or null with double quantization
  private final Tensor absmaxCodes;     // u8 [blocks] (double quantization)
  private final Tensor nestedAbsmax;    // f32 [ceil(blocks / 256)]
  private final Tensor code256;         // the signed dynamic map on the device (shared, owned by the caller)
  private final float offset;

  private Nf4Weight(long[] shape, DType computeDtype, Tensor packed, Tensor absmax, Tensor absmaxCodes,
      Tensor nestedAbsmax, Tensor code256, float offset) {
    this.shape = shape;
    this.computeDtype = computeDtype;
    this.packed = packed;
    this.absmax = absmax;
    this.absmaxCodes = absmaxCodes;
    this.nestedAbsmax = nestedAbsmax;
    this.code256 = code256;
    this.offset = offset;
  }

  /** The signed 8-bit dynamic map on a device, shared by every double-quantized weight there. */
  public static Tensor dynamicMap(Device device) {
    float[] map = Kernels.dynamicMapSigned();
    return Tensor.fromFloats(map, DType.F32, device, map.length);
  }

  /**
   * Quantizes a dense weight (which the caller may then free). {@code code256} ({@link #dynamicMap}) is needed
   * for double quantization and stays owned by the caller.
   */
  public static Nf4Weight quantize(Tensor w, boolean doubleQuant, Tensor code256) {
    long n = w.numel(), blocks = (n + BLOCKSIZE - 1) / BLOCKSIZE;
    Device d = w.device();
    Tensor packed = Tensor.allocate(DType.U8, d, (n + 1) / 2);
    Tensor absmax = Tensor.allocate(DType.F32, d, blocks);
    Kernels.nf4Quantize(w, BLOCKSIZE, packed, absmax);
    if (!doubleQuant) return new Nf4Weight(w.shape(), w.dtype(), packed, absmax, null, null, null, 0f);
    try {
      Tensor codes = Tensor.allocate(DType.U8, d, blocks);
      Tensor nested = Tensor.allocate(DType.F32, d, (blocks + 255) / 256);
      Tensor off = Tensor.allocate(DType.F32, d, 1);
      Kernels.quantizeAbsmax8bit(absmax, codes, nested, off);
      float offset = off.toFloatArray()[0];
      off.close();
      if (code256 == null) throw new IllegalArgumentException("double quantization needs the dynamic map (code256)");
      return new Nf4Weight(w.shape(), w.dtype(), packed, null, codes, nested, code256, offset);
    } finally {
      absmax.close();
    }
  }

  /**
   * A weight read from a bitsandbytes checkpoint (no re-quantization): {@code packed} u8 [(n + 1) / 2] (any shape
   * of that size) and {@code absmax} f32 [blocks]. Takes ownership of both tensors.
   */
  public static Nf4Weight of(long[] shape, DType computeDtype, Tensor packed, Tensor absmax) {
    return new Nf4Weight(shape.clone(), computeDtype, packed, absmax, null, null, null, 0f);
  }

  /**
   * A double-quantized weight read from a checkpoint: {@code absmaxCodes} u8 [blocks], {@code nestedAbsmax} f32
   * [ceil(blocks / 256)] and the offset; takes ownership of those, {@code code256} stays the caller's.
   */
  public static Nf4Weight ofDoubleQuant(long[] shape, DType computeDtype, Tensor packed, Tensor absmaxCodes,
      Tensor nestedAbsmax, Tensor code256, float offset) {
    return new Nf4Weight(shape.clone(), computeDtype, packed, null, absmaxCodes, nestedAbsmax, code256, offset);
  }

  public boolean isDoubleQuant() {
    return absmax == null;
  }

  /** The packed codes, u8 [(n + 1) / 2] (element 2k in the high nibble of byte k). */
  public Tensor packed() {
    return packed;
  }

  /** The f32 absmax per block, or null with double quantization. */
  public Tensor absmax() {
    return absmax;
  }

  /** Double quantization: the 8-bit code of each block's absmax, else null. */
  public Tensor absmaxCodes() {
    return absmaxCodes;
  }

  /** Double quantization: the f32 scale of each 256 absmax codes, else null. */
  public Tensor nestedAbsmax() {
    return nestedAbsmax;
  }

  /** Double quantization: the mean absmax subtracted before the 8-bit quantization (0 without). */
  public float offset() {
    return offset;
  }

  @Override
  public long[] shape() {
    return shape.clone();
  }

  @Override
  public Device device() {
    return packed.device();
  }

  @Override
  public Tensor dequantize(Arena arena) {
    Tensor out = arena.allocate(computeDtype, packed.device(), shape);
    if (absmax != null) {
      Kernels.nf4Dequantize(packed, absmax, BLOCKSIZE, out);
    } else {
      Kernels.nf4DequantizeDoubleQuant(packed, absmaxCodes, nestedAbsmax, code256, offset, BLOCKSIZE, out);
    }
    return out;
  }

  /** The dequant-to-tile GEMM ({@link Kernels#nf4Matmul}): no dense copy of the weight. */
  @Override
  public void matmul(Tensor x, Tensor y, float beta) {
    tileMatmul(x, false, beta, y);
  }

  @Override
  public void matmulBackward(Tensor dy, Tensor dx, float beta) {
    tileMatmul(dy, true, beta, dx);
  }

  private void tileMatmul(Tensor x, boolean backward, float beta, Tensor y) {
    if (absmax != null) {
      Kernels.nf4Matmul(x, packed, absmax, BLOCKSIZE, backward, beta, y);
    } else {
      Kernels.nf4MatmulDoubleQuant(x, packed, absmaxCodes, nestedAbsmax, code256, offset, BLOCKSIZE, backward, beta, y);
    }
  }

  /**
   * Decode-shaped inputs take the fused NF4 GEMV ({@link Linear#gemvRows}: up to 16 rows on the CPU, 4 on CUDA).
   * More rows go to {@link #matmul}, which on CUDA runs up to 16 of them on the tensor cores straight from the
   * codes and otherwise amortises a dequantized tile.
   */
  @Override
  public int gemvMaxRows() {
    return Linear.gemvRows(packed.device());
  }

  /** The fused NF4 dequant-GEMV ({@link Kernels#nf4Gemv}), in calls of at most its kernel's 8 rows. */
  @Override
  public void gemv(Tensor x, Tensor bias, Tensor y) {
    Linear.inRowSlices(x, y, Kernels.NF4_GEMV_MAX_ROWS, (xs, ys) -> {
      if (absmax != null) {
        Kernels.nf4Gemv(xs, packed, absmax, BLOCKSIZE, bias, ys);
      } else {
        Kernels.nf4GemvDoubleQuant(xs, packed, absmaxCodes, nestedAbsmax, code256, offset, BLOCKSIZE, bias, ys);
      }
    });
  }

  @Override
  public long bytes() {
    long b = packed.byteSize();
    for (Tensor t : new Tensor[] {absmax, absmaxCodes, nestedAbsmax}) if (t != null) b += t.byteSize();
    return b;
  }

  @Override
  public void close() {
    for (Tensor t : new Tensor[] {packed, absmax, absmaxCodes, nestedAbsmax}) if (t != null) t.close();
  }
}
