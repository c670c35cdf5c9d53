package jswift.testing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.UnaryOperator;
import jswift.model.SafetensorsFile;
import jswift.model.SafetensorsWriter;
import jswift.model.TensorSource;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Tensor;

/** Edits of a saved adapter folder's tensors, to make the bad or older files the loaders must handle. */
public final class AdapterFiles {
  private AdapterFiles() {}

  /** One tensor of adapter_model.safetensors (fp32 values). */
  public record Entry(String name, long[] shape, float[] values) {}

  /**
   * Writes {@code to}'s adapter_model.safetensors (and its adapter_config.json, copied, when it is another folder)
   * from {@code from}'s with every tensor passed through {@code edit}.
   */
  public static void rewrite(Path from, Path to, UnaryOperator<Entry> edit) throws IOException {
    Files.createDirectories(to);
    if (!from.equals(to)) Files.copy(from.resolve("adapter_config.json"), to.resolve("adapter_config.json"));
    List<TensorSource> tensors = new ArrayList<>();
    try (SafetensorsFile f = SafetensorsFile.open(from.resolve("adapter_model.safetensors"))) {
      for (String n : f.names()) {
        Entry e = edit.apply(new Entry(n, f.entry(n).shape(), f.floats(n)));
        tensors.add(TensorSource.computed(e.name(), DType.F32, e.shape(),
            () -> Tensor.fromFloats(e.values(), DType.F32, Device.CPU, e.shape())));
      }
    }
    SafetensorsWriter.write(to.resolve("adapter_model.safetensors"), tensors, SafetensorsWriter.PT_METADATA);
  }

  /** {@link #rewrite} in place with one tensor replaced by zeros of another shape. */
  public static void reshape(Path dir, String name, long... shape) throws IOException {
    rewrite(dir, dir, e -> e.name().equals(name) ? new Entry(name, shape, new float[(int) java.util.Arrays.stream(shape)
        .reduce(1, (a, b) -> a * b)]) : e);
  }
}
