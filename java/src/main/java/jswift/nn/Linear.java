package jswift.nn;

import java.util.LinkedHashMap;
import java.util.Map;
import jswift.tensor.Arena;
import jswift.tensor.DType;
import jswift.tensor.Kernels;
import jswift.tensor.Tensor;

/**
 * y = x W^T (+ b), W [out, in] under its Hugging Face name, optionally with LoRA adapters of which one at a time
 * is active (the fused LoRA kernel then computes base and low-rank paths together). W may be NF4-quantized
 * (QLoRA): it is then dequantized into a temporary for each op and freed right after. Backward gives dx and
 * accumulates the gradients of whatever is trainable: the active adapter's A and B (and DoRA magnitude), and
 * W / b when the layer itself is trained (full fine-tuning).
 *
 * <p>A DoRA adapter ({@link LoraAdapter#isDora}) rescales each output of the LoRA linear by m / n, with
 * n = ||W + s B A|| per output row, computed once per forward in fp32 (W + s B A as one GEMM into an fp32 copy
 * of W, then row norms). As in PEFT, n is a constant for the backward: dz = dy * m / n feeds the LoRA backward,
 * and dm = sum over tokens of dy * z / n, with z = x W^T + s (x A^T) B^T kept from the forward as z / n.
 */
public final class Linear implements AutoCloseable {
  private final String name;
  private Parameter weight;        // dense weight, or null once quantized
  private Nf4Weight quantized;     // the NF4 weight of a QLoRA base (frozen)
  private final long outFeatures, inFeatures;
  private final Parameter bias;
  private final Map<String, LoraAdapter> adapters = new LinkedHashMap<>();
  private LoraAdapter active;

  /**
   * What the forward keeps for the backward: the input and, with LoRA, drop(x) A^T; with DoRA also m / n (f32
   * [out]) and, when m is trained, z / n.
   */
  public static final class Saved {
    Tensor x;
    Tensor xa;
    Tensor doraFactor;
    Tensor doraZn;
  }

  public Linear(String name, Parameter weight, Parameter bias) {
    if (weight.value().rank() != 2) throw new IllegalArgumentException(name + ".weight must be 2-D, got " + weight.value());
    this.name = name;
    this.weight = weight;
    this.bias = bias;
    this.outFeatures = weight.value().size(0);
    this.inFeatures = weight.value().size(1);
  }

  /**
   * Replaces the dense weight by its NF4 quantization (QLoRA's frozen base). Returns the dense parameter, which
   * the caller (the model that owns it) frees.
   */
  public Parameter quantizeNf4(boolean doubleQuant, Tensor code256) {
    if (quantized != null) throw new IllegalStateException(name + " is already quantized");
    if (weight.isTrainable()) throw new IllegalStateException(name + ": a trainable weight cannot be quantized");
    quantized = Nf4Weight.quantize(weight.value(), doubleQuant, code256);
    Parameter dense = weight;
    weight = null;
    return dense;
  }

  public Nf4Weight quantizedWeight() {
    return quantized;
  }

  /** The dense weight for one op: the parameter itself, or the dequantized NF4 weight in {@code tmp}. */
  private Tensor denseWeight(Arena tmp) {
    return quantized == null ? weight.value() : quantized.dequantize(tmp);
  }

  public String name() {
    return name;
  }

  public Parameter weight() {
    return weight;
  }

  public Parameter bias() {
    return bias;
  }

  public long inFeatures() {
    return inFeatures;
  }

  public long outFeatures() {
    return outFeatures;
  }

  /**
   * ||W + s B A|| per output row, a new f32 [out] tensor, for a prospective adapter's A [r, in] and B [out, r]
   * (of one float dtype, not necessarily W's): DoRA's weight norm, which a new DoRA adapter takes as its initial
   * magnitude, as PEFT does.
   */
  public Tensor weightNorm(Tensor a, Tensor b, float scale) {
    if (a.rank() != 2 || b.rank() != 2 || a.size(1) != inFeatures() || b.size(0) != outFeatures()
        || a.size(0) != b.size(1))
      throw new IllegalArgumentException(name + ": A " + a + " / B " + b + " do not fit the layer's ["
          + outFeatures() + ", " + inFeatures() + "] weight");
    Tensor norm = Tensor.allocate(DType.F32, b.device(), outFeatures());
    try (Arena tmp = new Arena()) {
      rowNormOfSum(tmp, denseWeight(tmp), a, b, scale, norm, null);
    } catch (RuntimeException e) {
      norm.close();
      throw e;
    }
    return norm;
  }

  /** norm / invNorm (f32 [out], either may be null) of the rows of w + scale * b a, computed in fp32. */
  private static void rowNormOfSum(Arena tmp, Tensor w, Tensor a, Tensor b, float scale, Tensor norm,
      Tensor invNorm) {
    Tensor sum = tmp.allocate(DType.F32, w.device(), w.shape());
    Kernels.cast(w, sum);
    Kernels.matmul(b, false, a, false, sum, scale, 1f);
    Kernels.rowNorm(sum, norm, invNorm);
  }

  public void addAdapter(String adapterName, LoraAdapter adapter) {
    Tensor a = adapter.aValue(), b = adapter.bValue();
    if (a.size(1) != inFeatures() || b.size(0) != outFeatures())
      throw new IllegalArgumentException("adapter '" + adapterName + "' of " + name + ": A " + a + " / B " + b
          + " do not fit the layer's [" + outFeatures() + ", " + inFeatures() + "] weight");
    LoraAdapter old = adapters.put(adapterName, adapter);
    if (old != null) {
      if (old == active) active = adapter;
      old.close();
    }
  }

  /** Makes one adapter active (null: the base layer alone). */
  public void setActiveAdapter(String adapterName) {
    if (adapterName == null) {
      active = null;
      return;
    }
    LoraAdapter a = adapters.get(adapterName);
    if (a == null) throw new IllegalArgumentException(name + " has no adapter '" + adapterName + "'");
    active = a;
  }

  public LoraAdapter activeAdapter() {
    return active;
  }

  public Map<String, LoraAdapter> adapters() {
    return adapters;
  }

  /**
   * y [..., out] = x W^T + b (+ LoRA); with {@code saved} not null, keeps what the backward needs. LoRA dropout
   * runs only when {@code training} (PEFT's train mode; inference and evaluation see the whole input).
   */
  public Tensor forward(Arena arena, Tensor x, long dropoutSeed, Saved saved, boolean training) {
    long[] outShape = x.shape();
    outShape[outShape.length - 1] = outFeatures();
    Tensor y = arena.allocate(x.dtype(), x.device(), outShape);
    try (Arena tmp = new Arena()) {
      Tensor w = denseWeight(tmp);
      if (active == null) {
        Tensor x2 = x.view(-1, inFeatures());
        Kernels.matmul(x2, false, w, true, y.view(-1, outFeatures()), 1f, 0f);
        if (bias != null) Kernels.addBias(y, bias.value());
      } else if (active.isDora()) {
        doraForward(arena, tmp, w, x.view(-1, inFeatures()), y.view(-1, outFeatures()), dropoutSeed, saved, training);
      } else {
        Tensor xa = saved == null ? null : arena.allocate(x.dtype(), x.device(), x.numel() / inFeatures(), active.rank());
        Kernels.loraForward(x.view(-1, inFeatures()), w, bias == null ? null : bias.value(),
            active.aValue(), active.bValue(), active.scale(), training ? active.dropout() : 0f, dropoutSeed,
            y.view(-1, outFeatures()), xa);
        if (saved != null) saved.xa = xa;
      }
    }
    if (saved != null) saved.x = x;
    return y;
  }

  /** y2 = (m / n) * (x2 W^T + s (x2 A^T) B^T) + b, n = ||W + s B A|| per row; see the class comment. */
  private void doraForward(Arena arena, Arena tmp, Tensor w, Tensor x2, Tensor y2, long dropoutSeed, Saved saved,
      boolean training) {
    if (training && active.dropout() > 0)
      throw new UnsupportedOperationException(name + ": training a DoRA adapter with lora_dropout > 0 is not supported "
          + "yet (PEFT then runs the base path on the undropped input); set lora_dropout to 0");
    Tensor invNorm = tmp.allocate(DType.F32, x2.device(), outFeatures());
    rowNormOfSum(tmp, w, active.aValue(), active.bValue(), active.scale(), null, invNorm);
    Tensor factor = (saved != null ? arena : tmp).allocate(DType.F32, x2.device(), outFeatures());
    Kernels.scaleRowsCols(active.magnitude().value().view(1, -1), null, invNorm, factor.view(1, -1));
    Tensor xa = saved == null ? null : arena.allocate(x2.dtype(), x2.device(), x2.size(0), active.rank());
    Kernels.loraForward(x2, w, null, active.aValue(), active.bValue(), active.scale(), 0f, dropoutSeed, y2, xa);
    if (saved != null) {
      saved.xa = xa;
      saved.doraFactor = factor;
      if (active.magnitude().isTrainable()) {
        saved.doraZn = arena.allocate(y2.dtype(), y2.device(), y2.shape());
        Kernels.scaleRowsCols(y2, null, invNorm, saved.doraZn);
      }
    }
    Kernels.scaleRowsCols(y2, null, factor, y2);
    if (bias != null) Kernels.addBias(y2, bias.value());
  }

  /**
   * From dy [..., out]: dx (written, or added to when {@code accumulate}; null if not needed) and the gradients of
   * the trainable parameters (accumulated).
   */
  public void backward(Arena arena, Tensor dy, Saved saved, long dropoutSeed, Tensor dx, boolean accumulate) {
    Tensor dy2 = dy.view(-1, outFeatures());
    Tensor x2 = saved.x.view(-1, inFeatures());
    Tensor target = dx == null ? null : accumulate ? arena.allocate(dx.dtype(), dx.device(), dx.shape()) : dx;
    Tensor dz = dy2;  // the gradient of x W^T + s (x A^T) B^T: dy itself, or dy * m / n with DoRA
    try (Arena tmp = quantized == null ? null : new Arena()) {
      Tensor w = denseWeight(tmp);
      if (active == null) {
        if (target != null) Kernels.matmul(dy2, false, w, false, target.view(-1, inFeatures()), 1f, 0f);
      } else {
        float dropout = active.dropout();
        if (active.isDora()) {
          dz = arena.allocate(dy2.dtype(), dy2.device(), dy2.shape());
          Kernels.scaleRowsCols(dy2, null, saved.doraFactor, dz);
          Parameter m = active.magnitude();
          if (m.isTrainable()) {
            if (saved.doraZn == null)
              throw new IllegalStateException(name + ": " + m.name() + " became trainable after the forward pass");
            Kernels.sumRowsMul(dy2, saved.doraZn, m.grad());
          }
          dropout = 0f;  // the DoRA forward refuses dropout in training
        }
        Kernels.loraBackward(dz, x2, w, active.aValue(), active.bValue(), saved.xa, active.scale(), dropout,
            dropoutSeed, target == null ? null : target.view(-1, inFeatures()), active.a().grad(), active.b().grad());
      }
    }
    if (accumulate && target != null) Kernels.axpby(1f, target, 1f, dx);
    if (weight != null && weight.isTrainable()) Kernels.matmul(dz, true, x2, false, weight.grad(), 1f, 1f);
    if (bias != null && bias.isTrainable()) Kernels.sumRows(dy2, bias.grad());
  }

  @Override
  public void close() {
    adapters.values().forEach(LoraAdapter::close);
    adapters.clear();
    active = null;
    if (quantized != null) quantized.close();
    quantized = null;
  }

}
