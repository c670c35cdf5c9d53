package jswift.model;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * How a model's tensors are split into {@code model-00001-of-0000N.safetensors} files, by the rule transformers'
 * {@code save_pretrained} uses (huggingface_hub's {@code split_state_dict_into_shards_factory}): walk the tensors
 * in order, start a new shard when the next tensor would push the current one over the limit, and give a tensor
 * larger than the limit a shard of its own (placed before the shard being filled). One shard is named
 * {@code model.safetensors} and needs no index.
 */
public final class ShardPlan {
  /** ms-swift's {@code --max_shard_size} default, and transformers 4's {@code save_pretrained} default. */
  public static final String DEFAULT_MAX_SHARD_SIZE = "5GB";

  private final Map<String, List<TensorSource>> shards;
  private final long totalSize;

  private ShardPlan(Map<String, List<TensorSource>> shards, long totalSize) {
    this.shards = shards;
    this.totalSize = totalSize;
  }

  public static ShardPlan of(List<TensorSource> tensors, long maxShardSize) {
    if (maxShardSize <= 0) throw new IllegalArgumentException("max_shard_size must be positive, got " + maxShardSize);
    List<List<TensorSource>> list = new ArrayList<>();
    List<TensorSource> current = new ArrayList<>();
    long currentSize = 0, total = 0;
    for (TensorSource t : tensors) {
      long size = t.byteSize();
      total += size;
      if (size > maxShardSize) {
        list.add(List.of(t));
        continue;
      }
      if (currentSize + size > maxShardSize) {
        list.add(current);
        current = new ArrayList<>();
        currentSize = 0;
      }
      current.add(t);
      currentSize += size;
    }
    if (!current.isEmpty() || list.isEmpty()) list.add(current);
    Map<String, List<TensorSource>> named = new LinkedHashMap<>();
    int n = list.size();
    for (int i = 0; i < n; i++) named.put(fileName(i, n), Collections.unmodifiableList(list.get(i)));
    return new ShardPlan(Collections.unmodifiableMap(named), total);
  }

  /** "model.safetensors" for a single shard, else "model-00002-of-00005.safetensors" (1-based, 5 digits). */
  public static String fileName(int index, int count) {
    if (count == 1) return "model.safetensors";
    return String.format(Locale.ROOT, "model-%05d-of-%05d.safetensors", index + 1, count);
  }

  /** File name to its tensors, in file order. */
  public Map<String, List<TensorSource>> shards() {
    return shards;
  }

  public boolean isSharded() {
    return shards.size() > 1;
  }

  /** The bytes of all tensor data (the index's {@code metadata.total_size}). */
  public long totalSize() {
    return totalSize;
  }

  /**
   * Parses a size as huggingface_hub's {@code parse_size_to_int} does: a number and a decimal unit ("5GB" =
   * 5 * 10^9, "500MB", "1.5GB"; KB, MB, GB, TB), or a plain byte count.
   */
  public static long parseSize(String size) {
    String s = size.strip();
    if (s.matches("\\d+")) return Long.parseLong(s);
    String unit = s.length() < 2 ? "" : s.substring(s.length() - 2).toUpperCase(Locale.ROOT);
    long multiplier;
    switch (unit) {
      case "KB": multiplier = 1_000L; break;
      case "MB": multiplier = 1_000_000L; break;
      case "GB": multiplier = 1_000_000_000L; break;
      case "TB": multiplier = 1_000_000_000_000L; break;
      default: throw new IllegalArgumentException("max_shard_size '" + size + "': use a byte count or a number with "
          + "KB, MB, GB or TB (decimal units, e.g. 5GB)");
    }
    double value;
    try {
      value = Double.parseDouble(s.substring(0, s.length() - 2).strip());
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("max_shard_size '" + size + "': '" + s.substring(0, s.length() - 2)
          + "' is not a number");
    }
    if (!(value > 0)) throw new IllegalArgumentException("max_shard_size '" + size + "' must be positive");
    return (long) (value * multiplier);  // Python's int(float * multiplier), truncation included
  }
}
