package jswift.tuner;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import jswift.model.Checkpoint;
import jswift.model.CheckpointWriter;
import jswift.model.ModelConfig;
import jswift.model.SafetensorsDtype;
import jswift.model.SafetensorsFile;
import jswift.model.ShardPlan;
import jswift.model.TensorSource;

/**
 * LLaMA-Pro block expansion (arXiv 2401.02415), placed as ms-swift's {@code LLaMAPro} tuner places it: with L
 * decoder layers and G groups ({@code --llamapro_num_groups}, default {@code --llamapro_num_new_blocks}), after
 * every original layer i with {@code (i + 1) % (L / G) == 0} a copy of layer i is inserted whose
 * {@code self_attn.o_proj} and {@code mlp.down_proj} (weights and biases) are zero. Both feed the residual stream,
 * so a new block adds nothing and the expanded model computes exactly what the original did; training then
 * updates only the new blocks. As in ms-swift, L must be a multiple of {@code --llamapro_num_new_blocks}, and one
 * block is inserted per group (so a {@code num_groups} other than {@code num_new_blocks} changes the count).
 *
 * <p>The expansion is written as an ordinary Hugging Face folder ({@code num_hidden_layers} and, when present,
 * {@code layer_types} updated; layers renumbered; tokenizer files copied) that transformers and
 * {@link jswift.model.CausalLM} load like any model.
 */
public final class LlamaPro {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String LAYERS = "model.layers.";

  private LlamaPro() {}

  /**
   * Where each layer of the expanded model comes from: {@code source[j]} is the original layer layer j copies,
   * {@code added[j]} whether it is a new (trainable, zero-output) block.
   */
  public record Plan(int[] source, boolean[] added) {
    public int layers() {
      return source.length;
    }

    /** Indices of the new blocks in the expanded model, ascending. */
    public List<Integer> newBlocks() {
      List<Integer> out = new ArrayList<>();
      for (int j = 0; j < added.length; j++) if (added[j]) out.add(j);
      return out;
    }
  }

  /** The layout ms-swift builds for {@code layers} original layers; errors name the flag. */
  public static Plan plan(int layers, int numNewBlocks, Integer numGroups) {
    if (numNewBlocks <= 0) throw new IllegalArgumentException("--llamapro_num_new_blocks must be > 0");
    if (layers % numNewBlocks != 0)
      throw new IllegalArgumentException("--llamapro_num_new_blocks " + numNewBlocks + " must divide the model's "
          + layers + " decoder layers");
    int groups = numGroups != null ? numGroups : numNewBlocks;
    if (groups <= 0 || groups > layers)
      throw new IllegalArgumentException("--llamapro_num_groups " + groups + " must be between 1 and the model's "
          + layers + " decoder layers");
    int stride = layers / groups;
    List<Integer> source = new ArrayList<>();
    List<Boolean> added = new ArrayList<>();
    for (int i = 0; i < layers; i++) {
      source.add(i);
      added.add(false);
      if ((i + 1) % stride == 0) {
        source.add(i);
        added.add(true);
      }
    }
    int[] s = source.stream().mapToInt(Integer::intValue).toArray();
    boolean[] a = new boolean[s.length];
    for (int j = 0; j < a.length; j++) a[j] = added.get(j);
    return new Plan(s, a);
  }

  /** Whether a tensor of a new block is zeroed: the two projections that write into the residual stream. */
  static boolean zeroed(String suffix) {
    return suffix.startsWith("self_attn.o_proj.") || suffix.startsWith("mlp.down_proj.");
  }

  /**
   * Writes the expanded model of {@code base} into {@code out} (created; must not hold another model) and returns
   * its plan. Original tensors are copied byte for byte in their stored dtype.
   */
  public static Plan expand(Path base, Path out, int numNewBlocks, Integer numGroups) throws IOException {
    ModelConfig cfg = ModelConfig.load(base);
    Plan plan = plan(cfg.numHiddenLayers(), numNewBlocks, numGroups);
    Path cfgFile = base.resolve("config.json");
    JsonNode root = JSON.readTree(cfgFile.toFile());
    if (!root.has("num_hidden_layers"))
      throw new IOException(cfgFile + ": no top-level num_hidden_layers (nested text_config models are not supported"
          + " by --train_type llamapro)");
    ObjectNode c = (ObjectNode) root;
    c.put("num_hidden_layers", plan.layers());
    JsonNode types = c.get("layer_types");
    if (types != null && types.isArray()) {
      // Each block keeps the attention type of the layer it copies (transformers checks one entry per layer).
      ArrayNode expanded = c.putArray("layer_types");
      for (int j = 0; j < plan.layers(); j++) expanded.add(types.get(plan.source()[j]));
    } else if (cfg.slidingLayers().contains(true) && cfg.slidingLayers().contains(false)) {
      // An older Qwen config splits by max_window_layers, a boundary the inserted layers would shift: spell out
      // each layer's type instead (transformers reads layer_types first).
      ArrayNode expanded = c.putArray("layer_types");
      for (int j = 0; j < plan.layers(); j++)
        expanded.add(cfg.slidingLayers().get(plan.source()[j]) ? "sliding_attention" : "full_attention");
    }
    Files.createDirectories(out);
    try (Checkpoint ckpt = Checkpoint.open(base)) {
      List<TensorSource> sources = new ArrayList<>();
      for (String name : ckpt.names()) {
        SafetensorsFile f = ckpt.file(name);
        if (!name.startsWith(LAYERS)) {
          sources.add(TensorSource.stored(f, name));
          continue;
        }
        int end = name.indexOf('.', LAYERS.length());
        int layer = Integer.parseInt(name.substring(LAYERS.length(), end));
        String suffix = name.substring(end + 1);
        for (int j = 0; j < plan.layers(); j++) {
          if (plan.source()[j] != layer) continue;
          sources.add(copy(f, name, LAYERS + j + "." + suffix, plan.added()[j] && zeroed(suffix)));
        }
      }
      CheckpointWriter.write(out, sources, ShardPlan.parseSize(ShardPlan.DEFAULT_MAX_SHARD_SIZE));
    }
    JSON.writerWithDefaultPrettyPrinter().writeValue(out.resolve("config.json").toFile(), c);
    // Tokenizer, generation config, chat template...: every other small file of the base folder.
    try (var files = Files.list(base)) {
      for (Path p : (Iterable<Path>) files::iterator) {
        String n = p.getFileName().toString();
        if (!Files.isRegularFile(p) || n.equals("config.json") || n.endsWith(".safetensors")
            || n.equals(CheckpointWriter.INDEX) || n.endsWith(".bin") || n.endsWith(".pt")) continue;
        Files.copy(p, out.resolve(n), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
      }
    }
    return plan;
  }

  /** A stored tensor under a new name, byte for byte or as zeros of the same dtype and shape. */
  private static TensorSource copy(SafetensorsFile f, String name, String newName, boolean zero) {
    SafetensorsFile.Entry e = f.entry(name);
    SafetensorsDtype dtype = SafetensorsDtype.parse(e.dtype());
    if (zero) {
      // All-zero bytes are +0 in every float dtype; written in bounded chunks, whatever the tensor's size.
      long bytes = e.end() - e.begin();
      return TensorSource.custom(newName, dtype, e.shape(), ch -> {
        java.nio.ByteBuffer zeros = java.nio.ByteBuffer.allocate((int) Math.min(bytes, 1 << 20));
        for (long left = bytes; left > 0; ) {
          zeros.clear().limit((int) Math.min(left, zeros.capacity()));
          while (zeros.hasRemaining()) left -= ch.write(zeros);
        }
      });
    }
    return TensorSource.custom(newName, dtype, e.shape(), ch -> f.transferTo(name, ch));
  }
}
