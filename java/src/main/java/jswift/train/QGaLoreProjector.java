package jswift.train;

import java.util.LinkedHashMap;
import java.util.Map;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Kernels;
import jswift.tensor.Tensor;

/**
 * Q-GaLore's projector (q_galore_projector.py) for one m x n weight: GaLore's "std" projector ({@link
 * GaLoreProjector} computes P at each refresh), kept between refreshes as INT4 codes (asymmetric min-max groups,
 * {@link Kernels#minmaxQuantize}) and dequantized into a temporary for each projection, and refreshed lazily: after
 * each SVD the cosine similarity of P's first singular vector (row 0 of Vh[:r], or column 0 of U[:, :r]) with the
 * previous refresh's joins a queue of the last {@code queue_size}; when the queue is full and its mean is at least
 * {@code cos_threshold}, the update gap is multiplied by {@code gamma_proj}. As in Q-GaLore, a refresh is due when
 * (step - 1) is a multiple of the current gap, and the cosine is signed (a singular vector whose sign flipped counts
 * as dissimilar).
 *
 * <p>Everything a resumed run needs is in {@link #stateTensors}: the codes, scales and zeros (or the fp32 P without
 * {@code galore_proj_quant}) and {@code galore_lazy_state}, a small host vector [gap, refreshes, queue length,
 * queue..., previous first vector...].
 */
final class QGaLoreProjector implements LowRankProjector {
  private final long m, n;
  private final boolean right;
  private final GaLoreConfig config;
  private final QGaLoreConfig q;
  private final Device device;
  private final long[] shape;
  private final Tensor codes, scales, zeros;   // with proj_quant
  private final Tensor fp;                      // without
  private final Tensor lazy;                    // host f32: gap, refreshes, queue length, queue[Q], previous vector
  private final int vectorLength;

  QGaLoreProjector(long m, long n, GaLoreConfig config, QGaLoreConfig q, Device device) {
    this.m = m;
    this.n = n;
    this.right = m >= n;
    this.config = config;
    this.q = q;
    this.device = device;
    this.shape = config.projectorShape(m, n);
    long numel = shape[0] * shape[1];
    if (q.projQuant()) {
      codes = Tensor.zeros(DType.U8, device, Kernels.minmaxCodeBytes(numel, q.projBits()));
      long groups = (numel + q.projGroupSize() - 1) / q.projGroupSize();
      scales = Tensor.zeros(DType.F32, device, groups);
      zeros = Tensor.zeros(DType.F32, device, groups);
      fp = null;
    } else {
      codes = scales = zeros = null;
      fp = Tensor.zeros(DType.F32, device, shape);
    }
    vectorLength = (int) (right ? n : m);
    lazy = Tensor.zeros(DType.F32, Device.CPU, 3 + q.queueSize() + vectorLength);
    float[] init = new float[(int) lazy.numel()];
    init[0] = config.updateProjGap();
    lazy.copyFrom(init);
  }

  /** The current update gap (galore_update_proj_gap times gamma_proj for each doubling so far). */
  int gap() {
    return (int) lazy.toFloatArray()[0];
  }

  /** How many SVDs this projector took. */
  int refreshes() {
    return (int) lazy.toFloatArray()[1];
  }

  /** The cosine similarities in the queue, oldest first. */
  float[] queue() {
    float[] s = lazy.toFloatArray();
    return java.util.Arrays.copyOfRange(s, 3, 3 + (int) s[2]);
  }

  /** True when a refresh is due at this (1-based) step of the weight. */
  boolean dueAt(long step) {
    return (step - 1) % gap() == 0;
  }

  @Override
  public void refresh(Tensor grad) {
    try (GaLoreProjector fresh = new GaLoreProjector(m, n, config, device)) {
      fresh.refresh(grad);
      Tensor p = fresh.matrix();
      updateGap(firstVector(p.toFloatArray()));
      if (q.projQuant()) Kernels.minmaxQuantize(p, q.projGroupSize(), q.projBits(), false, 0, codes, scales, zeros);
      else fp.copyFrom(p);
    }
  }

  /** Row 0 of Vh[:r] [r, n], or column 0 of U[:, :r] [m, r]. */
  private float[] firstVector(float[] p) {
    float[] v = new float[vectorLength];
    if (right) System.arraycopy(p, 0, v, 0, vectorLength);
    else for (int i = 0; i < vectorLength; i++) v[i] = p[(int) (i * shape[1])];
    return v;
  }

  /** Q-GaLore's lazy rule: queue the cosine with the previous first vector; a full queue with a high mean widens the gap. */
  private void updateGap(float[] v) {
    float[] s = lazy.toFloatArray();
    int queueSize = q.queueSize(), prev = 3 + queueSize;
    if (s[1] > 0) {
      double dot = 0, a = 0, b = 0;
      for (int i = 0; i < vectorLength; i++) {
        dot += (double) s[prev + i] * v[i];
        a += (double) s[prev + i] * s[prev + i];
        b += (double) v[i] * v[i];
      }
      float cos = (float) (dot / Math.max(Math.sqrt(a) * Math.sqrt(b), 1e-8));   // torch's cosine_similarity eps
      int len = (int) s[2];
      if (len == queueSize) {
        System.arraycopy(s, 4, s, 3, queueSize - 1);
        len--;
      }
      s[3 + len] = cos;
      s[2] = ++len;
      double sum = 0;
      for (int i = 0; i < len; i++) sum += s[3 + i];
      if (len == queueSize && sum / queueSize >= q.cosThreshold()) s[0] = (float) ((long) s[0] * q.gammaProj());
    }
    s[1]++;
    System.arraycopy(v, 0, s, prev, vectorLength);
    lazy.copyFrom(s);
  }

  /** P in fp32, dequantized into a new tensor (the caller closes it), or the stored fp32 P itself. */
  private Tensor matrix() {
    if (!q.projQuant()) return fp;
    Tensor p = Tensor.allocate(DType.F32, device, shape);
    Kernels.minmaxDequantize(codes, scales, zeros, q.projGroupSize(), q.projBits(), p);
    return p;
  }

  /** P as the projections use it (dequantized), copied to the host: for tests. */
  float[] dequantized() {
    Tensor p = matrix();
    try {
      return p.toFloatArray();
    } finally {
      if (p != fp) p.close();
    }
  }

  @Override
  public void project(Tensor grad, Tensor low) {
    Tensor p = matrix();
    try {
      if (right) Kernels.matmul(grad, false, p, true, low, 1f, 0f);
      else Kernels.matmul(p, true, grad, false, low, 1f, 0f);
    } finally {
      if (p != fp) p.close();
    }
  }

  @Override
  public void projectBackInto(Tensor low, float alpha, Tensor target) {
    Tensor p = matrix();
    try {
      if (right) Kernels.matmul(low, false, p, false, target, alpha, 1f);
      else Kernels.matmul(p, false, low, false, target, alpha, 1f);
    } finally {
      if (p != fp) p.close();
    }
  }

  @Override
  public Map<String, Tensor> stateTensors() {
    Map<String, Tensor> out = new LinkedHashMap<>();
    if (q.projQuant()) {
      out.put("galore_projector_codes", codes);
      out.put("galore_projector_scales", scales);
      out.put("galore_projector_zeros", zeros);
    } else {
      out.put("galore_projector", fp);
    }
    out.put("galore_lazy_state", lazy);
    return out;
  }

  @Override
  public void close() {
    for (Tensor t : new Tensor[] {codes, scales, zeros, fp, lazy}) if (t != null) t.close();
  }
}
