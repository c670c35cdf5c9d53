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
  private final Tensor value;
  private Tensor master;
  private Tensor grad;

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
    return grad != null;
  }

  /** The fp32 copy the optimizer updates (null while frozen). */
  public Tensor master() {
    return master;
  }

  /** The fp32 gradient (null while frozen); backward adds into it. */
  public Tensor grad() {
    return grad;
  }

  /** Makes the parameter trainable (fp32 master and zeroed gradient) or frozen (frees both). */
  public void setTrainable(boolean trainable) {
    if (trainable == isTrainable()) return;
    if (trainable) {
      master = value.dtype() == DType.F32 ? value : value.to(DType.F32);
      grad = Tensor.zeros(DType.F32, value.device(), value.shape());
    } else {
      if (master != value) master.close();
      grad.close();
      master = null;
      grad = null;
    }
  }

  public void zeroGrad() {
    if (grad != null) grad.zero();
  }

  public long numel() {
    return value.numel();
  }

  @Override
  public void close() {
    setTrainable(false);
    value.close();
  }

  @Override
  public String toString() {
    return name + " " + value + (isTrainable() ? " (trainable)" : "");
  }
}
