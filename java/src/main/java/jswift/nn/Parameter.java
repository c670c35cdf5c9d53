package jswift.nn;

import jswift.tensor.DType;
import jswift.tensor.Tensor;

/**
 * A weight of the model under its Hugging Face name. {@link #value()} is what the kernels read (the compute
 * dtype: fp32 on the CPU, bf16 on CUDA). A trainable parameter also has an fp32 master copy (the value itself
 * when the compute dtype is fp32) that the optimizer updates, and an fp32 gradient that backward passes
 * accumulate into.
 */
public final class Parameter implements AutoCloseable {
  private final String name;
  private Tensor value;   // the u8 codes [out, in] while stored INT8 (Q-GaLore)
  private Tensor master;
  private Tensor grad;
  private boolean gradReleased;   // trainable, gradient freed until the next backward writes it (per-parameter steps)

  public Parameter(String name, Tensor value) {
    this.name = name;
    this.value = value;
  }

  public String name() {
    return name;
  }

  public Tensor value() {
    return value;
  }

  public boolean isTrainable() {
    return grad != null || gradReleased;
  }

  /** The fp32 copy the optimizer updates (null while frozen). */
  public Tensor master() {
    return master;
  }

  /**
   * The fp32 gradient (null while frozen); backward adds into it. After {@link #releaseGrad} it is allocated again,
   * zeroed, when first asked for.
   */
  public Tensor grad() {
    if (gradReleased) {
      grad = Tensor.zeros(DType.F32, value.device(), value.shape());
      gradReleased = false;
    }
    return grad;
  }

  /**
   * Frees the gradient of a trainable parameter until it is next needed (the optimizer stepped it inside the
   * backward, so the gradients of all layers never coexist: --galore_optim_per_parameter).
   */
  public void releaseGrad() {
    if (grad == null) return;
    grad.close();
    grad = null;
    gradReleased = true;
  }

  /** True when the gradient is allocated now (false while frozen or released). */
  public boolean holdsGrad() {
    return grad != null;
  }

  /** Makes the parameter trainable (fp32 master and zeroed gradient) or frozen (frees both). */
  public void setTrainable(boolean trainable) {
    if (trainable == isTrainable()) return;
    if (trainable && isInt8())
      throw new IllegalStateException(name + " is stored INT8 (Q-GaLore): it has no dense copy to train from again");
    if (trainable) {
      master = value.dtype() == DType.F32 ? value : value.to(DType.F32);
      grad = Tensor.zeros(DType.F32, value.device(), value.shape());
    } else {
      if (master != null && master != value) master.close();
      if (grad != null) grad.close();
      master = null;
      grad = null;
      gradReleased = false;
    }
  }

  public void zeroGrad() {
    if (grad != null) grad.zero();
  }

  public long numel() {
    return value.numel();
  }

  // --- Q-GaLore (--galore_quantization): the weight stored INT8 while it trains ---
  private Tensor int8Scales, int8Zeros;
  private int int8GroupSize;
  private DType computeDtype;

  /** True while the weight is stored INT8: {@link #value()} is then the u8 codes, {@link #master()} null. */
  public boolean isInt8() {
    return int8Scales != null;
  }

  /**
   * Q-GaLore's INT8 weight (QGaLoreLinear): quantizes the trainable fp32 master (min-max groups of {@code
   * groupSize}, nearest rounding, as Q-GaLore's initial _quantize_tensor_int8) and frees the dense copies, so the
   * weight then costs one byte per value plus a scale and a zero per group. The layer dequantizes it for each op
   * ({@link #dequantizeInt8Into}); the optimizer updates it through {@link #requantizeInt8}.
   */
  public void storeInt8(int groupSize) {
    if (!isTrainable() || value.rank() != 2 || !value.dtype().isFloatingPoint() || isInt8())
      throw new IllegalStateException(name + ": only a trainable float 2-D weight can be stored INT8, got " + this);
    long groups = (value.numel() + groupSize - 1) / groupSize;
    Tensor codes = Tensor.allocate(DType.U8, value.device(), value.shape());
    int8Scales = Tensor.allocate(DType.F32, value.device(), groups);
    int8Zeros = Tensor.allocate(DType.F32, value.device(), groups);
    int8GroupSize = groupSize;
    jswift.tensor.Kernels.minmaxQuantize(master, groupSize, 8, false, 0, codes, int8Scales, int8Zeros);
    computeDtype = value.dtype();
    if (master != value) master.close();
    value.close();
    master = null;
    value = codes;
  }

  /** The dtype the layer computes in (the dense weight's before it was stored INT8, else the value's). */
  public DType computeDtype() {
    return isInt8() ? computeDtype : value.dtype();
  }

  /** The INT8 weight's per-group scales and zeros (f32 [groups]), for checkpoints; null unless {@link #isInt8}. */
  public Tensor int8Scales() {
    return int8Scales;
  }

  public Tensor int8Zeros() {
    return int8Zeros;
  }

  /** The INT8 weight dequantized into {@code out} ([out, in], any float dtype on the weight's device). */
  public void dequantizeInt8Into(Tensor out) {
    jswift.tensor.Kernels.minmaxDequantize(value, int8Scales, int8Zeros, int8GroupSize, 8, out);
  }

  /**
   * Stores an updated fp32 weight back INT8 with Q-GaLore's stochastic rounding (new per-group min-max scales,
   * draws from {@code seed}).
   */
  public void requantizeInt8(Tensor updated, long seed) {
    jswift.tensor.Kernels.minmaxQuantize(updated, int8GroupSize, 8, true, seed, value, int8Scales, int8Zeros);
  }

  @Override
  public void close() {
    setTrainable(false);
    value.close();
    if (int8Scales != null) {
      int8Scales.close();
      int8Zeros.close();
    }
  }

  @Override
  public String toString() {
    return name + " " + value + (isTrainable() ? " (trainable)" : "");
  }
}
