package jswift.bindings;

import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.Platform;
import org.bytedeco.javacpp.annotation.Properties;

/** Embedding lookup forward/backward ({@code jsw_embedding_*} in jswift.h). */
@Properties(inherit = CoreNative.class, value = @Platform(library = "jnijswift"))
public final class EmbeddingNative {
  static {
    CoreNative.load();
    Loader.load();
  }

  private EmbeddingNative() {}

  public static native int jsw_embedding_fwd(
      int device, int dtype, @Cast("const int32_t*") long ids, long tokens, @Cast("const void*") long table,
      long vocab, long dim, @Cast("void*") long out);

  public static native int jsw_embedding_bwd(
      int device, int dtype, @Cast("const int32_t*") long ids, long tokens, @Cast("const void*") long dout,
      long vocab, long dim, @Cast("float*") long dtable);

  public static native int jsw_gather_columns(
      int device, int dtype, @Cast("const void*") long x, long rows, long cols, @Cast("const int32_t*") long idx,
      long n, @Cast("void*") long out);
}
