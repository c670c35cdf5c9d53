package jswift.model;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import jswift.template.PythonJson;

/**
 * Writes a model's weights into a folder the way transformers' {@code save_pretrained} lays them out (the
 * counterpart of {@link Checkpoint}): {@code model.safetensors}, or shards split by {@link ShardPlan} plus
 * {@code model.safetensors.index.json} ({@code metadata.total_size}, {@code metadata.total_parameters},
 * {@code weight_map}; sorted keys, two-space indent, as transformers writes it). Every file carries the
 * {@code {"format": "pt"}} metadata transformers puts there. Like transformers 5, the tensors are first sorted
 * by {@link #NAME_ORDER}, so the same tensors and shard size give the same files as {@code save_pretrained}
 * (checked byte for byte against it in the tests).
 *
 * <p>Each file is written atomically and the index comes last, so a reader never sees an index that names a
 * missing shard. If any write fails, the files this call already finished are deleted again: a failed save
 * leaves no partial checkpoint behind. After a successful save, weight files of an earlier save that this one
 * did not rewrite (other shard counts, a single file replaced by shards or the reverse) are removed, as
 * transformers does for shards, so the folder holds one consistent checkpoint.
 */
public final class CheckpointWriter {
  public static final String INDEX = "model.safetensors.index.json";
  private static final Pattern SHARD = Pattern.compile("model-\\d{5}-of-\\d{5}\\.safetensors");
  private static final ObjectMapper JSON = new ObjectMapper();

  private CheckpointWriter() {}

  /**
   * transformers 5's {@code dot_natural_key}: names split at dots and compared part by part, a part of digits as a
   * number and before any text, a text part by its text and then by its trailing number ({@code layers.2} before
   * {@code layers.10}, {@code shard_2} before {@code shard_11}). Keeps each layer's tensors together in a shard.
   */
  public static final Comparator<String> NAME_ORDER = CheckpointWriter::compareNames;

  /** Writes the tensors in {@link #NAME_ORDER}; returns the files written. */
  public static List<Path> write(Path dir, List<TensorSource> tensors, long maxShardSize) throws IOException {
    List<TensorSource> sorted = new ArrayList<>(tensors);
    sorted.sort(Comparator.comparing(TensorSource::name, NAME_ORDER));
    ShardPlan plan = ShardPlan.of(sorted, maxShardSize);
    Files.createDirectories(dir);
    List<Path> written = new ArrayList<>();
    try {
      for (Map.Entry<String, List<TensorSource>> shard : plan.shards().entrySet()) {
        Path file = dir.resolve(shard.getKey());
        SafetensorsWriter.write(file, shard.getValue(), SafetensorsWriter.PT_METADATA);
        written.add(file);
      }
      if (plan.isSharded()) {
        Path index = dir.resolve(INDEX);
        AtomicFile.writeString(index, indexJson(plan));
        written.add(index);
      }
    } catch (IOException | RuntimeException | Error e) {
      AtomicFile.deleteAll(written, e);  // complete shards of an incomplete checkpoint are no use to anyone
      throw e;
    }
    removeStaleWeights(dir, written);
    return written;
  }

  private static int compareNames(String x, String y) {
    String[] a = x.split("\\.", -1), b = y.split("\\.", -1);
    for (int i = 0; i < Math.min(a.length, b.length); i++) {
      int c = comparePart(a[i], b[i]);
      if (c != 0) return c;
    }
    return Integer.compare(a.length, b.length);
  }

  /** One part as Python compares the tuples (0, n) / (1, text) / (1, text, n) that dot_natural_key makes. */
  private static int comparePart(String p, String q) {
    boolean pNum = isDigits(p), qNum = isDigits(q);
    if (pNum != qNum) return pNum ? -1 : 1;
    if (pNum) return new java.math.BigInteger(p).compareTo(new java.math.BigInteger(q));
    int ps = textEnd(p), qs = textEnd(q);
    int c = SafetensorsWriter.compareUtf8(p.substring(0, ps), q.substring(0, qs));  // Python: by code point
    if (c != 0) return c;
    boolean pTail = ps < p.length(), qTail = qs < q.length();
    if (pTail != qTail) return pTail ? 1 : -1;  // the shorter tuple (no trailing number) comes first
    return pTail ? new java.math.BigInteger(p.substring(ps)).compareTo(new java.math.BigInteger(q.substring(qs))) : 0;
  }

  private static boolean isDigits(String s) {
    return !s.isEmpty() && textEnd(s) == 0;
  }

  /** Where the trailing ASCII digits of a part begin. */
  private static int textEnd(String s) {
    int i = s.length();
    while (i > 0 && s.charAt(i - 1) >= '0' && s.charAt(i - 1) <= '9') i--;
    return i;
  }

  static String indexJson(ShardPlan plan) {
    Map<String, String> weightMap = new TreeMap<>();  // json.dumps(sort_keys=True)
    long parameters = 0;
    for (Map.Entry<String, List<TensorSource>> shard : plan.shards().entrySet()) {
      for (TensorSource t : shard.getValue()) {
        weightMap.put(t.name(), shard.getKey());
        long n = 1;
        for (long d : t.shape()) n *= d;
        parameters += n;
      }
    }
    ObjectNode root = JSON.createObjectNode();
    ObjectNode meta = root.putObject("metadata");
    meta.put("total_parameters", parameters);
    meta.put("total_size", plan.totalSize());
    ObjectNode map = root.putObject("weight_map");
    weightMap.forEach(map::put);
    return PythonJson.dumps(root, 2, true) + "\n";
  }

  private static void removeStaleWeights(Path dir, List<Path> written) throws IOException {
    List<Path> stale = new ArrayList<>();
    try (Stream<Path> files = Files.list(dir)) {
      files.forEach(p -> {
        String name = p.getFileName().toString();
        boolean weights = SHARD.matcher(name).matches() || name.equals("model.safetensors") || name.equals(INDEX);
        if (weights && !written.contains(p) && Files.isRegularFile(p)) stale.add(p);
      });
    }
    for (Path p : stale) Files.delete(p);
  }
}
