package jswift.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Tensor;

/**
 * The weights of a Hugging Face model folder: {@code model.safetensors}, or the shards named by
 * {@code model.safetensors.index.json}. Tensors are loaded by name, checked against the shape the config
 * implies, and converted to the compute dtype on the target device. Errors name the tensor and the file.
 */
public final class Checkpoint implements WeightSource, AutoCloseable {
  private static final ObjectMapper JSON = new ObjectMapper();
  private final Path dir;
  private final Map<String, SafetensorsFile> files = new LinkedHashMap<>();
  private final Map<String, SafetensorsFile> byTensor = new LinkedHashMap<>();

  private Checkpoint(Path dir) {
    this.dir = dir;
  }

  public static Checkpoint open(Path dir) throws IOException {
    Checkpoint c = new Checkpoint(dir);
    try {
      Path index = dir.resolve("model.safetensors.index.json");
      Path single = dir.resolve("model.safetensors");
      if (Files.exists(index)) {
        JsonNode map = JSON.readTree(index.toFile()).get("weight_map");
        if (map == null) throw new IOException(index + ": no weight_map");
        for (var it = map.fields(); it.hasNext(); ) {
          var e = it.next();
          String file = e.getValue().asText();
          SafetensorsFile f = c.files.get(file);
          if (f == null) {
            Path p = dir.resolve(file);
            if (!Files.exists(p)) throw new IOException(index + " names shard " + file + ", which is missing");
            f = SafetensorsFile.open(p);
            c.files.put(file, f);
          }
          if (!f.contains(e.getKey()))
            throw new IOException(index + " maps '" + e.getKey() + "' to " + file + ", which does not contain it");
          c.byTensor.put(e.getKey(), f);
        }
      } else if (Files.exists(single)) {
        SafetensorsFile f = SafetensorsFile.open(single);
        c.files.put("model.safetensors", f);
        for (String n : f.names()) c.byTensor.put(n, f);
      } else {
        throw new IOException(dir + " has neither model.safetensors nor model.safetensors.index.json"
            + " (jswift reads Hugging Face safetensors checkpoints; convert .bin checkpoints first)");
      }
      return c;
    } catch (IOException | RuntimeException e) {
      c.close();
      throw e;
    }
  }

  /** The model folder. */
  public Path directory() {
    return dir;
  }

  public Set<String> names() {
    return byTensor.keySet();
  }

  @Override
  public boolean contains(String name) {
    return byTensor.containsKey(name);
  }

  /** The file that holds a tensor (for reading its stored dtype and shape, or copying its bytes unchanged). */
  public SafetensorsFile file(String name) {
    SafetensorsFile f = byTensor.get(name);
    if (f == null) throw new IllegalArgumentException(dir + ": the checkpoint has no tensor '" + name + "'");
    return f;
  }

  /** Loads a tensor that must exist and have {@code shape}, as {@code dtype} on {@code device}. */
  @Override
  public Tensor load(String name, long[] shape, DType dtype, Device device) throws IOException {
    SafetensorsFile f = byTensor.get(name);
    if (f == null)
      throw new IOException(dir + ": the checkpoint has no tensor '" + name + "' (it has " + byTensor.size()
          + " tensors; is config.json's model_type right for these weights?)");
    long[] stored = f.entry(name).shape();
    if (!Arrays.equals(stored, shape))
      throw new IOException(f.path() + ": tensor '" + name + "' has shape " + Arrays.toString(stored)
          + " but config.json implies " + Arrays.toString(shape));
    return f.load(name, dtype, device);
  }

  @Override
  public void close() throws IOException {
    for (SafetensorsFile f : files.values()) f.close();
    files.clear();
  }
}
