package jswift.tuner;

import java.io.IOException;
import jswift.model.SafetensorsFile;
import jswift.nn.Parameter;

/**
 * The adapter tensors jswift holds in another layout than PEFT saves them, transposed: a MiSS (Bone) block, saved as
 * {@code miss_block} [r, out] and held as [out, r], the B of the LoRA kernels; an embedding LoRA's
 * {@code lora_embedding_A}, saved [r, vocab] and held [vocab, r], a table the embedding kernels gather from. Everything that moves
 * adapter values between a file and a parameter by name (saving, loading, --adapters, resuming) goes through here.
 */
public final class PeftLayout {
  private PeftLayout() {}

  /** Whether a parameter is held transposed: a MiSS / Bone block, an embedding LoRA's A. */
  public static boolean transposed(String name) {
    return name.endsWith(".miss_block") || name.endsWith(".bone_block")
        || name.endsWith(jswift.nn.EmbeddingLora.A_SUFFIX);
  }

  /** The shape PEFT saves a parameter with. */
  public static long[] savedShape(Parameter p) {
    long[] s = p.value().shape();
    return transposed(p.name()) && s.length == 2 ? new long[] {s[1], s[0]} : s;
  }

  /** A parameter's values read from a PEFT file, in the parameter's layout. */
  public static float[] read(SafetensorsFile f, Parameter p) throws IOException {
    float[] v = f.floats(p.name());
    if (!transposed(p.name())) return v;
    long[] saved = f.entry(p.name()).shape();
    return transpose(v, (int) saved[0], (int) saved[1]);
  }

  /** Row-major [rows, cols] -> [cols, rows]. */
  public static float[] transpose(float[] v, int rows, int cols) {
    float[] t = new float[v.length];
    for (int i = 0; i < rows; i++)
      for (int j = 0; j < cols; j++) t[j * rows + i] = v[i * cols + j];
    return t;
  }
}
