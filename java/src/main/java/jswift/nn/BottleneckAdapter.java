package jswift.nn;

import java.util.List;
import jswift.tensor.Arena;
import jswift.tensor.DType;
import jswift.tensor.Kernels;
import jswift.tensor.Tensor;

/**
 * A bottleneck adapter (Houlsby et al. 2019, arXiv 1902.00751) after a layer's MLP, as ms-swift's
 * {@code --train_type adapter} places it (its AdapterModule on each {@code mlp}): y + linear2(act(linear1(y))),
 * linear1 [length, hidden] and linear2 [hidden, length] with biases. Unlike LoRA it does not start as the identity:
 * ms-swift initialises both weights Xavier-uniform and the biases N(0, 1e-6). Nonlinear, so it cannot be merged into
 * the weights. Owned by the model, which frees it.
 */
public final class BottleneckAdapter implements AutoCloseable {
  private final Parameter w1, b1, w2, b2;
  private final Activation act;

  /** What the backward reads: the input, linear1's output and the activation. */
  public static final class Saved {
    Tensor y, h, a;
  }

  public BottleneckAdapter(Parameter w1, Parameter b1, Parameter w2, Parameter b2, Activation act) {
    long length = w1.value().size(0), hidden = w1.value().size(1);
    checkShape(b1, length);
    checkShape(w2, hidden, length);
    checkShape(b2, hidden);
    this.w1 = w1;
    this.b1 = b1;
    this.w2 = w2;
    this.b2 = b2;
    this.act = act;
  }

  private static void checkShape(Parameter p, long... shape) {
    if (!java.util.Arrays.equals(p.value().shape(), shape))
      throw new IllegalArgumentException(p.name() + " is " + java.util.Arrays.toString(p.value().shape()) + ", the "
          + "adapter needs " + java.util.Arrays.toString(shape));
  }

  /** linear1.weight, linear1.bias, linear2.weight, linear2.bias. */
  public List<Parameter> parameters() {
    return List.of(w1, b1, w2, b2);
  }

  public Activation activation() {
    return act;
  }

  /** The bottleneck width (ms-swift's adapter_length). */
  public long length() {
    return w1.value().size(0);
  }

  /** y [tokens, hidden] -> y + linear2(act(linear1(y))) (new tensor in a); s (or null) keeps what backward reads. */
  public Tensor forward(Arena a, Tensor y, Saved s) {
    long n = y.size(0);
    Tensor h = a.allocate(y.dtype(), y.device(), n, length());
    Kernels.matmul(y, false, w1.value(), true, h, 1f, 0f);
    Kernels.addBias(h, b1.value());
    Tensor hAct = a.allocate(y.dtype(), y.device(), n, length());
    Kernels.activationForward(act.code(), h, hAct);
    Tensor out = a.allocate(y.dtype(), y.device(), y.shape());
    out.copyFrom(y);
    Kernels.matmul(hAct, false, w2.value(), true, out, 1f, 1f);
    Kernels.addBias(out, b2.value());
    if (s != null) {
      s.y = y;
      s.h = h;
      s.a = hAct;
    }
    return out;
  }

  /** dOut [tokens, hidden] -> dy (new tensor in a); the four gradients accumulate when trainable. */
  public Tensor backward(Arena a, Tensor dOut, Saved s) {
    long n = dOut.size(0);
    if (w2.isTrainable()) Kernels.matmul(dOut, true, s.a, false, w2.grad(), 1f, 1f);
    if (b2.isTrainable()) Kernels.sumRows(dOut, b2.grad());
    Tensor dh = a.allocate(dOut.dtype(), dOut.device(), n, length());
    Kernels.matmul(dOut, false, w2.value(), false, dh, 1f, 0f);
    Kernels.activationBackward(act.code(), s.h, dh, dh);
    if (w1.isTrainable()) Kernels.matmul(dh, true, s.y, false, w1.grad(), 1f, 1f);
    if (b1.isTrainable()) Kernels.sumRows(dh, b1.grad());
    Tensor dy = a.allocate(dOut.dtype(), dOut.device(), dOut.shape());
    dy.copyFrom(dOut);
    Kernels.matmul(dh, false, w1.value(), false, dy, 1f, 1f);
    return dy;
  }

  /**
   * ms-swift's initialisation for {@code hidden} -> {@code length}: weights Xavier-uniform (bound sqrt(6 / (fan_in +
   * fan_out))), biases N(0, 1e-6), from a seeded generator; values for the names {@code prefix + linear1.weight},
   * ... in the model's dtype on its device.
   */
  public static BottleneckAdapter initialised(String prefix, int hidden, int length, Activation act, long seed,
      DType dtype, jswift.tensor.Device device) {
    java.util.SplittableRandom r = new java.util.SplittableRandom(seed);
    double bound = Math.sqrt(6.0 / (hidden + length));
    float[] w1 = new float[hidden * length], w2 = new float[hidden * length], b1 = new float[length],
        b2 = new float[hidden];
    for (int i = 0; i < w1.length; i++) w1[i] = (float) r.nextDouble(-bound, bound);
    for (int i = 0; i < w2.length; i++) w2[i] = (float) r.nextDouble(-bound, bound);
    java.util.Random g = new java.util.Random(r.nextLong());
    for (int i = 0; i < b1.length; i++) b1[i] = (float) (1e-6 * g.nextGaussian());
    for (int i = 0; i < b2.length; i++) b2[i] = (float) (1e-6 * g.nextGaussian());
    return new BottleneckAdapter(param(prefix + "linear1.weight", w1, dtype, device, length, hidden),
        param(prefix + "linear1.bias", b1, dtype, device, length),
        param(prefix + "linear2.weight", w2, dtype, device, hidden, length),
        param(prefix + "linear2.bias", b2, dtype, device, hidden), act);
  }

  /** A parameter holding {@code values} (fp32) as {@code dtype} on {@code device}. */
  public static Parameter param(String name, float[] values, DType dtype, jswift.tensor.Device device, long... shape) {
    return new Parameter(name, Tensor.fromFloats(values, dtype, device, shape));
  }

  @Override
  public void close() {
    for (Parameter p : parameters()) p.close();
  }
}
