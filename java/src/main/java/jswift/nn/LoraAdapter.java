package jswift.nn;

import jswift.tensor.DType;
import jswift.tensor.Tensor;

/**
 * One LoRA adapter of a linear layer: A [rank, in], B [out, rank], the scale (alpha / rank, or alpha / sqrt(rank)
 * for rsLoRA) and dropout on the LoRA path. A and B are {@link Parameter}s under PEFT's names
 * ({@code base_model.model.<module>.lora_A.weight}), trainable or not.
 *
 * <p>A DoRA adapter (weight-decomposed LoRA) also has a magnitude m [out], PEFT's
 * {@code base_model.model.<module>.lora_magnitude_vector}: the layer then computes
 * y = b + (m / ||W + s B A||_row) * (x W^T + s (x A^T) B^T). m is kept in f32 whatever the compute dtype, like
 * the other per-row statistics the kernels read (it is a vector of [out] values, and PEFT keeps it in fp32).
 */
public final class LoraAdapter implements AutoCloseable {
  private final Parameter a;
  private final Parameter b;
  private final Parameter magnitude;  // null for plain LoRA
  private final float scale;
  private final float dropout;

  public LoraAdapter(Parameter a, Parameter b, float scale, float dropout) {
    this(a, b, null, scale, dropout);
  }

  /** A DoRA adapter when {@code magnitude} (f32 [out]) is not null, else plain LoRA. */
  public LoraAdapter(Parameter a, Parameter b, Parameter magnitude, float scale, float dropout) {
    if (a.value().rank() != 2 || b.value().rank() != 2 || a.value().size(0) != b.value().size(1))
      throw new IllegalArgumentException("LoRA " + a.name() + ": A " + a.value() + " and B " + b.value()
          + " do not form a rank-r pair (A [r, in], B [out, r])");
    if (dropout < 0 || dropout >= 1) throw new IllegalArgumentException("lora_dropout must be in [0, 1), got " + dropout);
    if (magnitude != null) {
      Tensor m = magnitude.value();
      if (m.rank() != 1 || m.size(0) != b.value().size(0) || m.dtype() != DType.F32)
        throw new IllegalArgumentException("DoRA " + magnitude.name() + " must be float32 [" + b.value().size(0)
            + "] (one magnitude per output row of B " + b.value() + "), got " + m);
    }
    this.a = a;
    this.b = b;
    this.magnitude = magnitude;
    this.scale = scale;
    this.dropout = dropout;
  }

  public Parameter a() {
    return a;
  }

  public Parameter b() {
    return b;
  }

  /** DoRA's magnitude m [out] (f32), or null for a plain LoRA adapter. */
  public Parameter magnitude() {
    return magnitude;
  }

  public boolean isDora() {
    return magnitude != null;
  }

  public int rank() {
    return (int) a.value().size(0);
  }

  public float scale() {
    return scale;
  }

  public float dropout() {
    return dropout;
  }

  public Tensor aValue() {
    return a.value();
  }

  public Tensor bValue() {
    return b.value();
  }

  @Override
  public void close() {
    a.close();
    b.close();
    if (magnitude != null) magnitude.close();
  }
}
