package jswift.model;

import java.io.IOException;
import java.util.function.Function;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Tensor;

/**
 * The packed tensors of one quantized linear ({@code <module>.qweight}, {@code .qzeros}, ...) read from a GPTQ or AWQ
 * checkpoint: each must exist with the stored dtype the format prescribes (else an IOException names the folder and
 * the tensor); the weight object built from them takes ownership, and nothing is left allocated on failure.
 */
final class PackedTensors {
  private PackedTensors() {}

  /**
   * Loads {@code module + suffixes[i]} as {@code types[i]} (I32 or F16) on {@code device} and hands them to
   * {@code build}; an IllegalArgumentException from {@code build} (a shape that does not fit) becomes an
   * IOException naming the folder. {@code format} ("a GPTQ", "an AWQ") goes into the messages.
   */
  static <W> W load(Checkpoint ckpt, String format, String module, String[] suffixes, DType[] types, Device device,
      Function<Tensor[], W> build) throws IOException {
    Tensor[] t = new Tensor[suffixes.length];
    boolean ok = false;
    try {
      for (int i = 0; i < t.length; i++) {
        String name = module + suffixes[i];
        if (!ckpt.contains(name))
          throw new IOException(ckpt.directory() + ": " + format.substring(format.indexOf(' ') + 1) + " layer " + module
              + " has no " + name);
        String stored = ckpt.file(name).entry(name).dtype();
        String want = types[i] == DType.F16 ? "F16" : "I32";
        if (!stored.equals(want))
          throw new IOException(ckpt.directory() + ": " + name + " is " + stored + ", " + format + " checkpoint stores "
              + want);
        t[i] = ckpt.file(name).load(name, types[i], device);
      }
      W w;
      try {
        w = build.apply(t);
      } catch (IllegalArgumentException e) {
        throw new IOException(ckpt.directory() + ": " + e.getMessage(), e);
      }
      ok = true;
      return w;
    } finally {
      if (!ok) for (Tensor x : t) if (x != null) x.close();
    }
  }
}
