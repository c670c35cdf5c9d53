package jswift.nn;

import jswift.tensor.Arena;
import jswift.tensor.DType;
import jswift.tensor.Kernels;
import jswift.tensor.Tensor;

/**
 * LoRA on the input embedding (PEFT's lora.Embedding: {@code target_modules} naming {@code embed_tokens}, ms-swift's
 * {@code all-embedding}): out = E[ids] + s (A^T[ids]) B^T, with A [r, vocab] and B [dim, r] as PEFT saves them
 * ({@code lora_embedding_A}, {@code lora_embedding_B}). A is held transposed, [vocab, r], so its rows are gathered
 * with the embedding kernel and its gradient scattered back with the embedding's backward. PEFT applies no dropout
 * here. The LM head, tied or not, keeps the base weight, as in PEFT.
 */
public final class EmbeddingLora implements AutoCloseable {
  /** The PEFT key suffixes. */
  public static final String A_SUFFIX = ".lora_embedding_A", B_SUFFIX = ".lora_embedding_B";

  private final Parameter at;  // A^T [vocab, r], named ...lora_embedding_A (PeftLayout transposes it on save / load)
  private final Parameter b;   // B [dim, r]
  private final float scale;

  public EmbeddingLora(Parameter aTransposed, Parameter b, float scale) {
    if (aTransposed.value().rank() != 2 || b.value().rank() != 2 || aTransposed.value().size(1) != b.value().size(1))
      throw new IllegalArgumentException("embedding LoRA: A^T " + aTransposed.value() + " and B " + b.value()
          + " must share their rank");
    this.at = aTransposed;
    this.b = b;
    this.scale = scale;
  }

  public Parameter aTransposed() {
    return at;
  }

  public Parameter b() {
    return b;
  }

  public float scale() {
    return scale;
  }

  public int rank() {
    return (int) b.value().size(1);
  }

  /** x [n, dim] += s A^T[ids] B^T. */
  public void forward(Arena arena, Tensor ids, Tensor x) {
    Tensor g = gathered(arena, ids, x.dtype());
    Kernels.matmul(g, false, value(arena, b, x.dtype()), true, x, scale, 1f);
  }

  /** Adds dLoss/dB and dLoss/dA^T for the embedding output's gradient dx [n, dim]. */
  public void backward(Arena arena, Tensor ids, Tensor dx) {
    Tensor bv = value(arena, b, dx.dtype());
    if (b.isTrainable()) Kernels.matmul(dx, true, gathered(arena, ids, dx.dtype()), false, b.grad(), scale, 1f);
    if (at.isTrainable()) {
      Tensor dg = arena.allocate(dx.dtype(), dx.device(), dx.size(0), rank());
      Kernels.matmul(dx, false, bv, false, dg, scale, 0f);
      Kernels.embeddingBackward(ids, dg, at.grad());
    }
  }

  /** A^T[ids] [n, r] in {@code dtype}. */
  private Tensor gathered(Arena arena, Tensor ids, DType dtype) {
    Tensor table = value(arena, at, dtype);
    Tensor g = arena.allocate(dtype, table.device(), ids.numel(), rank());
    Kernels.embeddingForward(ids, table, g);
    return g;
  }

  /** A parameter's value in {@code dtype} (a copy in the arena when it is held in another). */
  private static Tensor value(Arena arena, Parameter p, DType dtype) {
    if (p.value().dtype() == dtype) return p.value();
    Tensor t = arena.allocate(dtype, p.value().device(), p.value().shape());
    Kernels.cast(p.value(), t);
    return t;
  }

  @Override
  public void close() {
    at.close();
    b.close();
  }
}
