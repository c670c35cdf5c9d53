package jswift.bindings;

import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.Platform;
import org.bytedeco.javacpp.annotation.Properties;

/**
 * The randomized truncated SVD ({@code jsw_linalg_rsvd_f32} in jswift.h): the top-r singular triplets of an fp32
 * matrix on the CPU or a CUDA device, from a seeded Gaussian sketch with power iterations. GaLore refreshes its
 * projectors with it.
 */
@Properties(inherit = CoreNative.class, value = @Platform(library = "jnijswift"))
public final class RsvdNative {
  static {
    CoreNative.load();
    Loader.load();
  }

  private RsvdNative() {}

  public static native int jsw_linalg_rsvd_f32(
      int device, @Cast("const float*") long a, long m, long n, long rank, long oversample, long powerIters,
      @Cast("uint64_t") long seed, @Cast("float*") long u, @Cast("float*") long s, @Cast("float*") long vt);
}
