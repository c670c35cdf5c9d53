package jswift.tuner;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import jswift.model.Checkpoint;
import jswift.model.SafetensorsFile;

/**
 * A PEFT LoRA adapter folder opened for reading tensor by tensor (adapter_config.json + adapter_model.safetensors),
 * with its tensors grouped by the module they adapt and checked against a base checkpoint: every module must
 * exist in the base as a 2-D {@code <module>.weight}, and A [r, in] / B [out, r] must fit that weight and the
 * config's rank. A mismatch is reported with the tensor, both shapes and the likely cause (an adapter trained on
 * another model), before anything is written.
 */
public final class PeftAdapterFolder implements AutoCloseable {
  /** The A / B tensors of one adapted module and its scale. */
  public record Module(String module, String aKey, String bKey, int rank, double scale) {
    /** The base weight the adapter changes. */
    public String weightName() {
      return module + ".weight";
    }
  }

  private static final String PREFIX = "base_model.model.";
  private static final String A = ".lora_A.weight", B = ".lora_B.weight";

  private final Path dir;
  private final LoraConfig config;
  private final SafetensorsFile weights;
  private final Map<String, Module> modules;

  private PeftAdapterFolder(Path dir, LoraConfig config, SafetensorsFile weights, Map<String, Module> modules) {
    this.dir = dir;
    this.config = config;
    this.weights = weights;
    this.modules = modules;
  }

  /** Opens an adapter folder and checks it against the base checkpoint it will be applied to. */
  public static PeftAdapterFolder open(Path dir, Checkpoint base) throws IOException {
    LoraConfig config = LoraConfig.read(dir);
    refuseUnsupported(config, dir.resolve(LoraConfig.FILE));
    Path file = dir.resolve(PeftAdapterWriter.WEIGHTS);
    if (!Files.exists(file))
      throw new IOException(file + " not found (jswift reads safetensors adapters; adapter_model.bin is not"
          + " supported)");
    SafetensorsFile weights = SafetensorsFile.open(file);
    try {
      return new PeftAdapterFolder(dir, config, weights, modules(config, weights, base));
    } catch (IOException | RuntimeException e) {
      weights.close();
      throw e;
    }
  }

  private static void refuseUnsupported(LoraConfig c, Path where) throws IOException {
    if (c.useDora())
      throw new IOException(where + ": merging DoRA adapters is not supported yet (LoRA and rsLoRA are)");
    if (c.fanInFanOut())
      throw new IOException(where + ": fan_in_fan_out adapters (GPT-2 Conv1D layers) are not supported");
    if (!c.bias().equals("none") || c.loraBias())
      throw new IOException(where + ": adapters with trained biases (bias=" + c.bias() + ", lora_bias=" + c.loraBias()
          + ") are not supported yet");
    if (!c.modulesToSave().isEmpty())
      throw new IOException(where + ": modules_to_save " + c.modulesToSave() + " is not supported yet (only LoRA"
          + " weights are merged)");
  }

  private static Map<String, Module> modules(LoraConfig config, SafetensorsFile weights, Checkpoint base)
      throws IOException {
    Path file = weights.path();
    Map<String, String[]> keys = new LinkedHashMap<>();
    for (String key : weights.names()) {
      boolean isA = key.endsWith(A), isB = key.endsWith(B);
      if (!key.startsWith(PREFIX) || !(isA || isB))
        throw new IOException(file + ": unexpected tensor '" + key + "' (a LoRA adapter holds base_model.model.<module>"
            + ".lora_A.weight / .lora_B.weight only)");
      String module = key.substring(PREFIX.length(), key.length() - A.length());
      keys.computeIfAbsent(module, m -> new String[2])[isA ? 0 : 1] = key;
    }
    if (keys.isEmpty()) throw new IOException(file + " holds no LoRA tensors");
    List<String> problems = new ArrayList<>();
    Map<String, Module> out = new LinkedHashMap<>();
    for (Map.Entry<String, String[]> e : keys.entrySet()) {
      String module = e.getKey(), aKey = e.getValue()[0], bKey = e.getValue()[1];
      if (aKey == null || bKey == null) {
        problems.add("module " + module + " has only " + (aKey == null ? "lora_B" : "lora_A"));
        continue;
      }
      String weight = module + ".weight";
      if (!base.contains(weight)) {
        problems.add("'" + aKey + "' adapts " + module + ", but the base has no tensor '" + weight + "'");
        continue;
      }
      long[] w = base.file(weight).entry(weight).shape();
      long[] a = weights.entry(aKey).shape(), b = weights.entry(bKey).shape();
      int rank = config.rankFor(module);
      if (w.length != 2) {
        problems.add(weight + " is " + Arrays.toString(w) + " in the base, not a 2-D linear weight");
        continue;
      }
      long[] wantA = {rank, w[1]}, wantB = {w[0], rank};
      if (!Arrays.equals(a, wantA) || !Arrays.equals(b, wantB)) {
        problems.add(module + ": lora_A " + Arrays.toString(a) + " / lora_B " + Arrays.toString(b) + " do not fit the"
            + " base weight " + Arrays.toString(w) + " with r=" + rank + " (expected " + Arrays.toString(wantA) + " / "
            + Arrays.toString(wantB) + ")");
        continue;
      }
      out.put(module, new Module(module, aKey, bKey, rank, config.scaleFor(module)));
    }
    if (!problems.isEmpty())
      throw new IOException(file + " does not match the base model " + base.directory() + " (was the adapter trained on"
          + " another model?):\n  " + String.join("\n  ", problems.subList(0, Math.min(10, problems.size())))
          + (problems.size() > 10 ? "\n  ... and " + (problems.size() - 10) + " more" : ""));
    return Collections.unmodifiableMap(out);
  }

  public Path directory() {
    return dir;
  }

  public LoraConfig config() {
    return config;
  }

  /** The adapter's tensors. */
  public SafetensorsFile weights() {
    return weights;
  }

  /** Adapted modules by module path, in file order. */
  public Map<String, Module> modules() {
    return modules;
  }

  @Override
  public void close() throws IOException {
    weights.close();
  }
}
