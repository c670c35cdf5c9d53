package jswift.nn;

import java.util.LinkedHashMap;
import java.util.Map;
import jswift.tensor.Arena;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Kernels;
import jswift.tensor.Tensor;

/**
 * y = x W^T (+ b), W [out, in] under its Hugging Face name, optionally with LoRA adapters of which one at a time
 * is active (the fused LoRA kernel then computes base and low-rank paths together). W may be NF4-quantized
 * (QLoRA) or come from a GPTQ checkpoint ({@link GptqWeight}): its products then run from the packed weight
 * ({@link QuantizedWeight#matmul}, the dequant-to-tile GEMM; {@link QuantizedWeight#gemv} for decode), with a
 * plain LoRA adapter's low-rank path beside them ({@link QuantizedLora}); only DoRA, which needs the dense W for
 * its norms, dequantizes it into a temporary for the op. Backward gives dx and accumulates the gradients of
 * whatever is trainable: the active adapter's A and B (and DoRA magnitude), and W / b when the layer itself is
 * trained (full fine-tuning).
 *
 * <p>A DoRA adapter ({@link LoraAdapter#isDora}) rescales each output of the LoRA linear by m / n, with
 * n = ||W + s B A|| per output row; {@link DoraLinear} has the math. VeRA and AdaLoRA adapters
 * ({@link LoraAdapter#isScaled}) scale the low-rank path per rank (and VeRA per output); {@link ScaledLoraLinear} has
 * that.
 */
public final class Linear implements AutoCloseable {
  private final String name;
  private Parameter weight;        // dense weight, or null once quantized
  private QuantizedWeight quantized;  // a frozen packed weight (QLoRA base, GPTQ checkpoint...), else null
  private final long outFeatures, inFeatures;
  private final Parameter bias;
  private final Map<String, LoraAdapter> adapters = new LinkedHashMap<>();
  private LoraAdapter active;

  /**
   * What the forward keeps for the backward: the input and, with LoRA, drop(x) A^T; with DoRA also m / n (f32
   * [out]) and, when m is trained, z / n.
   *
   * <p>Activation checkpointing: the layer's first forward gives {@link #keepXaIn} the step's arena, so that a
   * plain LoRA adapter keeps xa there ([tokens, rank], a sliver of the activations). Over a packed base (QLoRA)
   * the recomputed forward adds xa B^T instead of redoing dropout and x A^T: the same numbers (the mask of the
   * same seed and step), one dropout pass and one GEMM less per linear and step; and a linear whose output the
   * recomputation does not need (the down projection) only records its input ({@link #recordInputOnly}).
   */
  public static final class Saved {
    Tensor x;
    Tensor xa;
    Tensor doraFactor;
    Tensor doraZn;
    Tensor boftQ, boftFlags, boftZ;  // BOFT: the factors' blocks, the dropout flags (or null), z = x' W^T
    Tensor[] boftInputs;            // BOFT: the input of each butterfly factor
    private Arena xaArena;  // the checkpointed forward's arena for xa, else null
    private boolean xaKept;  // xa is the checkpointed forward's, for the recomputation

    /** The first (checkpointed) forward keeps xa in {@code arena}, which outlives the recomputation. */
    public void keepXaIn(Arena arena) {
      xaArena = arena;
      xaKept = false;
    }
  }

  /**
   * Inputs of at most this many rows take a packed weight's fused GEMV (NF4, GPTQ, AWQ) instead of its tile GEMM.
   * On the CPU, 16, in GEMVs of as many rows as the format's kernel takes (8; AWQ 4; {@link #inRowSlices}): there
   * the GEMV is 2.4-4.2x faster than the tile GEMM at 4-8 rows, and the GEMVs of 16 rows 1.1-2.4x faster
   * (benchmarks/RESULTS.md, "CPU: 4-bit decode of a few rows"). On CUDA, 4: NF4 runs 5-16 rows on the tensor cores
   * inside jsw_nf4_matmul, and GPTQ's GEMV at 5-8 rows has not been measured on a GPU yet.
   */
  static int gemvRows(Device device) {
    return device.isCpu() ? 16 : 4;
  }

  /** gemv(x, y) over slices of at most {@code kernelRows} rows of x [rows, in] and y [rows, out]. */
  static void inRowSlices(Tensor x, Tensor y, int kernelRows, java.util.function.BiConsumer<Tensor, Tensor> gemv) {
    long rows = x.size(0);
    if (rows <= kernelRows) {
      gemv.accept(x, y);
      return;
    }
    for (long r0 = 0; r0 < rows; r0 += kernelRows) {
      long n = Math.min(kernelRows, rows - r0);
      gemv.accept(x.narrow(r0, n), y.narrow(r0, n));
    }
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
   * A linear whose frozen weight is a quantized checkpoint's ({@link GptqWeight}, {@link Nf4Weight}, ...) for
   * inference or as the base of LoRA training; it takes ownership of {@code weight}.
   */
  public Linear(String name, QuantizedWeight weight, Parameter bias) {
    this.name = name;
    this.quantized = weight;
    this.bias = bias;
    this.outFeatures = weight.shape()[0];
    this.inFeatures = weight.shape()[1];
  }

  /** The GPTQ weight of a layer loaded from a GPTQ checkpoint, else null. */
  public GptqWeight gptqWeight() {
    return quantized instanceof GptqWeight g ? g : null;
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

  /** The frozen packed weight (NF4, GPTQ...), else null. */
  public QuantizedWeight quantizedWeight() {
    return quantized;
  }

  /**
   * The dense weight for one op: the parameter itself, or a dequantized copy in {@code tmp} (a Q-GaLore INT8
   * weight; a packed frozen weight where no op multiplies from the packed form, e.g. DoRA's row norms).
   */
  private Tensor denseWeight(Arena tmp) {
    if (weight != null && weight.isInt8()) {
      // Q-GaLore: a trained INT8 weight, dequantized per op like the frozen packed formats
      Tensor w = tmp.allocate(weight.computeDtype(), weight.value().device(), outFeatures, inFeatures);
      weight.dequantizeInt8Into(w);
      return w;
    }
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
      DoraLinear.rowNormOfSum(tmp, denseWeight(tmp), a, b, scale, norm, null);
    } catch (RuntimeException e) {
      norm.close();
      throw e;
    }
    return norm;
  }

  public void addAdapter(String adapterName, LoraAdapter adapter) {
    if (adapter.isBoft()) {
      BoftRotation r = adapter.boft();
      if (r.blockCount() * (long) r.blockSize() != inFeatures() || r.scale().value().size(0) != outFeatures())
        throw new IllegalArgumentException("BOFT adapter '" + adapterName + "' of " + name + ": "
            + r.blocks().name() + " " + r.blocks().value() + " / " + r.scale().name() + " " + r.scale().value()
            + " do not fit the layer's [" + outFeatures() + ", " + inFeatures() + "] weight (blocks x size must be "
            + inFeatures() + ", one scale per output)");
      put(adapterName, adapter);
      return;
    }
    if (adapter.isIa3()) {
      long want = adapter.ia3Feedforward() ? inFeatures() : outFeatures();
      if (adapter.ia3Vector().value().size(0) != want)
        throw new IllegalArgumentException("IA3 adapter '" + adapterName + "' of " + name + ": "
            + adapter.ia3Vector().name() + " " + adapter.ia3Vector().value() + " must have " + want + " values (the "
            + (adapter.ia3Feedforward() ? "inputs" : "outputs") + " of the layer's [" + outFeatures() + ", "
            + inFeatures() + "] weight)");
      put(adapterName, adapter);
      return;
    }
    Tensor a = adapter.aValue(), b = adapter.bValue();
    if (a.size(1) != inFeatures() || b.size(0) != outFeatures())
      throw new IllegalArgumentException("adapter '" + adapterName + "' of " + name + ": A " + a + " / B " + b
          + " do not fit the layer's [" + outFeatures() + ", " + inFeatures() + "] weight");
    put(adapterName, adapter);
  }

  /** Adds or replaces (closing the old one, and keeping it active if it was) an adapter. */
  private void put(String adapterName, LoraAdapter adapter) {
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
    if (inputObserver != null) inputObserver.accept(x.view(-1, inFeatures()));
    Saved keepXa = null;  // a checkpointed layer's first forward: nothing is kept but a plain LoRA adapter's xa
    Arena keepArena = null;
    if (saved != null && saved.xaArena != null) {
      keepXa = saved;
      keepArena = saved.xaArena;
      saved.xaArena = null;  // once: the recomputation is an ordinary forward
      saved = null;
    }
    long[] outShape = x.shape();
    outShape[outShape.length - 1] = outFeatures();
    Tensor y = arena.allocate(x.dtype(), x.device(), outShape);
    long rows = x.numel() / inFeatures();
    if (active == null && quantized != null && rows >= 1 && rows <= quantized.gemvMaxRows()) {
      // Decode: a few rows against a packed weight. The fused GEMV reads the 4-bit weight once; dequantizing first
      // would write and re-read a dense copy 4-8x its size for a handful of dot products.
      quantized.gemv(x.view(-1, inFeatures()), bias == null ? null : bias.value(), y.view(-1, outFeatures()));
      if (saved != null) saved.x = x;
      return y;
    }
    Tensor x2 = x.view(-1, inFeatures()), y2 = y.view(-1, outFeatures());
    try (Arena tmp = new Arena()) {
      if (active == null) {
        // A packed weight multiplies from its packed form (the tile GEMM for NF4 / GPTQ): no dense copy.
        if (quantized != null) {
          quantized.matmul(x2, y2, 0f);
        } else {
          Kernels.matmul(x2, false, denseWeight(tmp), true, y2, 1f, 0f);
        }
        if (bias != null) Kernels.addBias(y, bias.value());
      } else if (active.isBoft()) {
        BoftLinear.forward(active, quantized == null ? denseWeight(tmp) : null, quantized,
            bias == null ? null : bias.value(), arena, tmp, x2, y2, training, dropoutSeed, saved);
      } else if (active.isIa3()) {
        Ia3Linear.forward(active, quantized == null ? denseWeight(tmp) : null, quantized,
            bias == null ? null : bias.value(), tmp, x2, y2);
      } else if (active.isFourier()) {
        FourierLinear.forward(active, quantized == null ? denseWeight(tmp) : null, quantized,
            bias == null ? null : bias.value(), arena, tmp, x2, y2, dropoutSeed, saved);
      } else if (active.isScaled()) {
        ScaledLoraLinear.forward(active, quantized == null ? denseWeight(tmp) : null, quantized,
            bias == null ? null : bias.value(), arena, tmp, x2, y2, training ? active.dropout() : 0f, dropoutSeed, saved);
      } else if (active.isDora()) {
        // DoRA needs the dense W anyway (its row norms ||W + s B A||), so it keeps the dequantized path.
        DoraLinear.forward(active, denseWeight(tmp), bias == null ? null : bias.value(), arena, tmp, x2, y2,
            dropoutSeed, saved, training);
      } else if (quantized != null && saved != null && saved.xaKept) {
        // recomputation: xa = drop(x) A^T is the checkpointed forward's
        QuantizedLora.forwardFromXa(quantized, bias == null ? null : bias.value(), active, x2, saved.xa, y2);
      } else {
        boolean keep = keepXa != null;
        Arena xaArena = keep ? keepArena : saved != null ? arena : null;
        Tensor xa = xaArena == null ? null
            : xaArena.allocate(x.dtype(), x.device(), x.numel() / inFeatures(), active.rank());
        float p = training ? active.dropout() : 0f;
        if (quantized != null) {
          QuantizedLora.forward(quantized, bias == null ? null : bias.value(), active, tmp, x2, y2, p, dropoutSeed, xa);
        } else {
          Kernels.loraForward(x2, denseWeight(tmp), bias == null ? null : bias.value(), active.aValue(),
              active.bValue(), active.scale(), p, dropoutSeed, y2, xa);
        }
        if (keep) {
          keepXa.xa = xa;
          keepXa.xaKept = true;
        }
        if (saved != null) saved.xa = xa;
      }
    }
    if (saved != null) saved.x = x;
    return y;
  }

  /**
   * Records in {@code saved} what the backward needs from input x without computing the output, when that is x
   * alone: no active adapter, or a plain LoRA adapter whose xa the layer's checkpointed forward kept. Returns false
   * (nothing recorded) otherwise, e.g. for DoRA, whose backward needs factors of the output: then call
   * {@link #forward}.
   */
  public boolean recordInputOnly(Tensor x, Saved saved) {
    if (inputObserver != null || (active != null && (active.isDora() || !saved.xaKept))) return false;
    saved.x = x;
    return true;
  }

  /**
   * From dy [..., out]: dx (written, or added to when {@code accumulate}; null if not needed) and the gradients of
   * the trainable parameters (accumulated).
   */
  public void backward(Arena arena, Tensor dy, Saved saved, long dropoutSeed, Tensor dx, boolean accumulate) {
    Tensor dy2 = dy.view(-1, outFeatures());
    Tensor x2 = saved.x.view(-1, inFeatures());
    Tensor target = dx == null ? null : accumulate ? arena.allocate(dx.dtype(), dx.device(), dx.shape()) : dx;
    Tensor target2 = target == null ? null : target.view(-1, inFeatures());
    Tensor weightGrad = weight != null && weight.isTrainable() ? weight.grad() : null;
    try (Arena tmp = new Arena()) {
      if (active == null) {
        if (target2 != null) {
          if (quantized != null) {
            quantized.matmulBackward(dy2, target2, 0f);
          } else {
            Kernels.matmul(dy2, false, denseWeight(tmp), false, target2, 1f, 0f);
          }
        }
      } else if (active.isBoft()) {
        if (weightGrad != null)
          throw new IllegalStateException(name + ": training the weight under a BOFT adapter is not supported");
        BoftLinear.backward(active, quantized == null ? denseWeight(tmp) : null, quantized, tmp, dy2, saved, target2);
      } else if (active.isIa3()) {
        if (weightGrad != null)
          throw new IllegalStateException(name + ": training the weight under an IA3 adapter is not supported");
        Ia3Linear.backward(active, quantized == null ? denseWeight(tmp) : null, quantized,
            bias == null ? null : bias.value(), tmp, dy2, x2, target2);
      } else if (active.isFourier()) {
        FourierLinear.backward(active, quantized == null ? denseWeight(tmp) : null, quantized, tmp, dy2, x2, saved,
            dropoutSeed, target2);
      } else if (active.isScaled()) {
        ScaledLoraLinear.backward(active, quantized == null ? denseWeight(tmp) : null, quantized, tmp, dy2, x2, saved,
            dropoutSeed, target2);
      } else if (active.isDora()) {
        DoraLinear.backward(active, denseWeight(tmp), tmp, dy2, x2, saved, dropoutSeed, target2, weightGrad);
        weightGrad = null;  // done there: DoRA scales the rows of W's gradient too
      } else if (quantized != null) {
        QuantizedLora.backward(quantized, active, tmp, dy2, x2, saved.xa, active.dropout(), dropoutSeed, target2);
      } else {
        Kernels.loraBackward(dy2, x2, denseWeight(tmp), active.aValue(), active.bValue(), saved.xa, active.scale(),
            active.dropout(), dropoutSeed, target2, active.a().grad(), active.b().grad());
      }
    }
    if (accumulate && target != null) Kernels.axpby(1f, target, 1f, dx);
    if (weightGrad != null) Kernels.matmul(dy2, true, x2, false, weightGrad, 1f, 1f);
    if (bias != null && bias.isTrainable()) Kernels.sumRows(dy2, bias.grad());
  }

  // ---- calibration (GPTQ quantization, jswift.quant) ----

  private java.util.function.Consumer<Tensor> inputObserver;

  /**
   * An observer that sees every forward's input, as [tokens, in], before the layer uses it (GPTQ accumulates its
   * Hessian from the inputs of each layer it quantizes); null removes it. The tensor is only valid during the call.
   */
  public void setInputObserver(java.util.function.Consumer<Tensor> observer) {
    inputObserver = observer;
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
