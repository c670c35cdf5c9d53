package jswift.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import jswift.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafetensorsFileTest {
  @Test
  void readsTheFixtureModel() throws IOException {
    try (SafetensorsFile f = SafetensorsFile.open(Fixtures.llamaGqa().resolve("model.safetensors"))) {
      assertEquals(21, f.names().size());
      SafetensorsFile.Entry q = f.entry("model.layers.0.self_attn.q_proj.weight");
      assertEquals("F32", q.dtype());
      assertArrayEquals(new long[] {64, 64}, q.shape());
      float[] w = f.floats("model.norm.weight");
      assertEquals(64, w.length);
      // Norm weights are 1 + 0.1 N(0,1) in this fixture: all near 1, none exactly 1.
      assertTrue(Arrays.stream(toDoubles(w)).allMatch(v -> v > 0.5 && v < 1.5 && v != 1.0));
    }
  }

  @Test
  void readsEveryDtypeItConverts(@TempDir Path dir) throws IOException {
    Path p = dir.resolve("t.safetensors");
    String header = "{\"a\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,4]},"
        + "\"b\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[4,8]},"
        + "\"c\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[8,16]}}";
    ByteBuffer data = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN);
    data.putShort((short) 0x3f80).putShort((short) 0xc020); // bf16 1.0, -2.5
    data.putShort((short) 0x3c00).putShort((short) 0x4248); // f16 1.0, 3.140625
    data.putLong(-100);
    write(p, header, data.array());
    try (SafetensorsFile f = SafetensorsFile.open(p)) {
      try (jswift.tensor.Tensor t = f.load("a", jswift.tensor.DType.F32, jswift.tensor.Device.CPU);
          jswift.tensor.Tensor h = f.load("b", jswift.tensor.DType.BF16, jswift.tensor.Device.CPU);
          jswift.tensor.Tensor l = f.load("c", jswift.tensor.DType.I64, jswift.tensor.Device.CPU)) {
        assertArrayEquals(new float[] {1.0f, -2.5f}, t.toFloatArray());  // bf16 on disk -> f32 (exact)
        assertArrayEquals(new float[] {1.0f, 3.140625f}, h.toFloatArray());  // f16 on disk -> bf16 (exact here)
        assertEquals(8, l.byteSize());
      }
      assertThrows(IOException.class, () -> f.load("c", jswift.tensor.DType.F32, jswift.tensor.Device.CPU));
      assertArrayEquals(new float[] {1.0f, -2.5f}, f.floats("a"));
      assertArrayEquals(new float[] {1.0f, 3.140625f}, f.floats("b"));
      assertArrayEquals(new long[] {-100}, f.longs("c"));
    }
  }

  @Test
  void truncatedFileNamesTheTensor(@TempDir Path dir) throws IOException {
    Path p = dir.resolve("t.safetensors");
    write(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", new byte[10]);
    IOException e = assertThrows(IOException.class, () -> SafetensorsFile.open(p));
    assertTrue(e.getMessage().contains("'w'") && e.getMessage().contains("truncated"), e.getMessage());
  }

  @Test
  void byteCountMustMatchShape(@TempDir Path dir) throws IOException {
    Path p = dir.resolve("t.safetensors");
    write(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,16]}}", new byte[16]);
    IOException e = assertThrows(IOException.class, () -> SafetensorsFile.open(p));
    assertTrue(e.getMessage().contains("needs 12"), e.getMessage());
  }

  @Test
  void garbageIsNotASafetensorsFile(@TempDir Path dir) throws IOException {
    Path p = dir.resolve("t.safetensors");
    Files.write(p, "hello world, not safetensors".getBytes(StandardCharsets.UTF_8));
    assertThrows(IOException.class, () -> SafetensorsFile.open(p));
  }

  static void write(Path p, String header, byte[] data) throws IOException {
    byte[] h = header.getBytes(StandardCharsets.UTF_8);
    ByteBuffer b = ByteBuffer.allocate(8 + h.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
    b.putLong(h.length).put(h).put(data);
    Files.write(p, b.array());
  }

  private static double[] toDoubles(float[] f) {
    double[] d = new double[f.length];
    for (int i = 0; i < f.length; i++) d[i] = f[i];
    return d;
  }
}
