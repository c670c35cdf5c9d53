package jswift.quant;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import jswift.model.Checkpoint;
import jswift.model.CheckpointWriter;
import jswift.model.SafetensorsFile;
import jswift.model.TensorSource;
import jswift.tuner.LoraMerge;

/**
 * The frame of the calibration-free exports (bitsandbytes nf4, FP8): every decoder linear's weight replaced by the
 * tensors an {@link Encoder} gives for it, every other tensor copied byte for byte, written as they stream (one
 * linear encoded at a time, so the heap never holds the model) into a temporary sibling folder with config.json
 * (plus the method's {@code quantization_config}) and the tokenizer files, renamed at the end; on failure nothing
 * is left behind.
 */
final class StreamedExport {
  private static final ObjectMapper JSON = new ObjectMapper();
  /** The linears the quantizers replace in a decoder (transformers skips only lm_head). */
  static final Pattern LINEAR =
      Pattern.compile("model\\.layers\\.\\d+\\.(self_attn\\.[qkvo]_proj|mlp\\.(gate|up|down)_proj)\\.weight");

  private StreamedExport() {}

  /** What an export wrote. */
  public record Result(Path outputDir, int quantizedLinears, double seconds, long weightBytes) {}

  /** The tensors that stand for one linear's weight [out, in] (computed when the writer reaches them). */
  interface Encoder {
    List<TensorSource> sources(SafetensorsFile file, String weight, long out, long in) throws IOException;
  }

  /** Exports {@code modelDir} into {@code outDir}, which must not exist or be empty. */
  static Result export(Path modelDir, Path outDir, long maxShardSize, Checkpoint ckpt, Encoder encoder,
      ObjectNode quantizationConfig) throws IOException {
    long start = System.nanoTime();
    Path tmp = GptqExporter.startOutput(modelDir, outDir);
    boolean ok = false;
    int linears = 0;
    long bytes = 0;
    try {
      List<TensorSource> out = new ArrayList<>();
      for (String name : ckpt.names()) {
        SafetensorsFile f = ckpt.file(name);
        long[] shape = f.entry(name).shape();
        if (LINEAR.matcher(name).matches() && shape.length == 2) {
          out.addAll(encoder.sources(f, name, shape[0], shape[1]));
          linears++;
        } else {
          out.add(TensorSource.stored(f, name));
        }
      }
      for (TensorSource s : out) bytes += s.byteSize();
      Files.createDirectories(tmp);
      CheckpointWriter.write(tmp, out, maxShardSize);
      ObjectNode cfg = (ObjectNode) JSON.readTree(modelDir.resolve("config.json").toFile());
      cfg.set("quantization_config", quantizationConfig);
      Files.writeString(tmp.resolve("config.json"), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(cfg)
          + "\n");
      for (String name : LoraMerge.COPIED_FILES) {
        if (name.equals("config.json")) continue;
        Path src = modelDir.resolve(name);
        if (Files.exists(src)) Files.copy(src, tmp.resolve(name), StandardCopyOption.REPLACE_EXISTING);
      }
      GptqExporter.move(tmp, outDir);
      ok = true;
    } finally {
      if (!ok) GptqExporter.deleteTree(tmp);
    }
    return new Result(outDir, linears, (System.nanoTime() - start) / 1e9, bytes);
  }
}
