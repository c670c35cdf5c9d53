package jswift.bindings;

import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.Platform;
import org.bytedeco.javacpp.annotation.Properties;

/** Fused LM head + cross-entropy ({@code jsw_lmhead_ce_*} in jswift.h). */
@Properties(inherit = CoreNative.class, value = @Platform(library = "jnijswift"))
public final class LossNative {
  static {
    CoreNative.load();
    Loader.load();
  }

  private LossNative() {}

  public static native int jsw_lmhead_ce_fwd(
      int device, int dtype, @Cast("const void*") long hidden, @Cast("const void*") long weight,
      @Cast("const int32_t*") long labels, long tokens, long dim, long vocab, int ignoreIndex, long chunkTokens,
      @Cast("float*") long loss, @Cast("float*") long lse, @Cast("int32_t*") long argmax);

  public static native int jsw_lmhead_ce_bwd(
      int device, int dtype, @Cast("const void*") long hidden, @Cast("const void*") long weight,
      @Cast("const int32_t*") long labels, @Cast("const float*") long lse, @Cast("const float*") long dloss,
      long tokens, long dim, long vocab, int ignoreIndex, long chunkTokens, @Cast("void*") long dhidden,
      @Cast("float*") long dweight);

  public static native int jsw_lmhead_ce_fwd_bwd(
      int device, int dtype, @Cast("const void*") long hidden, @Cast("const void*") long weight,
      @Cast("const int32_t*") long labels, @Cast("const float*") long dloss, long tokens, long dim, long vocab,
      int ignoreIndex, long chunkTokens, @Cast("float*") long loss, @Cast("float*") long lse,
      @Cast("int32_t*") long argmax, @Cast("void*") long dhidden, @Cast("float*") long dweight);
}
