package jswift.bindings;

import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.Platform;
import org.bytedeco.javacpp.annotation.Properties;

/**
 * Dense factorisations on the CPU (fp32, LAPACK from OpenBLAS): the thin SVD and QR that PiSSA and OLoRA
 * initialise adapters from ({@code jsw_linalg_svd_f32} / {@code jsw_linalg_qr_f32} in jswift.h).
 */
@Properties(inherit = CoreNative.class, value = @Platform(library = "jnijswift"))
public final class LinalgNative {
  static {
    CoreNative.load();
    Loader.load();
  }

  private LinalgNative() {}

  public static native int jsw_linalg_svd_f32(
      int device, @Cast("const float*") long a, long m, long n, @Cast("float*") long u, @Cast("float*") long s,
      @Cast("float*") long vt);

  public static native int jsw_linalg_qr_f32(
      int device, @Cast("const float*") long a, long m, long n, @Cast("float*") long q, @Cast("float*") long r);
}
