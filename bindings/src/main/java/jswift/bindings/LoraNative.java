package jswift.bindings;

import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.Platform;
import org.bytedeco.javacpp.annotation.Properties;

/** Fused LoRA linear forward/backward ({@code jsw_lora_*} in jswift.h). */
@Properties(inherit = CoreNative.class, value = @Platform(library = "jnijswift"))
public final class LoraNative {
  static {
    CoreNative.load();
    Loader.load();
  }

  private LoraNative() {}

  public static native int jsw_lora_fwd(
      int device, int dtype, @Cast("const void*") long x, @Cast("const void*") long w,
      @Cast("const void*") long bias, @Cast("const void*") long loraA, @Cast("const void*") long loraB,
      long tokens, long inFeatures, long outFeatures, long rank, float scale, float dropoutP,
      @Cast("uint64_t") long seed, @Cast("void*") long y, @Cast("void*") long xa);

  public static native int jsw_lora_bwd(
      int device, int dtype, @Cast("const void*") long dy, @Cast("const void*") long x,
      @Cast("const void*") long w, @Cast("const void*") long loraA, @Cast("const void*") long loraB,
      @Cast("const void*") long xa, long tokens, long inFeatures, long outFeatures, long rank, float scale,
      float dropoutP, @Cast("uint64_t") long seed, @Cast("void*") long dx, @Cast("float*") long da,
      @Cast("float*") long db);

  public static native int jsw_lora_delta(
      int device, int dtype, @Cast("const void*") long x, long rows, long inFeatures, @Cast("const void*") long loraA,
      long rank, @Cast("const void*") long loraB, long outFeatures, float scale, @Cast("void*") long y);

  public static native int jsw_lora_down(
      int device, int dtype, @Cast("const void*") long x, @Cast("const void*") long loraA, long rows,
      long inFeatures, long rank, float dropoutP, @Cast("uint64_t") long seed, @Cast("void*") long xa);

  public static native int jsw_lora_up_grad(
      int device, int dtype, @Cast("const void*") long g, @Cast("const void*") long x,
      @Cast("const void*") long loraA, long rows, long inFeatures, long rank, float scale, float dropoutP,
      @Cast("uint64_t") long seed, @Cast("void*") long dx, @Cast("float*") long da);
}
