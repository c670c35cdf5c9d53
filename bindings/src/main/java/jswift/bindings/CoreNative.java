package jswift.bindings;

import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.Platform;
import org.bytedeco.javacpp.annotation.Properties;

/**
 * The library, device, memory, elementwise and GEMM functions of the C ABI ({@code native/include/jswift/jswift.h}).
 * Pointers cross as {@code long} addresses so that no JavaCPP type leaks out of this module; every function
 * returns the C status code, and {@link #jsw_last_error()} gives the message of a failure on the same thread.
 * The other {@code *Native} classes of this package hold the op families and share one JNI library.
 */
@Properties(value = @Platform(include = "jswift/jswift.h", link = "jswift", preload = "gomp@.1", library = "jnijswift"))
public final class CoreNative {
  static {
    // libjswift needs libopenblas.so.0: load bytedeco's copy first, so the dynamic loader finds it by soname.
    Loader.load(org.bytedeco.openblas.global.openblas_nolapack.class);
    Loader.load();
  }

  private CoreNative() {}

  /** Loads the native libraries (OpenBLAS, libjswift, the JNI glue); idempotent. */
  public static void load() {
    Loader.load(CoreNative.class);
  }

  public static native String jsw_last_error();

  public static native String jsw_build_info();

  public static native int jsw_cuda_compiled();

  public static native int jsw_cuda_device_count();

  public static native int jsw_cuda_device_name(int device, @Cast("char*") byte[] name, int len);

  public static native int jsw_cpu_threads();

  public static native int jsw_set_cpu_threads(int threads);

  public static native int jsw_set_blas_threads(int threads);

  // ---- memory ----
  public static native int jsw_malloc(int device, long bytes, @Cast("void**") long[] out);

  public static native int jsw_free(int device, @Cast("void*") long ptr);

  public static native int jsw_memcpy(
      @Cast("void*") long dst, int dstDevice, @Cast("const void*") long src, int srcDevice, long bytes);

  /** Host array to native memory. */
  public static native int jsw_memcpy(
      @Cast("void*") long dst, int dstDevice, @Cast("const void*") byte[] src, int srcDevice, long bytes);

  public static native int jsw_memcpy(
      @Cast("void*") long dst, int dstDevice, @Cast("const void*") float[] src, int srcDevice, long bytes);

  public static native int jsw_memcpy(
      @Cast("void*") long dst, int dstDevice, @Cast("const void*") int[] src, int srcDevice, long bytes);

  public static native int jsw_memcpy(
      @Cast("void*") long dst, int dstDevice, @Cast("const void*") long[] src, int srcDevice, long bytes);

  public static native int jsw_memcpy(
      @Cast("void*") long dst, int dstDevice, @Cast("const void*") short[] src, int srcDevice, long bytes);

  /** A direct (e.g. memory-mapped) buffer to native memory: bytes from the buffer's address (position 0). */
  public static native int jsw_memcpy(
      @Cast("void*") long dst, int dstDevice, @Cast("const void*") java.nio.ByteBuffer src, int srcDevice, long bytes);

  /** Native memory to a host array. */
  public static native int jsw_memcpy(
      @Cast("void*") byte[] dst, int dstDevice, @Cast("const void*") long src, int srcDevice, long bytes);

  public static native int jsw_memcpy(
      @Cast("void*") float[] dst, int dstDevice, @Cast("const void*") long src, int srcDevice, long bytes);

  public static native int jsw_memcpy(
      @Cast("void*") int[] dst, int dstDevice, @Cast("const void*") long src, int srcDevice, long bytes);

  public static native int jsw_memcpy(
      @Cast("void*") long[] dst, int dstDevice, @Cast("const void*") long src, int srcDevice, long bytes);

  public static native int jsw_memcpy(
      @Cast("void*") short[] dst, int dstDevice, @Cast("const void*") long src, int srcDevice, long bytes);

  public static native int jsw_memset(int device, @Cast("void*") long ptr, int value, long bytes);

  public static native int jsw_synchronize(int device);

  public static native int jsw_memory_stats(int device, @Cast("int64_t*") long[] stats);

  public static native int jsw_reset_peak_memory(int device);

  public static native int jsw_empty_cache(int device);

  public static native int jsw_profile_start();

  public static native int jsw_profile_stop(String label);

  public static native long jsw_profile_table(String label, @Cast("char*") byte[] out, long capacity);

  // ---- elementwise ----
  public static native int jsw_cast(
      int device, int srcDtype, @Cast("const void*") long src, int dstDtype, @Cast("void*") long dst, long n);

  public static native int jsw_fill(int device, int dtype, @Cast("void*") long x, float value, long n);

  public static native int jsw_axpby(
      int device, int dtype, long n, float a, @Cast("const void*") long x, float b, @Cast("void*") long y);

  public static native int jsw_add_bias(
      int device, int dtype, @Cast("void*") long y, @Cast("const void*") long bias, long rows, long cols);

  public static native int jsw_sum_rows(
      int device, int dtype, @Cast("const void*") long dy, long rows, long cols, @Cast("float*") long dbias);

  // ---- GEMM ----
  public static native int jsw_gemm(
      int device, int dtype, int cDtype, int transA, int transB, long m, long n, long k, float alpha,
      @Cast("const void*") long a, long lda, @Cast("const void*") long b, long ldb, float beta,
      @Cast("void*") long c, long ldc, long batch, long strideA, long strideB, long strideC);
}
