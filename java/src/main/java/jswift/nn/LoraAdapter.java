package jswift.nn;

import jswift.tensor.Tensor;

/**
 * One LoRA adapter of a linear layer: A [rank, in], B [out, rank], the scale (alpha / rank, or alpha / sqrt(rank)
 * for rsLoRA) and dropout on the LoRA path. A and B are {@link Parameter}s under PEFT's names
 * ({@code base_model.model.<module>.lora_A.weight}), trainable or not.
 */
public final class LoraAdapter implements AutoCloseable {
  private final Parameter a;
  private final Parameter b;
  private final float scale;
  private final float dropout;

  public LoraAdapter(Parameter a, Parameter b, float scale, float dropout) {
    if (a.value().rank() != 2 || b.value().rank() != 2 || a.value().size(0) != b.value().size(1))
      throw new IllegalArgumentException("LoRA " + a.name() + ": A " + a.value() + " and B " + b.value()
          + " do not form a rank-r pair (A [r, in], B [out, r])");
    if (dropout < 0 || dropout >= 1) throw new IllegalArgumentException("lora_dropout must be in [0, 1), got " + dropout);
    this.a = a;
    this.b = b;
    this.scale = scale;
    this.dropout = dropout;
  }

  public Parameter a() {
    return a;
  }

  public Parameter b() {
    return b;
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
  }
}
