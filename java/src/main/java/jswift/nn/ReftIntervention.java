package jswift.nn;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import jswift.tensor.Arena;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Kernels;
import jswift.tensor.Tensor;

/**
 * A ReFT intervention (Wu et al. 2024, arXiv 2404.03592) on a decoder layer's output h, at every position, as
 * ms-swift's {@code --train_type reft} places pyreft's interventions on {@code model.layers[i].output}. All six of
 * pyreft's kinds share one form, out = h + z Q, Q [r, hidden]:
 *
 * <pre>
 *   LoreftIntervention    h + R^T (act(W h + b) - R h)      Q = R^T, R orthonormal (trained through {@link HouseholderRotation})
 *   ConsreftIntervention  h + R^T (b - R h)                 b a trained vector
 *   LobireftIntervention  h + R^T b
 *   DireftIntervention    h + R^T act(W h + b)
 *   NoreftIntervention    h + P^T (act(W h + b) - (P h + p))  Q = P, a plain linear layer (p when add_bias)
 *   NodireftIntervention  h + P^T act(W h + b)
 * </pre>
 *
 * so z = source - (the projection, for the kinds that subtract it). W, b are pyreft's {@code learned_source}, P, p its
 * {@code proj_layer}. pyreft's dropout (reft_args {@code dropout}) applies to the whole output, as pyreft does. Owned
 * by the model, which frees it.
 */
public final class ReftIntervention implements AutoCloseable {
  /** pyreft's intervention classes. */
  public enum Kind {
    NOREFT(true, true, false), LOREFT(true, true, true), CONSREFT(false, true, true), LOBIREFT(false, false, true),
    DIREFT(true, false, true), NODIREFT(true, false, false);

    /** The source is a linear layer of h (else a trained constant vector). */
    public final boolean linearSource;
    /** z subtracts the projection of h. */
    public final boolean subtractsProjection;
    /** Q is an orthonormal rotation (else a plain linear layer). */
    public final boolean orthogonal;

    Kind(boolean linearSource, boolean subtractsProjection, boolean orthogonal) {
      this.linearSource = linearSource;
      this.subtractsProjection = subtractsProjection;
      this.orthogonal = orthogonal;
    }

    /** pyreft's class name (LoreftIntervention, ...). */
    public String className() {
      String n = name().toLowerCase(Locale.ROOT);
      return Character.toUpperCase(n.charAt(0)) + n.substring(1) + "Intervention";
    }

    /** By pyreft's class name; an unknown one lists the six. */
    public static Kind parse(String className) {
      for (Kind k : values()) if (k.className().equals(className)) return k;
      List<String> names = new ArrayList<>();
      for (Kind k : values()) names.add(k.className());
      throw new IllegalArgumentException("--reft_intervention_type " + className + " is not one of " + names);
    }
  }

  private final Kind kind;
  private final int hidden, rank;
  private final Parameter sourceWeight, sourceBias;  // W [r, hidden] (linear sources) and b [r]
  private final Parameter rotationParam;              // orthogonal: the Householder parameter A, f32 [hidden, r]
  private HouseholderRotation rotation;               // orthogonal: its fixed base and signs
  private final Parameter projWeight, projBias;       // plain: P [r, hidden] and p [r] (or null)
  private final Activation act;                       // null: pyreft's "linear"
  private final float dropout;
  private Tensor q;            // orthogonal: R^T [r, hidden] in the compute dtype, built from A's values qFrom
  private float[] qFrom;
  private boolean qStale = true;

  /** What the backward reads. */
  public static final class Saved {
    Tensor h, u, z;
    long seed;
    float[] rotationParam;  // A's values in this step: the recomputation and the backward reuse them
  }

  private ReftIntervention(Kind kind, int hidden, int rank, Parameter sourceWeight, Parameter sourceBias,
      Parameter rotationParam, HouseholderRotation rotation, Parameter projWeight, Parameter projBias, Activation act,
      float dropout) {
    if (dropout < 0 || dropout >= 1) throw new IllegalArgumentException("reft dropout must be in [0, 1), got " + dropout);
    this.kind = kind;
    this.hidden = hidden;
    this.rank = rank;
    this.sourceWeight = sourceWeight;
    this.sourceBias = sourceBias;
    this.rotationParam = rotationParam;
    this.rotation = rotation;
    this.projWeight = projWeight;
    this.projBias = projBias;
    this.act = act;
    this.dropout = dropout;
  }

  /**
   * An intervention from its tensors (by kind: W and b, or the vector b; A with its {@link HouseholderRotation}, or P
   * and p), shapes checked against {@code hidden} and the rank.
   */
  public static ReftIntervention of(Kind kind, int hidden, Parameter sourceWeight, Parameter sourceBias,
      Parameter rotationParam, HouseholderRotation rotation, Parameter projWeight, Parameter projBias,
      Activation act, float dropout) {
    int rank = (int) sourceBias.value().size(0);
    check(sourceBias, rank);
    if (kind.linearSource) check(sourceWeight, rank, hidden);
    if (kind.orthogonal) {
      check(rotationParam, hidden, rank);
      if (rotationParam.value().dtype() != DType.F32)
        throw new IllegalArgumentException(rotationParam.name() + " must be float32");
      if (rotation.rows() != hidden || rotation.columns() != rank)
        throw new IllegalArgumentException(rotationParam.name() + ": the rotation's base is " + rotation.rows() + " x "
            + rotation.columns() + ", the intervention needs " + hidden + " x " + rank);
    } else {
      check(projWeight, rank, hidden);
      if (projBias != null) check(projBias, rank);
    }
    return new ReftIntervention(kind, hidden, rank, kind.linearSource ? sourceWeight : null, sourceBias,
        kind.orthogonal ? rotationParam : null, kind.orthogonal ? rotation : null,
        kind.orthogonal ? null : projWeight, kind.orthogonal ? null : projBias, act, dropout);
  }

  private static void check(Parameter p, long... shape) {
    if (p == null) throw new IllegalArgumentException("a ReFT intervention of this kind needs a tensor of shape "
        + java.util.Arrays.toString(shape));
    if (!java.util.Arrays.equals(p.value().shape(), shape))
      throw new IllegalArgumentException(p.name() + " is " + java.util.Arrays.toString(p.value().shape())
          + ", the intervention needs " + java.util.Arrays.toString(shape));
  }

  /**
   * pyreft's initialisation for a {@code hidden}-wide layer at rank {@code rank}, names under {@code prefix}:
   * linear layers as torch.nn.Linear (weights and biases U(-1/sqrt(hidden), 1/sqrt(hidden))), the constant source
   * U[0, 1) (torch.rand), the rotation a uniformly random orthonormal R with A = 0; from a seeded generator.
   */
  public static ReftIntervention initialised(String prefix, Kind kind, int hidden, int rank, Activation act,
      float dropout, boolean addBias, long seed, DType dtype, Device device) {
    java.util.SplittableRandom g = new java.util.SplittableRandom(seed);
    double bound = 1 / Math.sqrt(hidden);
    Parameter w = null, b, a = null, p = null, pb = null;
    HouseholderRotation rot = null;
    if (kind.linearSource) {
      w = BottleneckAdapter.param(prefix + "learned_source.weight", uniform(g, rank * hidden, -bound, bound), dtype,
          device, rank, hidden);
      b = BottleneckAdapter.param(prefix + "learned_source.bias", uniform(g, rank, -bound, bound), dtype, device, rank);
    } else {
      b = BottleneckAdapter.param(prefix + "learned_source", uniform(g, rank, 0, 1), dtype, device, rank);
    }
    if (kind.orthogonal) {
      rot = HouseholderRotation.random(hidden, rank, g.nextLong());
      a = BottleneckAdapter.param(prefix + ROTATION, new float[hidden * rank], DType.F32, device, hidden, rank);
    } else {
      p = BottleneckAdapter.param(prefix + "proj_layer.weight", uniform(g, rank * hidden, -bound, bound), dtype,
          device, rank, hidden);
      if (addBias)
        pb = BottleneckAdapter.param(prefix + "proj_layer.bias", uniform(g, rank, -bound, bound), dtype, device, rank);
    }
    return of(kind, hidden, w, b, a, rot, p, pb, act, dropout);
  }

  /** The name (after the layer's prefix) of the orthogonal kinds' trained Householder parameter. */
  public static final String ROTATION = "rotate_layer.householder";

  private static float[] uniform(java.util.SplittableRandom g, int n, double lo, double hi) {
    float[] out = new float[n];
    for (int i = 0; i < n; i++) out[i] = (float) g.nextDouble(lo, hi);
    return out;
  }

  public Kind kind() {
    return kind;
  }

  /** The width of the representation it edits (the model's hidden size). */
  public int hidden() {
    return hidden;
  }

  public int rank() {
    return rank;
  }

  public Activation activation() {
    return act;
  }

  public float dropout() {
    return dropout;
  }

  /** The orthogonal kinds' fixed base and signs (null for the plain kinds). */
  public HouseholderRotation rotation() {
    return rotation;
  }

  /**
   * Makes the next forward re-read the rotation's parameter: an inference forward otherwise reuses R as the last
   * training forward (or the load) left it, since only an optimizer step, which follows a training forward, moves it.
   * For code that changes the parameter's value by hand.
   */
  public void invalidate() {
    qStale = true;
  }

  /** Replaces the rotation's base and signs (a resumed run takes the checkpoint's); Q is re-read from A. */
  public void setRotation(HouseholderRotation r) {
    if (!kind.orthogonal) throw new IllegalStateException(kind.className() + " has no rotation");
    if (r.rows() != hidden || r.columns() != rank)
      throw new IllegalArgumentException("the rotation is " + r.rows() + " x " + r.columns() + ", the intervention "
          + "needs " + hidden + " x " + rank);
    rotation = r;
    qStale = true;
    qFrom = null;  // q must be rebuilt on the new base even from the same A
  }

  /** The trained tensors: W, b (or the vector b), then A or P (and p). */
  public List<Parameter> parameters() {
    List<Parameter> out = new ArrayList<>();
    if (sourceWeight != null) out.add(sourceWeight);
    out.add(sourceBias);
    if (rotationParam != null) out.add(rotationParam);
    if (projWeight != null) out.add(projWeight);
    if (projBias != null) out.add(projBias);
    return out;
  }

  /** R [hidden, r] as floats (the orthogonal kinds; pyreft's {@code rotate_layer} weight), from A's current value. */
  public float[] rotationMatrix() {
    return rotation.rotation(rotationParamValues());
  }

  /** A's current values (its fp32 master when trained): a device-to-host copy. */
  private float[] rotationParamValues() {
    Parameter a = rotationParam;
    return (a.master() != null ? a.master() : a.value()).toFloatArray();
  }

  /** Q [r, hidden] in the compute dtype: R^T for A's values {@code a} (rebuilt when they are not q's), or P. */
  private Tensor q(DType dtype, Device device, float[] a) {
    if (!kind.orthogonal) return projWeight.value();
    if (q == null || a != qFrom) {
      float[] r = rotation.rotation(a);
      float[] rt = new float[r.length];
      for (int i = 0; i < hidden; i++)
        for (int k = 0; k < rank; k++) rt[k * hidden + i] = r[i * rank + k];
      if (q == null) q = Tensor.allocate(dtype, device, rank, hidden);
      q.copyFrom(rt);
      qFrom = a;
    }
    return q;
  }

  /**
   * A's values for this forward: a training step reads them once (its recomputation reuses them: the optimizer moves
   * A only between steps), inference reuses q's unless a training step or {@link #invalidate} came since.
   */
  private float[] rotationParamFor(Saved s) {
    if (!kind.orthogonal) return null;
    if (s != null) {
      if (s.rotationParam == null) s.rotationParam = rotationParamValues();
      qStale = true;  // an optimizer step follows: the next inference re-reads A
      return s.rotationParam;
    }
    if (q == null || qStale) {
      qStale = false;
      return rotationParamValues();
    }
    return qFrom;
  }

  /**
   * h [tokens, hidden] -> the intervened output (a new tensor in {@code a}); {@code s} (or null for inference) keeps
   * what the backward reads. A training step re-reads the rotation (the optimizer may have moved it).
   */
  public Tensor forward(Arena a, Tensor h, Saved s, long seed) {
    boolean training = s != null;
    long n = h.size(0);
    Tensor qm = q(h.dtype(), h.device(), rotationParamFor(s));
    Tensor z = a.allocate(h.dtype(), h.device(), n, rank), u = null;
    if (kind.linearSource) {
      u = a.allocate(h.dtype(), h.device(), n, rank);
      Kernels.matmul(h, false, sourceWeight.value(), true, u, 1f, 0f);
      Kernels.addBias(u, sourceBias.value());
      if (act != null) Kernels.activationForward(act.code(), u, z);
      else z.copyFrom(u);
    } else {
      z.zero();
      Kernels.addBias(z, sourceBias.value());
    }
    if (kind.subtractsProjection) {
      Tensor v = a.allocate(h.dtype(), h.device(), n, rank);
      Kernels.matmul(h, false, qm, true, v, 1f, 0f);
      if (projBias != null) Kernels.addBias(v, projBias.value());
      Kernels.axpby(-1f, v, 1f, z);
    }
    Tensor out = a.allocate(h.dtype(), h.device(), h.shape());
    out.copyFrom(h);
    Kernels.matmul(z, false, qm, false, out, 1f, 1f);
    if (training && dropout > 0) Kernels.dropout(out, dropout, seed, out);
    if (s != null) {
      s.h = h;
      s.u = u;
      s.z = z;
      s.seed = seed;
    }
    return out;
  }

  /** dOut [tokens, hidden] -> the gradient of h (new tensor in a); trainable tensors' gradients accumulate. */
  public Tensor backward(Arena a, Tensor dOut, Saved s) {
    long n = dOut.size(0);
    DType dt = dOut.dtype();
    Device dev = dOut.device();
    Tensor g = dOut;
    if (dropout > 0) {
      g = a.allocate(dt, dev, dOut.shape());
      Kernels.dropout(dOut, dropout, s.seed, g);
    }
    Tensor qm = kind.orthogonal ? q : projWeight.value();  // what the forward used
    Tensor dz = a.allocate(dt, dev, n, rank);
    Kernels.matmul(g, false, qm, true, dz, 1f, 0f);
    Tensor dh = a.allocate(dt, dev, dOut.shape());
    dh.copyFrom(g);
    // Q's gradient: z^T g, minus dz^T h where z subtracts h's projection
    boolean qTrainable = kind.orthogonal ? rotationParam.isTrainable() : projWeight.isTrainable();
    if (qTrainable) {
      Tensor dq = kind.orthogonal ? a.allocate(DType.F32, dev, rank, hidden) : projWeight.grad();
      Kernels.matmul(s.z, true, g, false, dq, 1f, kind.orthogonal ? 0f : 1f);
      if (kind.subtractsProjection) Kernels.matmul(dz, true, s.h, false, dq, -1f, 1f);
      if (kind.orthogonal) addRotationGrad(a, dq, s.rotationParam);
    }
    if (kind.subtractsProjection) {
      Kernels.matmul(dz, false, qm, false, dh, -1f, 1f);
      if (projBias != null && projBias.isTrainable()) {
        Tensor sum = a.allocate(DType.F32, dev, rank);
        sum.zero();
        Kernels.sumRows(dz, sum);
        Kernels.axpby(-1f, sum, 1f, projBias.grad());
      }
    }
    if (kind.linearSource) {
      Tensor du = dz;
      if (act != null) {
        du = a.allocate(dt, dev, n, rank);
        Kernels.activationBackward(act.code(), s.u, dz, du);
      }
      if (sourceWeight.isTrainable()) Kernels.matmul(du, true, s.h, false, sourceWeight.grad(), 1f, 1f);
      if (sourceBias.isTrainable()) Kernels.sumRows(du, sourceBias.grad());
      Kernels.matmul(du, false, sourceWeight.value(), false, dh, 1f, 1f);
    } else if (sourceBias.isTrainable()) {
      Kernels.sumRows(dz, sourceBias.grad());
    }
    return dh;
  }

  /** dQ = dR^T [r, hidden] (f32 on the device) -> A's gradient, through the Householder map on the host. */
  private void addRotationGrad(Arena a, Tensor dq, float[] rotationParamValues) {
    float[] dqt = dq.toFloatArray(), dr = new float[hidden * rank];
    for (int k = 0; k < rank; k++)
      for (int i = 0; i < hidden; i++) dr[i * rank + k] = dqt[k * hidden + i];
    float[] da = rotation.gradient(rotationParamValues, dr);
    Tensor t = a.allocate(DType.F32, dq.device(), hidden, rank);
    t.copyFrom(da);
    Kernels.axpby(1f, t, 1f, rotationParam.grad());
  }

  @Override
  public void close() {
    for (Parameter p : parameters()) p.close();
    if (q != null) q.close();
    q = null;
  }
}
