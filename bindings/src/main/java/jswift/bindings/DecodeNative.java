package jswift.bindings;

import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.Platform;
import org.bytedeco.javacpp.annotation.Properties;

/**
 * KV-cache decode attention and the cache append ({@code jsw_attention_decode}, {@code jsw_kv_cache_append} in
 * jswift.h). {@code kvLen} and {@code keyMask} are addresses of int32 arrays on the call's device ({@code keyMask}
 * and {@code lse} may be 0).
 */
@Properties(inherit = CoreNative.class, value = @Platform(library = "jnijswift"))
public final class DecodeNative {
  static {
    CoreNative.load();
    Loader.load();
  }

  private DecodeNative() {}

  public static native int jsw_attention_decode(
      int device, int dtype, @Cast("const void*") long q, @Cast("const void*") long kCache,
      @Cast("const void*") long vCache, @Cast("const int32_t*") long kvLen, @Cast("const int32_t*") long keyMask,
      long batch, long qLen, long capacity, long heads, long kvHeads, long headDim, long window, float softmaxScale,
      @Cast("void*") long out, @Cast("float*") long lse);

  public static native int jsw_kv_cache_append(
      int device, int dtype, @Cast("const void*") long kNew, @Cast("const void*") long vNew,
      @Cast("void*") long kCache, @Cast("void*") long vCache, @Cast("const int32_t*") long kvLen, long batch,
      long qLen, long capacity, long kvHeads, long headDim);
}
