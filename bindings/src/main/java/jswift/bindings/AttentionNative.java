package jswift.bindings;

import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.Platform;
import org.bytedeco.javacpp.annotation.Properties;

/**
 * Flash attention forward/backward ({@code jsw_attention_*} in jswift.h). {@code cuSeqlens} and {@code keyMask}
 * are addresses of int32 arrays on the call's device, or 0 for none.
 */
@Properties(inherit = CoreNative.class, value = @Platform(library = "jnijswift"))
public final class AttentionNative {
  static {
    CoreNative.load();
    Loader.load();
  }

  private AttentionNative() {}

  public static native int jsw_attention_fwd(
      int device, int dtype, @Cast("const void*") long q, @Cast("const void*") long k, @Cast("const void*") long v,
      long batch, long seqLen, long heads, long kvHeads, long headDim, @Cast("const int32_t*") long cuSeqlens,
      @Cast("const int32_t*") long keyMask, int causal, long window, float softmaxScale, @Cast("void*") long out,
      @Cast("float*") long lse);

  public static native int jsw_attention_bwd(
      int device, int dtype, @Cast("const void*") long q, @Cast("const void*") long k, @Cast("const void*") long v,
      @Cast("const void*") long out, @Cast("const void*") long dout, @Cast("const float*") long lse, long batch,
      long seqLen, long heads, long kvHeads, long headDim, @Cast("const int32_t*") long cuSeqlens,
      @Cast("const int32_t*") long keyMask, int causal, long window, float softmaxScale, @Cast("void*") long dq,
      @Cast("void*") long dk, @Cast("void*") long dv);
}
