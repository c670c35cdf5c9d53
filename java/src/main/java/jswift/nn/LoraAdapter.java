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
 *
 * <p>A VeRA adapter ({@link #vera}) scales the low-rank path by two f32 vectors instead:
 * y = x W^T + b ⊙ ((d ⊙ (drop(x) A^T)) B^T), with d [rank] ({@code vera_lambda_d}) and b [out]
 * ({@code vera_lambda_b}) trained and A, B slices of the model-wide random projections, frozen and not owned by
 * the adapter ({@link ScaledLoraLinear} has the math). An AdaLoRA adapter ({@link #adaLora}) trains A, B and its
 * singular values E (f32 [rank], PEFT's {@code lora_E}): y = x W^T + s ((E ⊙ (drop(x) A^T)) B^T). A FourierFT
 * adapter ({@link #fourier}) is the same path over fixed spectral bases, its coefficients trained.
 */
public final class LoraAdapter implements AutoCloseable {
  private final Parameter a;
  private final Parameter b;
  private final Parameter magnitude;  // null for plain LoRA
  private final Parameter rankScale;  // VeRA's lambda_d or AdaLoRA's E [rank], else null
  private final Parameter outScale;   // VeRA's lambda_b [out], else null
  private final float scale;
  private final float dropout;
  private final Parameter ia3Vector;  // (IA)^3's scale of the input (feedforward) or the output, else null
  private final boolean ia3Feedforward;
  private final BoftRotation boft;    // a BOFT adapter's rotation and scale, else null
  private final Parameter spectrum;   // a FourierFT adapter's coefficients c [n] (rankScale is then [c; c]), else null
  private final FourierBases.Pair fourierBases;  // ... and its shape's bases (a and b are its A and B), else null
  private final boolean miss;         // a MiSS adapter: A is the model's shared tiles (MissTiles), B its block^T

  public LoraAdapter(Parameter a, Parameter b, float scale, float dropout) {
    this(a, b, null, scale, dropout);
  }

  /** A DoRA adapter when {@code magnitude} (f32 [out]) is not null, else plain LoRA. */
  public LoraAdapter(Parameter a, Parameter b, Parameter magnitude, float scale, float dropout) {
    this(a, b, magnitude, null, null, scale, dropout);
  }

  /**
   * A VeRA adapter over the shared projections' slices A [rank, in] and B [out, rank] (frozen, owned elsewhere) with
   * its vectors lambda_d (f32 [rank]) and lambda_b (f32 [out]).
   */
  public static LoraAdapter vera(Parameter a, Parameter b, Parameter lambdaD, Parameter lambdaB, float dropout) {
    checkVector(lambdaD, a.value().size(0), "rank (rows of A " + a.value() + ")");
    checkVector(lambdaB, b.value().size(0), "output (rows of B " + b.value() + ")");
    return new LoraAdapter(a, b, null, lambdaD, lambdaB, 1f, dropout);
  }

  /**
   * An AdaLoRA adapter (PEFT's SVDLinear): A [rank, in], B [out, rank], the singular values E (f32 [rank]) and
   * s = lora_alpha / (init_r + 1e-5).
   */
  public static LoraAdapter adaLora(Parameter a, Parameter b, Parameter e, float scale, float dropout) {
    checkVector(e, a.value().size(0), "rank (rows of A " + a.value() + ")");
    return new LoraAdapter(a, b, null, e, null, scale, dropout);
  }

  private static void checkVector(Parameter v, long n, String what) {
    Tensor t = v.value();
    if (t.rank() != 1 || t.size(0) != n || t.dtype() != DType.F32)
      throw new IllegalArgumentException(v.name() + " must be float32 [" + n + "], one value per " + what + ", got "
          + t);
  }

  /**
   * An (IA)^3 adapter (PEFT's IA3 Linear): one f32 vector l that rescales the layer's input, x ⊙ l [in], for a
   * feedforward module, or its output, (x W^T + b) ⊙ l [out], for the others. It has no low-rank pair.
   */
  public static LoraAdapter ia3(Parameter l, boolean feedforward) {
    Tensor t = l.value();
    if (t.rank() != 1 || t.dtype() != DType.F32)
      throw new IllegalArgumentException("IA3 " + l.name() + " must be a float32 vector, got " + t);
    return new LoraAdapter(l, feedforward);
  }

  /**
   * A BOFT adapter (PEFT's BOFT Linear): the layer's input rotated by an orthogonal butterfly product and its
   * outputs scaled, y = s ⊙ (x R W^T) + b ({@link BoftRotation}); no low-rank pair.
   */
  public static LoraAdapter boft(BoftRotation rotation) {
    return new LoraAdapter(rotation);
  }

  /**
   * A FourierFT adapter (PEFT's FourierFTLinear): the trained spectral coefficients c (f32 [n], PEFT's
   * {@code fourierft_spectrum}) over the fixed bases A [2n, in] and B [out, 2n] of the layer's shape (frozen, owned
   * by the model's {@link FourierBases}), y = x W^T + s ((d ⊙ (x A^T)) B^T) with d = [c; c], no dropout. d is this
   * adapter's own f32 [2n] vector, refreshed from c before each forward ({@link FourierLinear}).
   */
  public static LoraAdapter fourier(Parameter spectrum, FourierBases.Pair bases, float scale) {
    Parameter basisA = bases.a(), basisB = bases.b();
    long n = basisA.value().size(0) / 2;
    checkVector(spectrum, n, "frequency (half the rows of the basis " + basisA.value() + ")");
    Parameter doubled = new Parameter(spectrum.name() + "[c; c]", Tensor.zeros(DType.F32, spectrum.value().device(),
        2 * n));
    try {
      return new LoraAdapter(basisA, basisB, null, doubled, null, null, false, null, spectrum, bases, false, scale,
          checkLowRank(basisA, basisB, null, 0f));
    } catch (RuntimeException e) {
      doubled.close();
      throw e;
    }
  }

  /**
   * A MiSS adapter (PEFT's MissLinear, formerly Bone): y = x W^T + drop(x) A^T B with A [r, in] the tiled identities
   * of {@link MissTiles} (frozen, owned by the model) and B [out, r] the trained miss_block^T; plain LoRA at scale 1
   * to the kernels.
   */
  public static LoraAdapter miss(Parameter tiles, Parameter b, float dropout) {
    return new LoraAdapter(tiles, b, null, null, null, null, false, null, null, null, true, 1f,
        checkLowRank(tiles, b, null, dropout));
  }

  private LoraAdapter(BoftRotation rotation) {
    this(null, null, null, null, null, null, false, java.util.Objects.requireNonNull(rotation, "rotation"), null,
        null, false, 1, rotation.dropout());
  }

  private LoraAdapter(Parameter ia3, boolean feedforward) {
    this(null, null, null, null, null, ia3, feedforward, null, null, null, false, 1, 0);
  }

  private LoraAdapter(Parameter a, Parameter b, Parameter magnitude, Parameter rankScale, Parameter outScale,
      float scale, float dropout) {
    this(a, b, magnitude, rankScale, outScale, null, false, null, null, null, false, scale,
        checkLowRank(a, b, magnitude, dropout));
  }

  /** Every field; each kind's constructor above leaves the others' null. */
  private LoraAdapter(Parameter a, Parameter b, Parameter magnitude, Parameter rankScale, Parameter outScale,
      Parameter ia3Vector, boolean ia3Feedforward, BoftRotation boft, Parameter spectrum, FourierBases.Pair fourierBases,
      boolean miss, float scale, float dropout) {
    this.a = a;
    this.b = b;
    this.magnitude = magnitude;
    this.rankScale = rankScale;
    this.outScale = outScale;
    this.ia3Vector = ia3Vector;
    this.ia3Feedforward = ia3Feedforward;
    this.boft = boft;
    this.spectrum = spectrum;
    this.fourierBases = fourierBases;
    this.miss = miss;
    this.scale = scale;
    this.dropout = dropout;
  }

  /** Checks a low-rank pair (and DoRA's magnitude, when not null); returns the dropout, checked too. */
  private static float checkLowRank(Parameter a, Parameter b, Parameter magnitude, float dropout) {
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
    return dropout;
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

  /** A VeRA adapter: A and B are the shared projections' slices, and lambda_d / lambda_b scale the path. */
  public boolean isVera() {
    return outScale != null;
  }

  /** The low-rank path is scaled per rank: VeRA, AdaLoRA or FourierFT. */
  public boolean isScaled() {
    return rankScale != null;
  }

  /** An AdaLoRA adapter: A, B and the singular values E trained. */
  public boolean isAdaLora() {
    return rankScale != null && outScale == null && spectrum == null;
  }

  /** A FourierFT adapter: fixed spectral bases A and B, the coefficients {@link #spectrum} trained. */
  public boolean isFourier() {
    return spectrum != null;
  }

  /** A MiSS adapter: A is the shared tiled identities, B = miss_block^T trained. */
  public boolean isMiss() {
    return miss;
  }

  /** FourierFT's bases (shared by the layers of its shape; the model owns them), else null. */
  public FourierBases.Pair fourierBases() {
    return fourierBases;
  }

  /** FourierFT's coefficients c (f32 [n]), else null. */
  public Parameter spectrum() {
    return spectrum;
  }

  /** An (IA)^3 adapter: no A and B, one vector that scales the input ({@link #ia3Feedforward}) or the output. */
  public boolean isIa3() {
    return ia3Vector != null;
  }

  /** A BOFT adapter: no A and B, a rotation of the input and a scale of the output ({@link #boft}). */
  public boolean isBoft() {
    return boft != null;
  }

  /** BOFT's rotation and scale, else null. */
  public BoftRotation boft() {
    return boft;
  }

  /** IA3: whether the vector scales the input (a feedforward module) rather than the output. */
  public boolean ia3Feedforward() {
    return ia3Feedforward;
  }

  /** IA3's vector, else null. */
  public Parameter ia3Vector() {
    return ia3Vector;
  }

  /** VeRA's lambda_d, AdaLoRA's E or FourierFT's [c; c] (f32 [rank]), else null. */
  public Parameter rankScale() {
    return rankScale;
  }

  /** VeRA's lambda_b (f32 [out]), else null. */
  public Parameter outScale() {
    return outScale;
  }

  /**
   * The parameters of this adapter alone (A and B too unless they are VeRA's shared projections, FourierFT's
   * bases or MiSS's tiles).
   */
  public java.util.List<Parameter> ownParameters() {
    java.util.List<Parameter> out = new java.util.ArrayList<>();
    if (boft != null) {
      out.add(boft.blocks());
      out.add(boft.scale());
    } else if (ia3Vector != null) {
      out.add(ia3Vector);
    } else if (isVera()) {
      out.add(rankScale);
      out.add(outScale);
    } else if (spectrum != null) {
      out.add(spectrum);
    } else if (miss) {
      out.add(b);
    } else {
      out.add(a);
      out.add(b);
      if (magnitude != null) out.add(magnitude);
      if (rankScale != null) out.add(rankScale);  // AdaLoRA's E
    }
    return out;
  }

  /** The rank of the low-rank pair (0 for IA3 and BOFT, which have none). */
  public int rank() {
    return a == null ? 0 : (int) a.value().size(0);
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
    if (boft != null) boft.close();  // its parameters and its permutations
    else ownParameters().forEach(Parameter::close);  // VeRA's projections belong to the model (VeraProjections)
    if (spectrum != null) rankScale.close();  // FourierFT's [c; c]; its bases belong to the model (FourierBases)
  }
}
