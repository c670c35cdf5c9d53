package jswift.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.WritableByteChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Tensor;
import jswift.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The writer against files saved by safetensors 0.8's own {@code save_file} (fixtures/safetensors-golden, made by
 * scripts/make_safetensors_golden.py): the same tensors and metadata must give the same bytes, which pins the
 * header (key order, escaping, padding) and the data order (dtype, then name) at once. Then atomicity: a write
 * that fails leaves neither the final file nor its temporary.
 */
class SafetensorsWriterTest {
  private static Path golden(String name) {
    return Fixtures.resource("safetensors-golden/" + name);
  }

  /** The tensors of a golden file as raw-byte sources, listed in a scrambled order (the writer must sort them). */
  private static List<TensorSource> rawSources(SafetensorsFile f) throws IOException {
    List<TensorSource> out = new ArrayList<>();
    List<String> names = new ArrayList<>(f.names());
    java.util.Collections.reverse(names);
    for (String n : names) {
      ByteBuffer b = f.bytes(n);
      byte[] data = new byte[b.remaining()];
      b.get(data);
      SafetensorsFile.Entry e = f.entry(n);
      out.add(TensorSource.of(n, SafetensorsDtype.parse(e.dtype()), e.shape(), data));
    }
    return out;
  }

  @Test
  void everyDtypeEscapedNamesScalarAndEmptyMatchSaveFileByteForByte(@TempDir Path dir) throws IOException {
    Path out = dir.resolve("mixed.safetensors");
    try (SafetensorsFile f = SafetensorsFile.open(golden("mixed.safetensors"))) {
      assertEquals(22, f.names().size());  // 19 dtypes + scalar + empty + a second f32 (name order within a dtype)
      SafetensorsWriter.write(out, rawSources(f), SafetensorsWriter.PT_METADATA);
    }
    assertArrayEquals(Files.readAllBytes(golden("mixed.safetensors")), Files.readAllBytes(out));
  }

  @Test
  void withoutMetadataThereIsNoMetadataKey(@TempDir Path dir) throws IOException {
    Path out = dir.resolve("nometa.safetensors");
    try (SafetensorsFile f = SafetensorsFile.open(golden("nometa.safetensors"))) {
      SafetensorsWriter.write(out, rawSources(f), null);
    }
    assertArrayEquals(Files.readAllBytes(golden("nometa.safetensors")), Files.readAllBytes(out));
  }

  @Test
  void deviceTensorsGiveTheSameBytesAsTorch(@TempDir Path dir) throws IOException {
    // values.safetensors holds 0.25 i - 1 as f32 [3, 4], bf16 [2, 5] and f16 [7]: exact in all three dtypes.
    Path out = dir.resolve("values.safetensors");
    try (Tensor f32 = Tensor.fromFloats(counting(12), DType.F32, Device.CPU, 3, 4);
        Tensor bf16 = Tensor.fromFloats(counting(10), DType.BF16, Device.CPU, 2, 5);
        Tensor f16 = Tensor.fromFloats(counting(7), DType.F16, Device.CPU, 7)) {
      SafetensorsWriter.write(out, List.of(TensorSource.of("w.f16", f16), TensorSource.of("w.f32", f32),
          TensorSource.of("w.bf16", bf16)), SafetensorsWriter.PT_METADATA);
    }
    assertArrayEquals(Files.readAllBytes(golden("values.safetensors")), Files.readAllBytes(out));
  }

  private static float[] counting(int n) {
    float[] v = new float[n];
    for (int i = 0; i < n; i++) v[i] = 0.25f * i - 1;
    return v;
  }

  @Test
  void headerIsPaddedWithSpacesToEightBytes() {
    for (int len = 1; len <= 9; len++) {
      TensorSource t = TensorSource.of("x".repeat(len), SafetensorsDtype.U8, new long[] {1}, new byte[] {7});
      byte[] h = SafetensorsWriter.layout(List.of(t), null).header();
      assertEquals(0, h.length % 8, "header length " + h.length);
      String json = new String(h, java.nio.charset.StandardCharsets.UTF_8);
      assertTrue(json.stripTrailing().endsWith("}") && json.length() - json.stripTrailing().length() < 8, json);
    }
  }

  @Test
  void metadataKeepsTheCallersOrder() {
    Map<String, String> meta = new LinkedHashMap<>();
    meta.put("z", "1");
    meta.put("a", "2");
    byte[] h = SafetensorsWriter.layout(List.of(), meta).header();
    String json = new String(h, java.nio.charset.StandardCharsets.UTF_8).strip();
    assertEquals("{\"__metadata__\":{\"z\":\"1\",\"a\":\"2\"}}", json);
  }

  @Test
  void namesSortAsRustStringsDo() {
    // U+FFFD sorts after U+10000 in UTF-16 (0xFFFD > 0xD800) but before it in UTF-8 / code points, as in Rust.
    assertTrue(SafetensorsWriter.compareUtf8("\uFFFD", "\uD800\uDC00") < 0);
    assertTrue("\uFFFD".compareTo("\uD800\uDC00") > 0);
  }

  @Test
  void largeDeviceTensorsAreCopiedInChunksAndReadBackIntact(@TempDir Path dir) throws IOException {
    int n = TensorSource.CHUNK_BYTES / 4 * 2 + 3;  // two full chunks and a ragged tail
    float[] v = new float[n];
    for (int i = 0; i < n; i++) v[i] = i * 0.5f - 7;
    Path out = dir.resolve("big.safetensors");
    try (Tensor t = Tensor.fromFloats(v, DType.F32, Device.CPU, n)) {
      SafetensorsWriter.write(out, List.of(TensorSource.of("big", t)), null);
    }
    try (SafetensorsFile f = SafetensorsFile.open(out)) {
      assertArrayEquals(v, f.floats("big"));
    }
  }

  @Test
  void aDeviceTensorNeverPassesThroughTheHeapInOnePiece() throws IOException {
    int n = TensorSource.CHUNK_BYTES / 4 * 3 + 1;
    List<Integer> writes = new ArrayList<>();
    WritableByteChannel recorder = new WritableByteChannel() {
      @Override
      public int write(ByteBuffer src) {
        int r = src.remaining();
        writes.add(r);
        src.position(src.limit());
        return r;
      }

      @Override
      public boolean isOpen() {
        return true;
      }

      @Override
      public void close() {}
    };
    try (Tensor t = Tensor.zeros(DType.F32, Device.CPU, n)) {
      TensorSource.of("t", t).writeTo(recorder);
    }
    assertEquals(List.of(TensorSource.CHUNK_BYTES, TensorSource.CHUNK_BYTES, TensorSource.CHUNK_BYTES, 4), writes);
  }

  @Test
  void storedTensorsAreCopiedFileToFile(@TempDir Path dir) throws IOException {
    Path out = dir.resolve("copy.safetensors");
    try (SafetensorsFile f = SafetensorsFile.open(golden("mixed.safetensors"))) {
      List<TensorSource> all = new ArrayList<>();
      for (String n : f.names()) all.add(TensorSource.stored(f, n));
      SafetensorsWriter.write(out, all, SafetensorsWriter.PT_METADATA);
    }
    assertArrayEquals(Files.readAllBytes(golden("mixed.safetensors")), Files.readAllBytes(out));
  }

  @Test
  void aFailingTensorLeavesNoFileAndNoTemporary(@TempDir Path dir) throws IOException {
    Path out = dir.resolve("model.safetensors");
    TensorSource good = TensorSource.of("a", SafetensorsDtype.F32, new long[] {2}, new byte[8]);
    TensorSource full = TensorSource.custom("b", SafetensorsDtype.F32, new long[] {4}, ch -> {
      ch.write(ByteBuffer.allocate(6));
      throw new IOException("No space left on device");
    });
    IOException e = assertThrows(IOException.class, () -> SafetensorsWriter.write(out, List.of(good, full), null));
    assertTrue(e.getMessage().contains(out.toString()) && e.getMessage().endsWith("No space left on device"),
        e.getMessage());
    assertFalse(Files.exists(out));
    assertFalse(Files.exists(AtomicFile.temporary(out)));
  }

  @Test
  void aFailedRewriteKeepsThePreviousFile(@TempDir Path dir) throws IOException {
    Path out = dir.resolve("model.safetensors");
    Files.writeString(out, "previous contents");
    TensorSource broken = TensorSource.computed("w", DType.F32, new long[] {2, 2}, () -> {
      throw new IOException("device error");
    });
    assertThrows(IOException.class, () -> SafetensorsWriter.write(out, List.of(broken), null));
    assertEquals("previous contents", Files.readString(out));
    assertFalse(Files.exists(AtomicFile.temporary(out)));
  }

  @Test
  void aBodyWritingTheWrongByteCountIsCaught(@TempDir Path dir) {
    Path out = dir.resolve("x.safetensors");
    TensorSource shortBody = TensorSource.custom("w", SafetensorsDtype.F32, new long[] {3},
        ch -> ch.write(ByteBuffer.allocate(8)));
    IOException e = assertThrows(IOException.class, () -> SafetensorsWriter.write(out, List.of(shortBody), null));
    assertTrue(e.getMessage().contains("'w' wrote 8 bytes") && e.getMessage().contains("says 12"), e.getMessage());
    assertFalse(Files.exists(out));
    assertFalse(Files.exists(AtomicFile.temporary(out)));
  }

  @Test
  void aComputedTensorMustHaveTheDeclaredShape(@TempDir Path dir) {
    Path out = dir.resolve("x.safetensors");
    TensorSource wrong = TensorSource.computed("w", DType.F32, new long[] {2, 3},
        () -> Tensor.zeros(DType.F32, Device.CPU, 3, 2));
    IOException e = assertThrows(IOException.class, () -> SafetensorsWriter.write(out, List.of(wrong), null));
    assertTrue(e.getMessage().contains("declared as float32[2, 3]"), e.getMessage());
    assertFalse(Files.exists(out));
  }

  @Test
  void badArgumentsAreRefusedBeforeAnythingIsWritten(@TempDir Path dir) {
    TensorSource a = TensorSource.of("a", SafetensorsDtype.U8, new long[] {1}, new byte[1]);
    assertThrows(IllegalArgumentException.class,
        () -> SafetensorsWriter.write(dir.resolve("d.safetensors"), List.of(a, a), null));
    TensorSource meta = TensorSource.of("__metadata__", SafetensorsDtype.U8, new long[] {1}, new byte[1]);
    assertThrows(IllegalArgumentException.class,
        () -> SafetensorsWriter.write(dir.resolve("d.safetensors"), List.of(meta), null));
    IllegalArgumentException n = assertThrows(IllegalArgumentException.class,
        () -> TensorSource.of("b", SafetensorsDtype.F32, new long[] {3}, new byte[8]));
    assertTrue(n.getMessage().contains("needs 12"), n.getMessage());
    assertThrows(IllegalArgumentException.class, () -> SafetensorsDtype.parse("F4"));
    assertFalse(Files.exists(dir.resolve("d.safetensors")));
  }

  @Test
  void aFreedTensorIsRefusedWhenItsTurnComes(@TempDir Path dir) {
    Tensor t = Tensor.zeros(DType.F32, Device.CPU, 2);
    TensorSource s = TensorSource.of("t", t);
    t.close();
    assertThrows(IllegalStateException.class,
        () -> SafetensorsWriter.write(dir.resolve("f.safetensors"), List.of(s), null));
    assertFalse(Files.exists(dir.resolve("f.safetensors")));
    assertFalse(Files.exists(AtomicFile.temporary(dir.resolve("f.safetensors"))));
  }
}
