package jswift.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import jswift.tensor.Device;
import jswift.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Sharded checkpoints against transformers' own {@code save_pretrained(max_shard_size="200KB")} of the llama-gqa
 * fixture (fixtures/safetensors-golden/sharded: its index file and the sha256 of each shard), the shard rule on
 * huggingface_hub's documented example, size parsing, and what a failed or repeated save leaves in the folder.
 */
class CheckpointWriterTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  private static TensorSource sized(String name, long bytes) {
    return TensorSource.of(name, SafetensorsDtype.U8, new long[] {bytes}, new byte[(int) bytes]);
  }

  private static List<String> names(List<TensorSource> shard) {
    return shard.stream().map(TensorSource::name).collect(Collectors.toList());
  }

  @Test
  void shardsLikeSavePretrainedByteForByte(@TempDir Path dir) throws Exception {
    Path golden = Fixtures.resource("safetensors-golden/sharded");
    JsonNode shards = JSON.readTree(golden.resolve("shards.json").toFile());
    List<Path> written;
    try (SafetensorsFile model = SafetensorsFile.open(Fixtures.llamaGqa().resolve("model.safetensors"))) {
      List<TensorSource> all = new ArrayList<>();
      for (String n : model.names()) all.add(TensorSource.stored(model, n));
      written = CheckpointWriter.write(dir, all, ShardPlan.parseSize(shards.get("max_shard_size").asText()));
    }
    assertEquals(5, written.size());  // 4 shards + the index
    assertArrayEquals(Files.readAllBytes(golden.resolve(CheckpointWriter.INDEX)),
        Files.readAllBytes(dir.resolve(CheckpointWriter.INDEX)));
    for (var e : (Iterable<Map.Entry<String, JsonNode>>) shards.get("sha256")::fields)
      assertEquals(e.getValue().asText(), sha256(dir.resolve(e.getKey())), e.getKey());
    // And it reads back as a checkpoint with the original values.
    try (Checkpoint c = Checkpoint.open(dir);
        SafetensorsFile orig = SafetensorsFile.open(Fixtures.llamaGqa().resolve("model.safetensors"))) {
      assertEquals(orig.names(), c.names());
      for (String n : orig.names()) assertArrayEquals(orig.floats(n), c.file(n).floats(n), n);
    }
  }

  private static String sha256(Path p) throws IOException, NoSuchAlgorithmException {
    return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(p)));
  }

  @Test
  void namesSortLikeTransformersDotNaturalKey() {
    List<String> names = new ArrayList<>(List.of("model.layers.10.w", "model.layers.2.w", "lm_head.weight",
        "model.norm.weight", "model.layers.2", "x.shard_11", "x.shard_2", "x.shard", "x.7",
        "model.embed_tokens.weight"));
    names.sort(CheckpointWriter.NAME_ORDER);
    assertEquals(List.of("lm_head.weight", "model.embed_tokens.weight", "model.layers.2", "model.layers.2.w",
        "model.layers.10.w", "model.norm.weight", "x.7", "x.shard", "x.shard_2", "x.shard_11"), names);
  }

  @Test
  void shardRuleIsHuggingfaceHubs() {
    // huggingface_hub's docstring: limit 10, sizes [6, 6, 2, 6, 2, 2] -> [6], [6+2], [6+2+2].
    List<TensorSource> t = List.of(sized("a", 6), sized("b", 6), sized("c", 2), sized("d", 6), sized("e", 2),
        sized("f", 2));
    ShardPlan p = ShardPlan.of(t, 10);
    assertEquals(List.of(List.of("a"), List.of("b", "c"), List.of("d", "e", "f")),
        p.shards().values().stream().map(CheckpointWriterTest::names).collect(Collectors.toList()));
    assertEquals(List.of("model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
        "model-00003-of-00003.safetensors"), List.copyOf(p.shards().keySet()));
    assertEquals(24, p.totalSize());
    // A tensor over the limit gets its own shard, placed before the shard still being filled.
    ShardPlan big = ShardPlan.of(List.of(sized("a", 3), sized("huge", 25), sized("b", 3)), 10);
    assertEquals(List.of(List.of("huge"), List.of("a", "b")),
        big.shards().values().stream().map(CheckpointWriterTest::names).collect(Collectors.toList()));
    // Everything within the limit: one file, no index.
    ShardPlan one = ShardPlan.of(List.of(sized("a", 5), sized("b", 5)), 10);
    assertFalse(one.isSharded());
    assertEquals(List.of("model.safetensors"), List.copyOf(one.shards().keySet()));
  }

  @Test
  void sizesParseAsHuggingfaceHubDoes() {
    assertEquals(5_000_000_000L, ShardPlan.parseSize("5GB"));
    assertEquals(200_000, ShardPlan.parseSize("200KB"));
    assertEquals(1_500_000_000L, ShardPlan.parseSize(" 1.5gb "));
    assertEquals(2_000_000_000_000L, ShardPlan.parseSize("2TB"));
    assertEquals(12345, ShardPlan.parseSize("12345"));
    for (String bad : List.of("5GiB", "GB", "x MB", "-1GB", "0MB", ""))
      assertThrows(IllegalArgumentException.class, () -> ShardPlan.parseSize(bad), bad);
  }

  @Test
  void aSingleShardIsModelSafetensorsWithoutIndexAndReplacesAnEarlierShardedSave(@TempDir Path dir) throws IOException {
    CheckpointWriter.write(dir, List.of(sized("a", 6), sized("b", 6)), 10);
    assertTrue(Files.exists(dir.resolve(CheckpointWriter.INDEX)));
    assertTrue(Files.exists(dir.resolve("model-00002-of-00002.safetensors")));
    Files.writeString(dir.resolve("notes.txt"), "kept");
    List<Path> written = CheckpointWriter.write(dir, List.of(sized("a", 6), sized("b", 6)), 100);
    assertEquals(List.of(dir.resolve("model.safetensors")), written);
    assertEquals(List.of("model.safetensors", "notes.txt"), listing(dir));  // stale shards and index removed
  }

  @Test
  void fewerShardsThanLastTimeRemoveTheStaleOnes(@TempDir Path dir) throws IOException {
    CheckpointWriter.write(dir, List.of(sized("a", 6), sized("b", 6), sized("c", 6)), 10);
    assertEquals(4, listing(dir).size());
    CheckpointWriter.write(dir, List.of(sized("a", 6), sized("b", 6), sized("c", 6)), 12);
    assertEquals(List.of("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
        CheckpointWriter.INDEX), listing(dir));
    try (Checkpoint c = Checkpoint.open(dir)) {
      assertEquals(List.of("a", "b", "c"), List.copyOf(c.names()));
    }
  }

  @Test
  void aFailureInALaterShardLeavesNoCheckpointBehind(@TempDir Path dir) throws IOException {
    TensorSource failing = TensorSource.custom("c", SafetensorsDtype.U8, new long[] {6}, ch -> {
      ch.write(ByteBuffer.allocate(3));
      throw new IOException("No space left on device");
    });
    List<TensorSource> tensors = List.of(sized("a", 6), sized("b", 6), failing);
    assertThrows(IOException.class, () -> CheckpointWriter.write(dir, tensors, 10));
    assertEquals(List.of(), listing(dir));  // shards 1-2 deleted again, no index, no temporary file
  }

  @Test
  void indexCountsBytesAndParameters(@TempDir Path dir) throws IOException {
    TensorSource f32 = TensorSource.of("w", SafetensorsDtype.F32, new long[] {2, 3}, new byte[24]);
    CheckpointWriter.write(dir, List.of(f32, sized("b", 30)), 40);
    JsonNode index = JSON.readTree(dir.resolve(CheckpointWriter.INDEX).toFile());
    assertEquals(54, index.at("/metadata/total_size").asLong());
    assertEquals(36, index.at("/metadata/total_parameters").asLong());
    assertEquals("model-00001-of-00002.safetensors", index.at("/weight_map/b").asText());
    assertEquals("model-00002-of-00002.safetensors", index.at("/weight_map/w").asText());
    try (Checkpoint c = Checkpoint.open(dir)) {
      try (var t = c.load("w", new long[] {2, 3}, jswift.tensor.DType.F32, Device.CPU)) {
        assertArrayEquals(new float[6], t.toFloatArray());
      }
    }
  }

  private static List<String> listing(Path dir) throws IOException {
    try (Stream<Path> s = Files.list(dir)) {
      return s.map(p -> p.getFileName().toString()).sorted().collect(Collectors.toList());
    }
  }
}
