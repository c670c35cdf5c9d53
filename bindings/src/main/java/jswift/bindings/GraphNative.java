package jswift.bindings;

import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.Platform;
import org.bytedeco.javacpp.annotation.Properties;

/**
 * CUDA graphs of a device's jswift stream ({@code jsw_graph_*} in jswift.h) and the AdamW form a graph can replay,
 * with its per-step scalars in device memory ({@code jsw_adamw_step_dev}, {@code jsw_adamw_scalars}).
 */
@Properties(inherit = CoreNative.class, value = @Platform(library = "jnijswift"))
public final class GraphNative {
  static {
    CoreNative.load();
    Loader.load();
  }

  private GraphNative() {}

  public static native int jsw_graph_begin(int device);

  public static native int jsw_graph_end(int device, @Cast("void**") long[] graph);

  public static native int jsw_graph_launch(@Cast("void*") long graph);

  public static native int jsw_graph_destroy(@Cast("void*") long graph);

  public static native int jsw_adamw_step_dev(
      int device, @Cast("float*") long param, @Cast("const float*") long grad, @Cast("float*") long m,
      @Cast("float*") long v, long n, @Cast("const float*") long scalars, @Cast("const float*") long gradScale,
      int copyDtype, @Cast("void*") long paramCopy);

  public static native int jsw_adamw_scalars(
      float lr, float beta1, float beta2, float eps, float weightDecay, long step, @Cast("float*") float[] out8);
}
