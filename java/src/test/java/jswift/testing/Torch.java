package jswift.testing;

import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * The test oracle: CPU libtorch (bytedeco) with autograd. Reference results are computed with torch's own ops
 * and gradients, independently of jswift's kernels, in fp64 unless a test says otherwise.
 */
public final class Torch {
  static {
    // Extract every libtorch library before the first torch call, so a system libtorch can never be picked up
    // half-way through (which crashes the JVM).
    try {
      Loader.cacheResources("/org/bytedeco/pytorch/" + Loader.getPlatform() + "/");
    } catch (java.io.IOException e) {
      throw new IllegalStateException("cannot extract libtorch", e);
    }
    Loader.load(torch.class);
    torch.manual_seed(0);
  }

  private Torch() {}

  /** Loads libtorch (this class's static initializer) before a test calls torch directly. */
  public static void load() {}

  /**
   * Q of torch.linalg_qr(x) ("reduced"), as a tensor of its own. The tuple's get0() is a reference into the tuple,
   * which JavaCPP frees once the tuple is unreachable (a later allocation may run its deallocator); a test that
   * kept get0() across allocations crashed the JVM in libtorch (RandomizedSvdTest, 2026-11-28).
   */
  public static Tensor qrQ(Tensor x) {
    var qr = torch.linalg_qr(x);
    try {
      return qr.get0().clone();
    } finally {
      java.lang.ref.Reference.reachabilityFence(qr);
    }
  }

  /** A float64 tensor with the given values (copied). */
  public static Tensor tensor(float[] data, long... shape) {
    double[] d = new double[data.length];
    for (int i = 0; i < d.length; i++) d[i] = data[i];
    return Tensor.create(d, shape).clone();
  }

  /** A float64 leaf tensor that records gradients. */
  public static Tensor param(float[] data, long... shape) {
    Tensor t = tensor(data, shape);
    t.requires_grad_(true);
    return t;
  }

  public static Tensor longs(long[] data, long... shape) {
    return Tensor.create(data, shape).clone();
  }

  /** Values as fp32 (from any float dtype), row-major. */
  public static float[] floats(Tensor t) {
    Tensor c = t.detach().to(torch.ScalarType.Float).contiguous();
    float[] out = new float[(int) c.numel()];
    new FloatPointer(c.data_ptr_float()).get(out);
    return out;
  }

  public static Scalar scalar(double v) {
    return new Scalar(v);
  }

  /** sum(y * dy): its backward seeds every element of y with the upstream gradient dy. */
  public static Tensor dot(Tensor y, Tensor dy) {
    return y.mul(dy).sum();
  }
}
